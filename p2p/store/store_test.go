package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/securechat/e2e"
)

var testKey = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

// backends lists every Store implementation; the table tests below run
// against each, so the sealing layer is proved once per backend.
var backends = []struct {
	name string
	open func(t *testing.T) *sealedStore
}{
	{"bolt", func(t *testing.T) *sealedStore {
		t.Helper()
		s, err := openBolt(filepath.Join(t.TempDir(), "store.db"), testKey, time.Second, currentSchema)
		if err != nil {
			t.Fatalf("openBolt: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"memory", func(t *testing.T) *sealedStore {
		t.Helper()
		s := OpenMemory(testKey).(*sealedStore)
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

func forEachBackend(t *testing.T, fn func(t *testing.T, s *sealedStore)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open(t)) })
	}
}

func fp(b byte) e2e.Fingerprint {
	var f e2e.Fingerprint
	for i := range f {
		f[i] = b + byte(i)
	}
	return f
}

func sampleContact(peerID string) Contact {
	return Contact{
		PeerID:      peerID,
		Fingerprint: fp(0x10),
		Name:        "alice " + peerID,
		Trust:       TrustPinned,
		Addrs:       []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"},
		FirstSeen:   time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
		LastSeen:    time.Date(2026, 11, 27, 6, 0, 0, 999999999, time.UTC),
	}
}

// stored is what c looks like after a round trip: times in UTC without a
// monotonic reading, and an empty address list as nil.
func stored(c Contact) Contact {
	c.FirstSeen = c.FirstSeen.Round(0).UTC()
	c.LastSeen = c.LastSeen.Round(0).UTC()
	if len(c.Addrs) == 0 {
		c.Addrs = nil
	}
	return c
}

func mustPut(t *testing.T, s Store, c Contact) {
	t.Helper()
	if err := s.PutContact(c); err != nil {
		t.Fatalf("PutContact(%q): %v", c.PeerID, err)
	}
}

func mustGet(t *testing.T, s Store, peerID string) Contact {
	t.Helper()
	c, ok, err := s.Contact(peerID)
	if err != nil || !ok {
		t.Fatalf("Contact(%q) = ok %v, err %v; want found", peerID, ok, err)
	}
	return c
}

func TestRoundTrip(t *testing.T) {
	full := sampleContact("12D3KooWFull")
	full.PendingFingerprint = fp(0x80)
	full.Blocked = true
	full.Trust = TrustVerified
	local := sampleContact("12D3KooWLocal")
	local.FirstSeen = time.Now() // local zone and a monotonic reading
	local.LastSeen = time.Date(2030, 5, 5, 5, 5, 5, 5, time.FixedZone("X", 3600))
	tests := []struct {
		name string
		c    Contact
	}{
		{"minimal", Contact{PeerID: "p", Trust: TrustNew}},
		{"sample", sampleContact("12D3KooWSample")},
		{"full", full},
		{"local times", local},
		{"empty addrs", Contact{PeerID: "e", Trust: TrustNew, Addrs: []string{}}},
		{"empty addr string", Contact{PeerID: "e2", Trust: TrustNew, Addrs: []string{""}}},
		{"unicode name", Contact{PeerID: "u", Trust: TrustPinned, Name: "Zoë 🦊\x00\xff"}},
		{"max name", Contact{PeerID: "m", Trust: TrustNew, Name: strings.Repeat("n", maxField)}},
		{"many addrs", Contact{PeerID: "a", Trust: TrustNew, Addrs: strings.Split(strings.Repeat("/x,", 1000), ",")}},
	}
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				mustPut(t, s, tt.c)
				got := mustGet(t, s, tt.c.PeerID)
				if want := stored(tt.c); !reflect.DeepEqual(got, want) {
					t.Errorf("round trip:\n got  %+v\n want %+v", got, want)
				}
				if !got.FirstSeen.Equal(tt.c.FirstSeen) || !got.LastSeen.Equal(tt.c.LastSeen) {
					t.Errorf("times changed: %v %v", got.FirstSeen, got.LastSeen)
				}
			})
		}
		if _, ok, err := s.Contact("absent"); ok || err != nil {
			t.Errorf("Contact(absent) = %v, %v; want not found", ok, err)
		}
		if _, ok, err := s.Contact(""); ok || err != nil {
			t.Errorf("Contact(\"\") = %v, %v; want not found", ok, err)
		}
	})
}

func TestUpdate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		c := sampleContact("peer")
		mustPut(t, s, c)
		c.Name = "renamed"
		c.Trust = TrustVerified
		c.Addrs = nil
		c.PendingFingerprint = fp(0x40)
		mustPut(t, s, c)
		if got := mustGet(t, s, "peer"); !reflect.DeepEqual(got, stored(c)) {
			t.Errorf("after update got %+v, want %+v", got, stored(c))
		}
		all, err := s.Contacts()
		if err != nil || len(all) != 1 {
			t.Errorf("Contacts() = %d contacts, %v; want 1", len(all), err)
		}
	})
}

func TestDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		mustPut(t, s, sampleContact("a"))
		mustPut(t, s, sampleContact("b"))
		for _, id := range []string{"a", "a", "never", ""} {
			if err := s.DeleteContact(id); err != nil {
				t.Errorf("DeleteContact(%q): %v", id, err)
			}
		}
		if _, ok, err := s.Contact("a"); ok || err != nil {
			t.Errorf("deleted contact: ok %v, err %v", ok, err)
		}
		mustGet(t, s, "b")
	})
}

func TestContactsSorted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		all, err := s.Contacts()
		if err != nil || len(all) != 0 {
			t.Fatalf("empty store: Contacts() = %v, %v", all, err)
		}
		ids := []string{"m", "b", "z", "a", "12D3KooWx", "QmY", "aa"}
		for _, id := range ids {
			mustPut(t, s, sampleContact(id))
		}
		all, err = s.Contacts()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range all {
			got = append(got, c.PeerID)
		}
		want := []string{"12D3KooWx", "QmY", "a", "aa", "b", "m", "z"}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Contacts() order %v, want %v", got, want)
		}
	})
}

func TestPutContactInvalid(t *testing.T) {
	tests := []struct {
		name string
		c    Contact
	}{
		{"empty peer ID", Contact{Trust: TrustNew}},
		{"empty trust", Contact{PeerID: "p"}},
		{"unknown trust", Contact{PeerID: "p", Trust: "trusted"}},
		{"long name", Contact{PeerID: "p", Trust: TrustNew, Name: strings.Repeat("n", maxField+1)}},
		{"long peer ID", Contact{PeerID: strings.Repeat("p", maxField+1), Trust: TrustNew}},
		{"long addr", Contact{PeerID: "p", Trust: TrustNew, Addrs: []string{strings.Repeat("a", maxField+1)}}},
		{"too many addrs", Contact{PeerID: "p", Trust: TrustNew, Addrs: make([]string, maxField+1)}},
	}
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := s.PutContact(tt.c); !errors.Is(err, ErrInvalidContact) {
					t.Errorf("PutContact = %v, want ErrInvalidContact", err)
				}
			})
		}
		if all, err := s.Contacts(); err != nil || len(all) != 0 {
			t.Errorf("invalid contacts were stored: %v, %v", all, err)
		}
	})
}

// rawValue returns a copy of the stored (sealed) value of peerID's record.
func rawValue(t *testing.T, s *sealedStore, peerID string) []byte {
	t.Helper()
	var v []byte
	err := s.kv.view(func(tx kvTx) error {
		raw, err := tx.get(bucketContacts, s.s.recordKey(bucketContacts, peerID))
		v = append([]byte(nil), raw...)
		return err
	})
	if err != nil || v == nil {
		t.Fatalf("raw value of %q: %v, %v", peerID, v, err)
	}
	return v
}

func putRaw(t *testing.T, s *sealedStore, peerID string, v []byte) {
	t.Helper()
	err := s.kv.update(func(tx kvTx) error {
		return tx.put(bucketContacts, s.s.recordKey(bucketContacts, peerID), v)
	})
	if err != nil {
		t.Fatalf("put raw: %v", err)
	}
}

// wantCorrupt checks that peerID's record fails with ErrCorrupt while the
// "other" contact still reads, alone and in Contacts.
func wantCorrupt(t *testing.T, s Store, peerID string) {
	t.Helper()
	if c, ok, err := s.Contact(peerID); !errors.Is(err, ErrCorrupt) || ok || !reflect.DeepEqual(c, Contact{}) {
		t.Fatalf("Contact(%q) = %v, %v, %v; want ErrCorrupt", peerID, c, ok, err)
	}
	mustGet(t, s, "other")
	all, err := s.Contacts()
	if !errors.Is(err, ErrCorrupt) || len(all) != 1 || all[0].PeerID != "other" {
		t.Fatalf("Contacts() = %v, %v; want [other] and ErrCorrupt", all, err)
	}
}

func TestTamperValue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		mustPut(t, s, sampleContact("victim"))
		mustPut(t, s, sampleContact("other"))
		orig := rawValue(t, s, "victim")
		for i := range orig {
			v := append([]byte(nil), orig...)
			v[i] ^= 1 << (i % 8)
			putRaw(t, s, "victim", v)
			wantCorrupt(t, s, "victim")
		}
		cuts := map[string][]byte{
			"empty":          {},
			"one byte":       orig[:1],
			"nonce only":     orig[:nonceSize],
			"short of tag":   orig[:nonceSize+15],
			"last byte gone": orig[:len(orig)-1],
			"extra byte":     append(append([]byte(nil), orig...), 0),
		}
		for name, v := range cuts {
			t.Run(name, func(t *testing.T) {
				putRaw(t, s, "victim", v)
				wantCorrupt(t, s, "victim")
			})
		}
		putRaw(t, s, "victim", orig)
		mustGet(t, s, "victim")
	})
}

