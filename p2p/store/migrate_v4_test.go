package store

import (
	"errors"
	"maps"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// schemaV4 is the schema of the version 4 code: no received bucket, no
// trust digest.
var schemaV4 = schema{
	version:    4,
	buckets:    [][]byte{bucketContacts, bucketOutbox, bucketHistory, bucketIDs},
	migrations: map[uint32]migration{1: migrateV1, 2: migrateV2, 3: migrateV3},
}

// receiveV4 stores n incoming messages from peerID, numbered from first,
// as the version 4 code's Receive did (history record and ids entry, no
// index), in one transaction.
func receiveV4(t *testing.T, s *sealedStore, peerID string, first, n int) {
	t.Helper()
	err := s.update(func(tx sealedTx) error {
		for i := first; i < first+n; i++ {
			seq, err := nextSeq(tx)
			if err != nil {
				return err
			}
			m := Message{PeerID: peerID, ID: recvID(i), Text: "old text", SentAt: time.Unix(1, 0), Seq: seq}
			if err := s.putHistory(tx, m); err != nil {
				return err
			}
			if err := s.putIDEntry(tx, peerID, m.ID, idEntry{state: StateDelivered, seq: seq}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateV4 upgrades a version 4 store: the received index is built,
// a conversation over the bound keeps every message but dedupe entries
// for the newest maxReceivedPerPeer only, the
// trust digest covers the contacts, and dedupe and the trust check work on
// the result. The bound is a small stand-in (ring): the real one's 16384
// messages cost seconds under -race and test nothing more.
func TestMigrateV4(t *testing.T) {
	const over, maxReceivedPerPeer = 3, 64
	migrations := maps.Clone(currentSchema.migrations)
	migrations[4] = func(tx sealedTx) error { return buildReceived(tx, maxReceivedPerPeer) }
	current := schema{version: schemaVersion, buckets: currentSchema.buckets, migrations: migrations}
	path := tempPath(t)
	s, err := openBolt(path, testKey, time.Second, schemaV4)
	if err != nil {
		t.Fatal(err)
	}
	blocked := sampleContact("p")
	blocked.Blocked = true
	for _, c := range []Contact{blocked, sampleContact("q")} {
		mustPut(t, s, c)
	}
	if s.trust != nil {
		t.Fatal("a version 4 store keeps a trust digest")
	}
	out, err := s.Queue(outMessage("p", 1))
	if err != nil {
		t.Fatal(err)
	}
	receiveV4(t, s, "p", 0, maxReceivedPerPeer+over)
	receiveV4(t, s, "q", 0, 2)
	s.Close()

	s, err = openBolt(path, testKey, time.Second, current)
	if err != nil {
		t.Fatal(err)
	}
	s.recvRing = maxReceivedPerPeer
	s.view(func(tx sealedTx) error {
		if v, err := getVersion(tx); v != schemaVersion || err != nil {
			t.Errorf("version %d, %v", v, err)
		}
		for peer, want := range map[string]uint64{"p": maxReceivedPerPeer, "q": 2} {
			if n, err := getRecvCount(tx, s.peerPrefix(bucketRecv, peer)); n != want || err != nil {
				t.Errorf("received count of %s = %d, %v; want %d", peer, n, err, want)
			}
		}
		return nil
	})
	if all, err := s.Contacts(); err != nil || len(all) != 2 || !all[0].Blocked {
		t.Errorf("Contacts = %+v, %v", all, err)
	}
	h, err := s.History("p", 0)
	if err != nil || len(h) != maxReceivedPerPeer+over+1 || h[0].ID != out.ID || h[1].ID != recvID(0) {
		t.Fatalf("History(p) = %d messages, %v", len(h), err)
	}
	for _, i := range []int{over, maxReceivedPerPeer + over - 1} {
		if _, fresh, err := s.Receive(Message{PeerID: "p", ID: recvID(i), Text: "again"}); fresh || err != nil {
			t.Errorf("Receive(kept %d) = %v, %v; want a duplicate", i, fresh, err)
		}
	}
	recs, _ := bucketBytes(t, s)
	receiveN(t, s, "p", 1<<20, 1<<20+1) // one more: one older dedupe entry leaves
	if recs2, _ := bucketBytes(t, s); recs2[string(bucketIDs)] != recs[string(bucketIDs)] ||
		recs2[string(bucketHistory)] != recs[string(bucketHistory)]+1 {
		t.Errorf("ids/history records %d/%d after one more message, were %d/%d",
			recs2[string(bucketIDs)], recs2[string(bucketHistory)], recs[string(bucketIDs)], recs[string(bucketHistory)])
	}
	if hq, err := s.History("q", 0); err != nil || len(hq) != 2 {
		t.Errorf("History(q) = %d, %v", len(hq), err)
	}
	s.Close()

	checkReopenNoop(t, path)

	// The migrated trust records are bound like new ones.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketContacts).Delete(contactKey("p"))
	})
	if _, err := Open(path, testKey); !errors.Is(err, ErrTrustChanged) {
		t.Errorf("Open after the migrated block was deleted: %v, want ErrTrustChanged", err)
	}
}
