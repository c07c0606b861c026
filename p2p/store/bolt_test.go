package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func tempPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "store.db")
}

func mustOpen(t *testing.T, path string) Store {
	t.Helper()
	s, err := Open(path, testKey)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// rawUpdate edits the closed store file with bbolt directly, as an attacker
// with the disk (and no key) could.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	defer s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("store file mode %v, want 0600", perm)
	}
}

func TestOpenMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "store.db")
	if s, err := Open(path, testKey); err == nil {
		s.Close()
		t.Fatal("Open in a missing directory succeeded")
	}
}

func TestReopenKeepsContacts(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	mustPut(t, s, sampleContact("p"))
	s.Close()
	s = mustOpen(t, path)
	defer s.Close()
	mustGet(t, s, "p")
}

func TestOpenInUse(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	defer s.Close()
	// bbolt's flock is per open file, so a second Open in this process
	// contends exactly as a second process would.
	_, err := openBolt(path, testKey, 50*time.Millisecond, currentSchema)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
}

func TestOpenWrongKey(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	mustPut(t, s, sampleContact("p"))
	s.Close()
	before, _ := os.ReadFile(path)
	wrong := testKey
	wrong[31] ^= 1
	if s, err := Open(path, wrong); !errors.Is(err, ErrWrongKey) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open with wrong key: %v, want ErrWrongKey", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed Open changed the file")
	}
	s = mustOpen(t, path)
	defer s.Close()
	mustGet(t, s, "p")
}

func TestTamperFile(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	mustPut(t, s, sampleContact("victim"))
	mustPut(t, s, sampleContact("other"))
	victimKey := s.(*sealedStore).s.recordKey(bucketContacts, "victim")
	s.Close()

	for _, pos := range []int{0, nonceSize, 40, -1} {
		rawUpdate(t, path, func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketContacts)
			v := bytes.Clone(b.Get(victimKey))
			if pos < 0 {
				pos = len(v) - 1
			}
			v[pos] ^= 0x80
			return b.Put(victimKey, v)
		})
		// A damaged trust record stops Open (trust.go); the record
		// itself reads as ErrCorrupt (TestTamperValue).
		if _, err := Open(path, testKey); !errors.Is(err, ErrTrustChanged) {
			t.Fatalf("Open with a damaged contact: %v, want ErrTrustChanged", err)
		}
	}
}

func TestFileRecordMoved(t *testing.T) {
	path := tempPath(t)
	s := mustOpen(t, path)
	mustPut(t, s, sampleContact("other"))
	otherKey := s.(*sealedStore).s.recordKey(bucketContacts, "other")
	victimKey := s.(*sealedStore).s.recordKey(bucketContacts, "victim")
	s.Close()

	// A record copied under another record key fails there.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContacts)
		return b.Put(victimKey, bytes.Clone(b.Get(otherKey)))
	})
	if _, err := Open(path, testKey); !errors.Is(err, ErrTrustChanged) {
		t.Fatalf("Open with a copied contact: %v, want ErrTrustChanged", err)
	}

	// A contact record moved into the meta bucket under the schema key
	// does not pass for the schema record.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		v := bytes.Clone(tx.Bucket(bucketContacts).Get(otherKey))
		return tx.Bucket(bucketMeta).Put(metaSchemaKey, v)
	})
	if _, err := Open(path, testKey); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with a moved meta record: %v, want ErrWrongKey", err)
	}
}

func TestOpenDamagedLayout(t *testing.T) {
	tests := []struct {
		name string
		edit func(tx *bolt.Tx) error
		want error
	}{
		{"meta bucket gone", func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketMeta) }, errNoMeta},
		{"schema record gone", func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(metaSchemaKey) }, errNoMeta},
		{"schema record flipped", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketMeta)
			v := bytes.Clone(b.Get(metaSchemaKey))
			v[len(v)/2] ^= 1
			return b.Put(metaSchemaKey, v)
		}, ErrWrongKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			s := mustOpen(t, path)
			mustPut(t, s, sampleContact("p"))
			s.Close()
			rawUpdate(t, path, tt.edit)
			if _, err := Open(path, testKey); !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOpenNotAStore(t *testing.T) {
	path := tempPath(t)
	junk := bytes.Repeat([]byte("not a bbolt file "), 1000)
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, testKey); err == nil {
		s.Close()
		t.Fatal("Open of a junk file succeeded")
	}
}

// writeVersion replaces the sealed schema version in a closed store file.
func writeVersion(t *testing.T, path string, v uint32) {
	t.Helper()
	sl := newSealer(testKey)
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		pt := []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
		return tx.Bucket(bucketMeta).Put(metaSchemaKey, sl.seal(bucketMeta, metaSchemaKey, pt))
	})
}

