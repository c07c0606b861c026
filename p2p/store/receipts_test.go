package store

import (
	"crypto/rand"
	"testing"
)

// commits returns how many update transactions s's bbolt file committed.
func commits(s *sealedStore) uint64 { return s.kv.(*boltKV).commits.Load() }

// TestUnknownReceiptsDoNotWrite: a flood of receipts for unknown message IDs,
// of repeated receipts and of duplicate messages (all things a peer can send
// at will) commits nothing, so it costs no fsync; a receipt that changes
// something still commits once.
func TestUnknownReceiptsDoNotWrite(t *testing.T) {
	s := backends[0].open(t) // bolt: its commits are the fsyncs
	sent, err := s.Queue(outMessage("p", 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, fresh, err := s.Receive(Message{PeerID: "p", ID: msgID(2), Text: "in"}); !fresh || err != nil {
		t.Fatal(fresh, err)
	}

	before := commits(s)
	for range 1000 {
		var id [MessageIDLen]byte
		rand.Read(id[:])
		if ok, err := s.Delivered("p", id); ok || err != nil {
			t.Fatalf("Delivered(unknown) = %v, %v", ok, err)
		}
	}
	for _, id := range [][MessageIDLen]byte{msgID(2), sent.ID} {
		// A receipt for a message we received, and one for our own
		// message from another peer, are unknown receipts too.
		if ok, err := s.Delivered("p", msgID(2)); ok || err != nil {
			t.Fatalf("Delivered(incoming) = %v, %v", ok, err)
		}
		if ok, err := s.Delivered("q", id); ok || err != nil {
			t.Fatalf("Delivered(other peer) = %v, %v", ok, err)
		}
	}
	for range 1000 {
		if _, fresh, err := s.Receive(Message{PeerID: "p", ID: msgID(2), Text: "again"}); fresh || err != nil {
			t.Fatalf("Receive(duplicate) = %v, %v", fresh, err)
		}
	}
	if n := commits(s) - before; n != 0 {
		t.Fatalf("unknown receipts and duplicates committed %d write transactions, want 0", n)
	}

	// The one receipt that matters writes once (with the next commit, or
	// lazyDelay later: lazy.go); repeating it writes nothing.
	if ok, err := s.Delivered("p", sent.ID); !ok || err != nil {
		t.Fatalf("Delivered(known) = %v, %v", ok, err)
	}
	if err := s.flushLazy(); err != nil {
		t.Fatal(err)
	}
	if n := commits(s) - before; n != 1 {
		t.Errorf("a real receipt committed %d times, want 1", n)
	}
	for range 100 {
		if ok, err := s.Delivered("p", sent.ID); ok || err != nil {
			t.Fatalf("Delivered(repeat) = %v, %v", ok, err)
		}
	}
	if err := s.flushLazy(); err != nil {
		t.Fatal(err)
	}
	if n := commits(s) - before; n != 1 {
		t.Errorf("repeated receipts committed %d more times", n-1)
	}
	if h, err := s.History("p", 0); err != nil || len(h) != 2 || h[0].State != StateDelivered {
		t.Errorf("History = %+v, %v", h, err)
	}
	if out, err := s.Outbox("p", 0); err != nil || len(out) != 0 {
		t.Errorf("Outbox after the receipt = %v, %v", ids(out), err)
	}
}

// TestReceiptStates: a receipt for a sent (not queued) message, and one
// for a message already marked delivered whose outbox pointer is still
// there, both do their write.
func TestReceiptStates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		m, err := s.Queue(outMessage("p", 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent("p", [][MessageIDLen]byte{m.ID}); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Delivered("p", m.ID); !ok || err != nil {
			t.Fatalf("Delivered(sent) = %v, %v", ok, err)
		}
		// Put the outbox pointer back, as a crash between two older
		// writes could have left it: the next receipt removes it. (The
		// receipt's own change goes to disk first: lazy.go.)
		if err := s.flushLazy(); err != nil {
			t.Fatal(err)
		}
		err = s.update(func(tx sealedTx) error {
			ptr, err := encodeOutboxPointer("p", m.ID)
			if err != nil {
				return err
			}
			return tx.putSealed(bucketOutbox, s.messageKey(bucketOutbox, "p", m.Seq), ptr)
		})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Delivered("p", m.ID); !ok || err != nil {
			t.Fatalf("Delivered(delivered, pointer left) = %v, %v", ok, err)
		}
		if out, err := s.Outbox("p", 0); err != nil || len(out) != 0 {
			t.Errorf("Outbox = %v, %v", ids(out), err)
		}
	})
}
