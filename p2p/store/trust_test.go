package store

import (
	"bytes"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// trustStore writes a store at path with three trust records: a pinned
// contact, a blocked one and a verified one.
func trustStore(t *testing.T, path string) {
	t.Helper()
	s := mustOpen(t, path)
	defer s.Close()
	blocked := sampleContact("blocked")
	blocked.Blocked = true
	verified := sampleContact("verified")
	verified.Trust = TrustVerified
	for _, c := range []Contact{sampleContact("pinned"), blocked, verified} {
		mustPut(t, s, c)
	}
}

func contactKey(peerID string) []byte { return newSealer(testKey).recordKey(bucketContacts, peerID) }

// wantTrustChanged checks that Open refuses the store at path.
func wantTrustChanged(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path, testKey)
	if err == nil {
		s.Close()
	}
	if !errors.Is(err, ErrTrustChanged) {
		t.Fatalf("Open = %v, want ErrTrustChanged", err)
	}
}

// TestTrustRecordEdits: every single-record edit an attacker with the file
// (and without the key) can make to the trust records is caught by Open.
func TestTrustRecordEdits(t *testing.T) {
	tests := []struct {
		name string
		// before runs on the open store, after trustStore; it may return
		// raw values that edit uses.
		before func(t *testing.T, s Store) [][]byte
		edit   func(tx *bolt.Tx, saved [][]byte) error
	}{
		{"pin deleted", nil, func(tx *bolt.Tx, _ [][]byte) error {
			return tx.Bucket(bucketContacts).Delete(contactKey("pinned"))
		}},
		{"block deleted", nil, func(tx *bolt.Tx, _ [][]byte) error {
			return tx.Bucket(bucketContacts).Delete(contactKey("blocked"))
		}},
		{"block rolled back", func(t *testing.T, s Store) [][]byte {
			// The sealed record from before the block opens fine on its
			// own: the AEAD alone cannot tell it is old.
			c := mustGet(t, s, "pinned")
			old := rawValue(t, s.(*sealedStore), "pinned")
			c.Blocked = true
			mustPut(t, s, c)
			return [][]byte{old}
		}, func(tx *bolt.Tx, saved [][]byte) error {
			return tx.Bucket(bucketContacts).Put(contactKey("pinned"), saved[0])
		}},
		{"verified mark rolled back", func(t *testing.T, s Store) [][]byte {
			c := mustGet(t, s, "pinned")
			old := rawValue(t, s.(*sealedStore), "pinned")
			c.Trust = TrustVerified
			mustPut(t, s, c)
			return [][]byte{old}
		}, func(tx *bolt.Tx, saved [][]byte) error {
			return tx.Bucket(bucketContacts).Put(contactKey("pinned"), saved[0])
		}},
		{"deleted contact put back", func(t *testing.T, s Store) [][]byte {
			old := rawValue(t, s.(*sealedStore), "blocked")
			if err := s.DeleteContact("blocked"); err != nil {
				t.Fatal(err)
			}
			return [][]byte{old}
		}, func(tx *bolt.Tx, saved [][]byte) error {
			return tx.Bucket(bucketContacts).Put(contactKey("blocked"), saved[0])
		}},
		{"two records swapped", nil, func(tx *bolt.Tx, _ [][]byte) error {
			b := tx.Bucket(bucketContacts)
			a, v := bytes.Clone(b.Get(contactKey("pinned"))), bytes.Clone(b.Get(contactKey("verified")))
			if err := b.Put(contactKey("pinned"), v); err != nil {
				return err
			}
			return b.Put(contactKey("verified"), a)
		}},
		{"digest deleted", nil, func(tx *bolt.Tx, _ [][]byte) error {
			return tx.Bucket(bucketMeta).Delete(metaTrustKey)
		}},
		{"pin deleted, digest rolled back", func(t *testing.T, s Store) [][]byte {
			// The digest from before the last write, with that write
			// undone, still disagrees with the other records.
			var digest []byte
			s.(*sealedStore).kv.view(func(tx kvTx) error {
				raw, err := tx.get(bucketMeta, metaTrustKey)
				digest = bytes.Clone(raw)
				return err
			})
			c := sampleContact("late")
			mustPut(t, s, c)
			mustPut(t, s, mustGet(t, s, "verified")) // a later write
			return [][]byte{digest}
		}, func(tx *bolt.Tx, saved [][]byte) error {
			if err := tx.Bucket(bucketContacts).Delete(contactKey("late")); err != nil {
				return err
			}
			return tx.Bucket(bucketMeta).Put(metaTrustKey, saved[0])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			trustStore(t, path)
			var saved [][]byte
			if tt.before != nil {
				s := mustOpen(t, path)
				saved = tt.before(t, s)
				if _, err := s.Contacts(); err != nil {
					t.Fatalf("Contacts before the edit: %v", err)
				}
				s.Close()
			}
			mustOpen(t, path).Close() // the store was fine until the edit
			rawUpdate(t, path, func(tx *bolt.Tx) error { return tt.edit(tx, saved) })
			wantTrustChanged(t, path)
		})
	}
}

// TestTrustNormalUse: adding, changing and removing contacts through the
// API keeps the digest in step, across reopens.
func TestTrustNormalUse(t *testing.T) {
	path := tempPath(t)
	trustStore(t, path)
	for i, step := range []func(s Store){
		func(s Store) { mustPut(t, s, sampleContact("new")) },
		func(s Store) {
			c := mustGet(t, s, "blocked")
			c.Blocked = false
			mustPut(t, s, c)
		},
		func(s Store) {
			if err := s.DeleteContact("pinned"); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteContact("never there"); err != nil {
				t.Fatal(err)
			}
		},
		func(s Store) {
			for _, c := range []string{"blocked", "verified", "new"} {
				if err := s.DeleteContact(c); err != nil {
					t.Fatal(err)
				}
			}
		},
		func(s Store) { mustPut(t, s, sampleContact("pinned")) },
	} {
		s := mustOpen(t, path)
		step(s)
		if _, err := s.Contacts(); err != nil {
			t.Fatalf("step %d: Contacts: %v", i, err)
		}
		s.Close()
	}
	s := mustOpen(t, path)
	defer s.Close()
	if all, err := s.Contacts(); err != nil || len(all) != 1 || all[0].PeerID != "pinned" {
		t.Errorf("Contacts = %v, %v", all, err)
	}
}

// TestTrustCheckedOnRead: Contacts, which reads every record anyway, notices
// a record removed behind the open store's back (memory backend: the same
// code as the file).
func TestTrustCheckedOnRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		mustPut(t, s, sampleContact("other"))
		mustPut(t, s, sampleContact("victim"))
		if _, err := s.Contacts(); err != nil {
			t.Fatal(err)
		}
		err := s.kv.update(func(tx kvTx) error { return tx.delete(bucketContacts, contactKey("victim")) })
		if err != nil {
			t.Fatal(err)
		}
		all, err := s.Contacts()
		if !errors.Is(err, ErrTrustChanged) || len(all) != 1 {
			t.Errorf("Contacts after a removal = %v, %v; want the rest and ErrTrustChanged", all, err)
		}
	})
}