func TestOpenNewerSchemaRefused(t *testing.T) {
	path := tempPath(t)
	mustOpen(t, path).Close()
	writeVersion(t, path, schemaVersion+1)
	if _, err := Open(path, testKey); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	writeVersion(t, path, 0)
	if _, err := Open(path, testKey); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of schema 0: %v, want ErrCorrupt", err)
	}
}

// TestMigration drives the migration hook with a fake next version that
// adds a bucket and rewrites every contact's name, as later layouts will.
func TestMigration(t *testing.T) {
	bucketExtra := []byte("extra")
	calls := 0
	v2 := schema{
		version: schemaVersion + 1,
		buckets: append(slices.Clone(currentSchema.buckets), bucketExtra),
		migrations: map[uint32]migration{schemaVersion: func(tx sealedTx) error {
			calls++
			if !tx.hasBucket(bucketExtra) {
				return errors.New("new bucket not created before migration")
			}
			// Collect first, then write: forEach forbids writes.
			var keys, pts [][]byte
			err := tx.forEach(bucketContacts, func(k, v []byte) error {
				pt, err := tx.s.open(bucketContacts, k, v)
				keys, pts = append(keys, bytes.Clone(k)), append(pts, pt)
				return err
			})
			if err != nil {
				return err
			}
			for i, k := range keys {
				c, err := decodeContact(pts[i])
				if err != nil {
					return err
				}
				c.Name = "migrated " + c.Name
				pt, _ := encodeContact(c)
				if err := tx.putSealed(bucketContacts, k, pt); err != nil {
					return err
				}
			}
			return tx.putSealed(bucketExtra, []byte("marker"), []byte("v2"))
		}},
	}

	path := tempPath(t)
	s := mustOpen(t, path)
	mustPut(t, s, sampleContact("p"))
	s.Close()

	s2, err := openBolt(path, testKey, time.Second, v2)
	if err != nil {
		t.Fatalf("open with migration: %v", err)
	}
	if calls != 1 {
		t.Errorf("migration ran %d times, want 1", calls)
	}
	if c := mustGet(t, s2, "p"); c.Name != "migrated alice p" {
		t.Errorf("migrated name %q", c.Name)
	}
	s2.view(func(tx sealedTx) error {
		if pt, ok, err := tx.getSealed(bucketExtra, []byte("marker")); string(pt) != "v2" || !ok || err != nil {
			t.Errorf("marker = %q, %v, %v", pt, ok, err)
		}
		return nil
	})
	s2.Close()

	// Reopening at the new version runs nothing; this code refuses it.
	s2, err = openBolt(path, testKey, time.Second, v2)
	if err != nil || calls != 1 {
		t.Fatalf("reopen at v2: %v, %d migration calls", err, calls)
	}
	s2.Close()
	if _, err := Open(path, testKey); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("v1 Open of a migrated store: %v, want ErrSchemaTooNew", err)
	}
}

func TestMigrationFailureLeavesStore(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name       string
		migrations map[uint32]migration
	}{
		{"failing", map[uint32]migration{schemaVersion: func(tx sealedTx) error {
			tx.putSealed(bucketContacts, []byte("junk"), []byte("x"))
			return boom
		}}},
		{"missing", map[uint32]migration{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tempPath(t)
			s := mustOpen(t, path)
			mustPut(t, s, sampleContact("p"))
			s.Close()
			before, _ := os.ReadFile(path)
			sch := schema{version: schemaVersion + 1, buckets: currentSchema.buckets, migrations: tt.migrations}
			if _, err := openBolt(path, testKey, time.Second, sch); err == nil {
				t.Fatal("open with a broken migration succeeded")
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Error("a failed migration changed the file")
			}
			s = mustOpen(t, path)
			defer s.Close()
			if all, err := s.Contacts(); err != nil || len(all) != 1 {
				t.Errorf("after failed migration: %v, %v", all, err)
			}
		})
	}
}

func TestNoPlaintextOnDisk(t *testing.T) {
	const (
		name   = "Zanzibar-Quokka-7731"
		peerID = "12D3KooWDistinctivePeerIDq7Xv9"
		addr   = "/ip4/127.0.0.1/tcp/47311"
	)
	path := tempPath(t)
	s := mustOpen(t, path)
	c := sampleContact(peerID)
	c.Name, c.Addrs = name, []string{addr}
	mustPut(t, s, c)
	// Deleted and rewritten records must not leave plaintext on free
	// pages either.
	mustPut(t, s, c)
	s.DeleteContact(peerID)
	mustPut(t, s, c)
	s.Close()

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{name, peerID, addr, "Zanzibar", "Distinctive", "47311"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("store file contains %q in plaintext", secret)
		}
	}
	if fp := c.Fingerprint; bytes.Contains(raw, fp[:]) {
		t.Error("store file contains the fingerprint in plaintext")
	}
}
