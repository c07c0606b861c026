package store

import (
	"errors"
	"testing"
	"time"
)

// schemaV6 is the schema of the version 6 code: none of version 7's
// buckets.
var schemaV6 = schema{
	version:    6,
	buckets:    [][]byte{bucketContacts, bucketOutbox, bucketHistory, bucketIDs, bucketRecv},
	migrations: map[uint32]migration{1: migrateV1, 2: migrateV2, 3: migrateV3, 4: migrateV4, 5: migrateV5},
}

// TestMigrateV6 reopens a real version 6 store: its contacts and outbox
// come back whole, version 7's buckets exist and take records, the trust
// digest still checks, and the version 6 code then refuses the store as
// too new rather than misreading a deposited state.
func TestMigrateV6(t *testing.T) {
	path := tempPath(t)
	s, err := openBolt(path, testKey, time.Second, schemaV6)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{bucketMailbox, bucketTickets, bucketIssued, bucketFiles} {
		if s.view(func(tx sealedTx) error {
			if tx.hasBucket(b) {
				t.Errorf("a version 6 store has bucket %s", b)
			}
			return nil
		}) != nil {
			t.Fatal("view")
		}
	}
	mustPut(t, s, sampleContact("p"))
	out, err := s.Queue(outMessage("p", 1))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = mustOpen(t, path).(*sealedStore)
	s.view(func(tx sealedTx) error {
		if v, err := getVersion(tx); v != schemaVersion || schemaVersion != 7 || err != nil {
			t.Errorf("version %d (code %d), %v", v, schemaVersion, err)
		}
		for _, b := range [][]byte{bucketMailbox, bucketTickets, bucketIssued, bucketFiles} {
			if !tx.hasBucket(b) {
				t.Errorf("bucket %s missing after the migration", b)
			}
		}
		return nil
	})
	if got := mustGet(t, s, "p"); got.PeerID != "p" {
		t.Errorf("contact after migration = %+v", got)
	}
	if h, err := s.History("p", 0); err != nil || len(h) != 1 || h[0].ID != out.ID {
		t.Errorf("History(p) = %+v, %v", h, err)
	}
	s.Close()
	checkReopenNoop(t, path)
	if _, err := openBolt(path, testKey, time.Second, schemaV6); !errors.Is(err, ErrSchemaTooNew) {
		t.Errorf("version 6 code opening a version 7 store: %v, want ErrSchemaTooNew", err)
	}
}
