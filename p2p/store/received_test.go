package store

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// recvID is the message ID of the i-th message received in these tests.
func recvID(i int) [MessageIDLen]byte {
	var id [MessageIDLen]byte
	id[0] = 0xEE
	binary.BigEndian.PutUint64(id[8:], uint64(i))
	return id
}

func receiveN(t *testing.T, s Store, peerID string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		m := Message{PeerID: peerID, ID: recvID(i), Text: "same size text", SentAt: time.Unix(1, 0)}
		if _, fresh, err := s.Receive(m); !fresh || err != nil {
			t.Fatalf("Receive(%s, %d) = %v, %v", peerID, i, fresh, err)
		}
	}
}

// bucketBytes returns the number of records and their bytes (keys and
// values) in each message bucket.
func bucketBytes(t *testing.T, s *sealedStore) (records, bytes map[string]int) {
	t.Helper()
	records, bytes = map[string]int{}, map[string]int{}
	err := s.view(func(tx sealedTx) error {
		for _, b := range [][]byte{bucketHistory, bucketIDs, bucketRecv, bucketOutbox} {
			err := tx.forEach(b, func(k, v []byte) error {
				records[string(b)]++
				bytes[string(b)] += len(k) + len(v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return records, bytes
}

// TestReceivedBounded: past maxReceivedPerPeer messages from one peer, each
// new one drops the oldest dedupe entry in its own transaction; the newest
// still deduplicate, every history record stays, outgoing messages and
// other peers are untouched, and the dedupe set stops growing.
func TestReceivedBounded(t *testing.T) {
	const k = 5
	s := OpenMemory(testKey).(*sealedStore) // the same code as bolt, without 4096 fsyncs
	defer s.Close()
	out, err := s.Queue(outMessage("p", 1))
	if err != nil {
		t.Fatal(err)
	}
	receiveN(t, s, "q", 0, 3)
	receiveN(t, s, "p", 0, maxReceivedPerPeer)
	recs, full := bucketBytes(t, s)
	receiveN(t, s, "p", maxReceivedPerPeer, maxReceivedPerPeer+k)
	recs2, full2 := bucketBytes(t, s)
	for _, b := range []string{string(bucketIDs), string(bucketRecv)} {
		if recs2[b] != recs[b] || full2[b] != full[b] {
			t.Errorf("bucket %s: %d records, %d bytes after %d more messages; was %d, %d",
				b, recs2[b], full2[b], k, recs[b], full[b])
		}
	}
	// ids: p's kept received messages plus the outgoing one; q: its 3.
	if want := maxReceivedPerPeer + 1 + 3; recs2[string(bucketIDs)] != want {
		t.Errorf("ids %d records; want %d", recs2[string(bucketIDs)], want)
	}
	if want := maxReceivedPerPeer + k + 1 + 3; recs2[string(bucketHistory)] != want {
		t.Errorf("history %d records; want %d (nothing leaves the history)", recs2[string(bucketHistory)], want)
	}

	h, err := s.History("p", 0)
	if err != nil || len(h) != maxReceivedPerPeer+k+1 {
		t.Fatalf("History(p) = %d messages, %v", len(h), err)
	}
	if h[0].ID != out.ID || h[1].ID != recvID(0) || h[len(h)-1].ID != recvID(maxReceivedPerPeer+k-1) {
		t.Errorf("History(p) starts %x, %x and ends %x", h[0].ID, h[1].ID, h[len(h)-1].ID)
	}
	// Everything still kept deduplicates.
	for i := k; i < maxReceivedPerPeer+k; i++ {
		if _, fresh, err := s.Receive(Message{PeerID: "p", ID: recvID(i), Text: "again"}); fresh || err != nil {
			t.Fatalf("Receive(kept %d) = %v, %v; want a duplicate", i, fresh, err)
		}
	}
	if hq, err := s.History("q", 0); err != nil || len(hq) != 3 {
		t.Errorf("History(q) = %d, %v", len(hq), err)
	}
	// The oldest left the dedupe set: the sender could not resend them
	// (see maxReceivedPerPeer), so dedupe no longer needs them.
	if _, fresh, err := s.Receive(Message{PeerID: "p", ID: recvID(0), Text: "old"}); !fresh || err != nil {
		t.Errorf("Receive(pruned 0) = %v, %v; want it stored as new", fresh, err)
	}
	if ok, err := s.Delivered("p", out.ID); !ok || err != nil {
		t.Errorf("the outgoing message lost its entry: %v, %v", ok, err)
	}
}

// received reports which of the messages recvID(from) to recvID(to-1)
// from peerID are in the dedupe set.
func receivedIDs(t *testing.T, s *sealedStore, peerID string, from, to int) []bool {
	t.Helper()
	in := make([]bool, 0, to-from)
	err := s.view(func(tx sealedTx) error {
		for i := from; i < to; i++ {
			_, ok, err := s.getIDEntry(tx, peerID, recvID(i))
			if err != nil {
				return err
			}
			in = append(in, ok)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestReceivedRingGrows: a ring written with an older, smaller size is
// carried on with a new size that is a multiple of it, without a
// migration: while the new ring fills, the last old-size messages always
// stay deduplicated and every message stored since the change stays for
// the new size; once the new size has passed, exactly the last new-size
// messages are kept. The sizes are small stand-ins for 4096 and 16384.
func TestReceivedRingGrows(t *testing.T) {
	const oldRing, newRing = 4, 16
	for _, before := range []int{3, 4, 10, 16, 21} { // partly full, full, wrapped at various slots
		t.Run(fmt.Sprint(before), func(t *testing.T) {
			s := OpenMemory(testKey).(*sealedStore)
			defer s.Close()
			s.recvRing = oldRing
			receiveN(t, s, "p", 0, before)
			s.recvRing = newRing
			for n := before + 1; n <= before+3*newRing; n++ {
				receiveN(t, s, "p", n-1, n) // n messages received in all
				in := receivedIDs(t, s, "p", 0, n)
				keptFrom := max(0, n-oldRing) // the old guarantee
				if n-before >= newRing {
					keptFrom = n - newRing // the new one, in full
				} else {
					keptFrom = min(keptFrom, before) // and all since the change
				}
				for i := keptFrom; i < n; i++ {
					if !in[i] {
						t.Fatalf("after %d messages (%d before the change): message %d left the dedupe set", n, before, i)
					}
				}
				kept := 0
				for _, ok := range in {
					if ok {
						kept++
					}
				}
				if kept > newRing {
					t.Fatalf("after %d messages: %d kept, over the new size %d", n, kept, newRing)
				}
				if n-before >= newRing && kept != newRing {
					t.Fatalf("after %d messages: %d kept, want %d", n, kept, newRing)
				}
			}
		})
	}
}
