package store

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"
)

// schemaV5 is the schema of the version 5 code: contact encoding v2, no
// own name.
var schemaV5 = schema{
	version:    5,
	buckets:    currentSchema.buckets,
	migrations: map[uint32]migration{1: migrateV1, 2: migrateV2, 3: migrateV3, 4: migrateV4},
}

// putContactV2 writes c as the schema 4 and 5 code's PutContact did, trust
// digest included.
func putContactV2(t *testing.T, s *sealedStore, c Contact) {
	t.Helper()
	b := encodeContactV2(t, c)
	err := s.update(func(tx sealedTx) error {
		return tx.putContactRecord(s.s.recordKey(bucketContacts, c.PeerID), b)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateV5 reopens a real version 5 store: every contact comes back
// whole with no label in encoding v3, the trust digest still checks, the
// contacts take labels, and a second open writes nothing.
func TestMigrateV5(t *testing.T) {
	path := tempPath(t)
	s, err := openBolt(path, testKey, time.Second, schemaV5)
	if err != nil {
		t.Fatal(err)
	}
	if s.trust == nil {
		t.Fatal("a version 5 store keeps a trust digest")
	}
	full := sampleContact("q")
	full.Trust, full.Blocked, full.Identity = TrustVerified, true, []byte("identity")
	want := []Contact{sampleContact("p"), full}
	for _, c := range want {
		putContactV2(t, s, c)
	}
	if _, err := s.Queue(outMessage("p", 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = mustOpen(t, path).(*sealedStore)
	got, err := s.Contacts()
	if err != nil || len(got) != 2 {
		t.Fatalf("Contacts = %d, %v", len(got), err)
	}
	for i, c := range got {
		if !reflect.DeepEqual(c, stored(want[i])) {
			t.Errorf("contact %d = %+v\nwant %+v", i, c, stored(want[i]))
		}
	}
	s.view(func(tx sealedTx) error {
		if v, err := getVersion(tx); v != schemaVersion || err != nil {
			t.Errorf("version %d, %v", v, err)
		}
		return tx.forEach(bucketContacts, func(k, v []byte) error {
			if pt, err := s.s.open(bucketContacts, k, v); err != nil || pt[0] != contactEncodingV3 {
				t.Errorf("contact record %x: %v, not v3", k, err)
			}
			return nil
		})
	})
	if _, ok, err := s.OwnName(); ok || err != nil {
		t.Errorf("OwnName after migration = %v, %v; want none", ok, err)
	}
	c := mustGet(t, s, "p")
	c.Label = "my alice"
	mustPut(t, s, c)
	s.Close()
	checkReopenNoop(t, path)
	s = mustOpen(t, path).(*sealedStore)
	defer s.Close()
	if got := mustGet(t, s, "p"); got.Label != "my alice" {
		t.Errorf("label after reopen = %q", got.Label)
	}
}

// TestOwnName saves the own name, refuses bad ones, and keeps it across a
// reopen.
func TestOwnName(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	if _, ok, err := s.OwnName(); ok || err != nil {
		t.Fatalf("OwnName on a new store = %v, %v", ok, err)
	}
	for _, bad := range []string{"", string(bytes.Repeat([]byte("x"), maxOwnName+1)), "\xff"} {
		if err := s.SetOwnName(bad); !errors.Is(err, ErrInvalidContact) {
			t.Errorf("SetOwnName(%q) = %v", bad, err)
		}
	}
	for _, name := range []string{"alice", "Zoë"} {
		if err := s.SetOwnName(name); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = mustOpen(t, path)
	defer s.Close()
	if name, ok, err := s.OwnName(); name != "Zoë" || !ok || err != nil {
		t.Errorf("OwnName after reopen = %q, %v, %v", name, ok, err)
	}
}

// TestForget removes one peer's contact and whole conversation (history,
// ids entries, received index, outbox) in both backends, leaves the other
// peer's alone, keeps the trust digest whole (a reopen passes), and can
// keep a bare contact in place of the old one.
func TestForget(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		defer s.Close()
		for _, p := range []string{"p", "q"} {
			mustPut(t, s, sampleContact(p))
			if _, err := s.Queue(outMessage(p, 1)); err != nil {
				t.Fatal(err)
			}
			receiveN(t, s, p, 0, 3)
		}
		before, _ := bucketBytes(t, s)
		if err := s.Forget("p", nil); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.Contact("p"); ok || err != nil {
			t.Errorf("Contact(p) after Forget = %v, %v", ok, err)
		}
		if h, err := s.History("p", 0); len(h) != 0 || err != nil {
			t.Errorf("History(p) after Forget = %d, %v", len(h), err)
		}
		if peers, err := s.OutboxPeers(); !reflect.DeepEqual(peers, []string{"q"}) || err != nil {
			t.Errorf("OutboxPeers after Forget = %v, %v", peers, err)
		}
		after, _ := bucketBytes(t, s)
		for b, n := range before {
			if after[b]*2 != n {
				t.Errorf("bucket %s: %d records, was %d; want half", b, after[b], n)
			}
		}
		if h, err := s.History("q", 0); len(h) != 4 || err != nil {
			t.Errorf("History(q) = %d, %v", len(h), err)
		}
		if all, err := s.Contacts(); len(all) != 1 || err != nil {
			t.Errorf("Contacts = %d, %v (the trust digest must follow the delete)", len(all), err)
		}
		// A message received again after forgetting is new: its ids entry
		// went with the conversation.
		if _, fresh, err := s.Receive(Message{PeerID: "p", ID: recvID(0), Text: "again", SentAt: time.Unix(1, 0)}); !fresh || err != nil {
			t.Errorf("Receive after Forget = %v, %v", fresh, err)
		}

		keep := Contact{PeerID: "q", Trust: TrustNew, Blocked: true}
		if err := s.Forget("q", &keep); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, "q"); !reflect.DeepEqual(got, stored(keep)) {
			t.Errorf("kept contact = %+v", got)
		}
		if h, err := s.History("q", 0); len(h) != 0 || err != nil {
			t.Errorf("History(q) after Forget = %d, %v", len(h), err)
		}
		if err := s.Forget("nobody", nil); err != nil {
			t.Errorf("Forget(unknown) = %v", err)
		}
		if err := s.Forget("q", &Contact{PeerID: "other", Trust: TrustNew}); !errors.Is(err, ErrInvalidContact) {
			t.Errorf("Forget with another peer's contact = %v", err)
		}
	})
}

// TestForgetReopen checks on disk that Forget keeps the trust digest in
// step: the store opens again afterwards.
func TestForgetReopen(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	mustPut(t, s, sampleContact("p"))
	mustPut(t, s, sampleContact("q"))
	if err := s.Forget("p", nil); err != nil {
		t.Fatal(err)
	}
	keep := Contact{PeerID: "q", Trust: TrustNew, Blocked: true}
	if err := s.Forget("q", &keep); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = mustOpen(t, path)
	defer s.Close()
	if all, err := s.Contacts(); len(all) != 1 || err != nil || !all[0].Blocked {
		t.Errorf("Contacts after reopen = %+v, %v", all, err)
	}
}