func TestRecordSwap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		mustPut(t, s, sampleContact("alice"))
		mustPut(t, s, sampleContact("mallory"))
		mustPut(t, s, sampleContact("other"))
		// Mallory's record copied over Alice's: it authenticates for
		// Mallory's key only.
		putRaw(t, s, "alice", rawValue(t, s, "mallory"))
		if _, _, err := s.Contact("alice"); !errors.Is(err, ErrCorrupt) {
			t.Errorf("swapped record: err %v, want ErrCorrupt", err)
		}
		mustGet(t, s, "mallory")
		s.DeleteContact("mallory")
		wantCorrupt(t, s, "alice")
	})
}

func TestSealBindsPlace(t *testing.T) {
	s := newSealer(testKey)
	key := s.recordKey(bucketContacts, "p")
	sealed := s.seal(bucketContacts, key, []byte("secret"))
	if pt, err := s.open(bucketContacts, key, sealed); err != nil || string(pt) != "secret" {
		t.Fatalf("open = %q, %v", pt, err)
	}
	// The record key check in decodeContactAt would also catch a swapped
	// contact, so the AEAD binding is tested here on its own.
	if _, err := s.open(bucketContacts, s.recordKey(bucketContacts, "q"), sealed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("open under another record key: %v, want ErrCorrupt", err)
	}
	if _, err := s.open(bucketMeta, key, sealed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("open in another bucket: %v, want ErrCorrupt", err)
	}
	if _, err := newSealer([32]byte{}).open(bucketContacts, key, sealed); !errors.Is(err, ErrCorrupt) {
		t.Errorf("open under another key: %v, want ErrCorrupt", err)
	}
	if string(ad([]byte("ab"), []byte("c"))) == string(ad([]byte("a"), []byte("bc"))) {
		t.Error("associated data is ambiguous")
	}
	if string(s.recordKey([]byte("ab"), "c")) == string(s.recordKey([]byte("a"), "bc")) {
		t.Error("record keys are ambiguous across buckets")
	}
	if string(sealed[:nonceSize]) == string(s.seal(bucketContacts, key, []byte("secret"))[:nonceSize]) {
		t.Error("nonce repeated")
	}
}

func TestClosed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		mustPut(t, s, sampleContact("p"))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Contact("p"); !errors.Is(err, ErrClosed) {
			t.Errorf("Contact after Close: %v", err)
		}
		if err := s.PutContact(sampleContact("q")); !errors.Is(err, ErrClosed) {
			t.Errorf("PutContact after Close: %v", err)
		}
		if _, err := s.Contacts(); !errors.Is(err, ErrClosed) {
			t.Errorf("Contacts after Close: %v", err)
		}
		if err := s.DeleteContact("p"); !errors.Is(err, ErrClosed) {
			t.Errorf("DeleteContact after Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestConcurrent(t *testing.T) {
	const workers, rounds = 4, 20
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				errs <- func() error {
					for i := range rounds {
						id := fmt.Sprintf("w%d-%d", w, i)
						if err := s.PutContact(sampleContact(id)); err != nil {
							return err
						}
						if _, ok, err := s.Contact(id); err != nil || !ok {
							return fmt.Errorf("Contact(%s): %v %v", id, ok, err)
						}
						if _, err := s.Contacts(); err != nil {
							return err
						}
						if i%2 == 1 {
							if err := s.DeleteContact(id); err != nil {
								return err
							}
						}
					}
					return nil
				}()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
		all, err := s.Contacts()
		if err != nil || len(all) != workers*rounds/2 {
			t.Errorf("Contacts() = %d, %v; want %d", len(all), err, workers*rounds/2)
		}
	})
}

func TestMemoryRollback(t *testing.T) {
	m := newMemKV()
	tx := func(fn func(kvTx) error) error { return m.update(fn) }
	if err := tx(func(t kvTx) error { return t.createBucket([]byte("b")) }); err != nil {
		t.Fatal(err)
	}
	tx(func(t kvTx) error { return t.put([]byte("b"), []byte("k"), []byte("v1")) })
	boom := errors.New("boom")
	err := tx(func(t kvTx) error {
		t.put([]byte("b"), []byte("k"), []byte("v2"))
		t.put([]byte("b"), []byte("new"), []byte("x"))
		t.delete([]byte("b"), []byte("k"))
		t.createBucket([]byte("c"))
		return boom
	})
	if err != boom {
		t.Fatalf("update = %v", err)
	}
	func() {
		defer func() { recover() }()
		tx(func(t kvTx) error {
			t.put([]byte("b"), []byte("k"), []byte("v3"))
			panic("boom")
		})
	}()
	m.view(func(tx kvTx) error {
		if v, _ := tx.get([]byte("b"), []byte("k")); string(v) != "v1" {
			t.Errorf("k = %q after rollback, want v1", v)
		}
		if v, _ := tx.get([]byte("b"), []byte("new")); v != nil {
			t.Errorf("new = %q after rollback", v)
		}
		if tx.hasBucket([]byte("c")) {
			t.Error("bucket c survived rollback")
		}
		if err := tx.put([]byte("b"), []byte("k"), nil); err == nil {
			t.Error("put in a view transaction succeeded")
		}
		return nil
	})
}
