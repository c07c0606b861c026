package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestGroupCommitShares: writers that store messages at the same time
// share commits (fewer fsyncs than writers), every message is stored once
// with its own seq, and the order within each writer's batch is kept.
func TestGroupCommitShares(t *testing.T) {
	s := backends[0].open(t) // bolt
	const writers, each = 16, 20
	before := commits(s)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer := fmt.Sprintf("peer%d", w)
			for i := 0; i < each; i += 4 {
				ms := make([]Message, 4)
				for j := range ms {
					ms[j] = Message{PeerID: peer, ID: msgID(byte(i + j)), Text: "m"}
				}
				_, fresh, err := s.ReceiveAll(ms)
				if err != nil {
					errs <- err
					return
				}
				for j, f := range fresh {
					if !f {
						errs <- fmt.Errorf("%s message %d not fresh", peer, i+j)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	n := commits(s) - before
	if n > writers*each/4 {
		t.Errorf("%d commits for %d batches", n, writers*each/4)
	}
	t.Logf("%d batches in %d commits", writers*each/4, n)
	seqs := map[uint64]bool{}
	for w := range writers {
		h, err := s.History(fmt.Sprintf("peer%d", w), 0)
		if err != nil || len(h) != each {
			t.Fatalf("peer%d history: %d messages, %v", w, len(h), err)
		}
		for i, m := range h {
			if m.ID != msgID(byte(i)) || seqs[m.Seq] {
				t.Fatalf("peer%d message %d: id %x seq %d (seen %v)", w, i, m.ID[0], m.Seq, seqs[m.Seq])
			}
			seqs[m.Seq] = true
		}
	}
}

// TestGroupCommitFailure: a write that fails or panics in a group takes
// nothing of the others with it: they commit, it alone reports its error
// (or panics in its own goroutine), and its writes are gone.
func TestGroupCommitFailure(t *testing.T) {
	s := backends[0].open(t)
	k := s.kv.(*boltKV)
	boom := errors.New("boom")
	// Hold the lead with a slow write, so that the next ones queue up and
	// commit as one group.
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = k.batch(func(tx kvTx) error {
			close(started)
			<-release
			return tx.put(bucketMeta, []byte("t0"), []byte("0"))
		})
	}()
	<-started
	results := make([]any, 4)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					results[i] = p
				}
			}()
			results[i] = k.batch(func(tx kvTx) error {
				if err := tx.put(bucketMeta, []byte(fmt.Sprint("t", i+1)), []byte("1")); err != nil {
					return err
				}
				switch i {
				case 1:
					return boom
				case 2:
					panic("kaboom")
				}
				return nil
			})
		}()
	}
	// Give the writers time to queue behind the first (a slow machine
	// only makes more groups; the outcome is the same).
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	want := []any{nil, boom, "kaboom", nil}
	for i, r := range results {
		if err, ok := r.(error); ok && errors.Is(err, boom) {
			r = boom
		}
		if r != want[i] {
			t.Errorf("write %d: got %v, want %v", i+1, r, want[i])
		}
	}
	err := k.view(func(tx kvTx) error {
		for i, want := range []bool{true, true, false, false, true} {
			v, err := tx.get(bucketMeta, []byte(fmt.Sprint("t", i)))
			if err != nil {
				return err
			}
			if (v != nil) != want {
				t.Errorf("key t%d present %v, want %v", i, v != nil, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLazyReceiptStates: on the bbolt store, marking sent and a receipt
// commit nothing by themselves; the next message's commit carries them
// (one fsync for both), reads see them, and Close writes what is left, so
// a reopened store has them.
func TestLazyReceiptStates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := openBolt(path, testKey, time.Second, currentSchema)
	if err != nil {
		t.Fatal(err)
	}
	m1, err := s.Queue(outMessage("p", 1))
	if err != nil {
		t.Fatal(err)
	}
	before := commits(s)
	if err := s.MarkSent("p", [][MessageIDLen]byte{m1.ID}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Delivered("p", m1.ID); !ok || err != nil {
		t.Fatalf("Delivered = %v, %v", ok, err)
	}
	if ok, err := s.Delivered("p", m1.ID); ok || err != nil {
		t.Fatalf("Delivered again before the commit = %v, %v", ok, err)
	}
	if n := commits(s) - before; n != 0 {
		t.Fatalf("MarkSent and Delivered committed %d times, want 0", n)
	}
	m2, err := s.Queue(outMessage("p", 2))
	if err != nil {
		t.Fatal(err)
	}
	if n := commits(s) - before; n != 1 {
		t.Fatalf("Queue with the noted receipt committed %d times, want 1", n)
	}
	if s.pendingLazy() {
		t.Fatal("the receipt is still pending after a commit")
	}
	if err := s.MarkSent("p", [][MessageIDLen]byte{m2.ID}); err != nil {
		t.Fatal(err)
	}
	h, err := s.History("p", 0) // reads see noted changes
	if err != nil || len(h) != 2 || h[0].State != StateDelivered || h[1].State != StateSent {
		t.Fatalf("History = %v %v, %v", ids(h), states(h), err)
	}
	if ok, err := s.Delivered("p", m2.ID); !ok || err != nil {
		t.Fatalf("Delivered(m2) = %v, %v", ok, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = openBolt(path, testKey, time.Second, currentSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if out, err := s.Outbox("p", 0); err != nil || len(out) != 0 {
		t.Fatalf("Outbox after reopen = %v, %v", ids(out), err)
	}
	if h, err := s.History("p", 0); err != nil || len(h) != 2 || h[1].State != StateDelivered {
		t.Fatalf("History after reopen = %v %v, %v", ids(h), states(h), err)
	}
}

// TestLazyReceiptTimer: a noted receipt with no commit after it is written
// by itself within about lazyDelay.
func TestLazyReceiptTimer(t *testing.T) {
	s := backends[0].open(t)
	m, err := s.Queue(outMessage("p", 1))
	if err != nil {
		t.Fatal(err)
	}
	before := commits(s)
	if ok, err := s.Delivered("p", m.ID); !ok || err != nil {
		t.Fatalf("Delivered = %v, %v", ok, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.pendingLazy() || commits(s) == before {
		if time.Now().After(deadline) {
			t.Fatal("the noted receipt was not written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Read straight from the kv: no flush on the way.
	err = s.view(func(tx sealedTx) error {
		e, ok, err := s.getIDEntry(tx, "p", m.ID)
		if err != nil || !ok || e.state != StateDelivered {
			t.Errorf("ids entry = %+v %v, %v", e, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestReceiveAllDuplicates: ReceiveAll stores new messages in order and
// recognises duplicates, already stored or earlier in the same batch.
func TestReceiveAllDuplicates(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		if _, _, err := s.Receive(Message{PeerID: "p", ID: msgID(1), Text: "one"}); err != nil {
			t.Fatal(err)
		}
		ms := []Message{
			{PeerID: "p", ID: msgID(1), Text: "one again"},
			{PeerID: "p", ID: msgID(2), Text: "two"},
			{PeerID: "p", ID: msgID(3), Text: "three"},
			{PeerID: "p", ID: msgID(2), Text: "two again"},
		}
		out, fresh, err := s.ReceiveAll(ms)
		if err != nil {
			t.Fatal(err)
		}
		if want := []bool{false, true, true, false}; fmt.Sprint(fresh) != fmt.Sprint(want) {
			t.Errorf("fresh = %v, want %v", fresh, want)
		}
		if out[1].Seq == 0 || out[2].Seq != out[1].Seq+1 {
			t.Errorf("seqs %d, %d", out[1].Seq, out[2].Seq)
		}
		h, err := s.History("p", 0)
		if err != nil || fmt.Sprint(ids(h)) != fmt.Sprint([]byte{1, 2, 3}) || h[1].Text != "two" {
			t.Errorf("History = %v, %v", ids(h), err)
		}
	})
}

// TestLazyReceiptCrash: a receipt noted but not yet written is lost with a
// crash (the process ends without Close), and that loses nothing: the
// message is still in the outbox, to be sent again, and the receiver's
// dedupe recognises it.
func TestLazyReceiptCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := openBolt(path, testKey, time.Second, currentSchema)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.Queue(outMessage("p", 1))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Delivered("p", m.ID); !ok || err != nil {
		t.Fatalf("Delivered = %v, %v", ok, err)
	}
	_ = s.kv.close() // the crash: no flush
	s, err = openBolt(path, testKey, time.Second, currentSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Outbox("p", 0)
	if err != nil || len(out) != 1 || out[0].ID != m.ID {
		t.Fatalf("Outbox after the crash = %v, %v", ids(out), err)
	}
	if ok, err := s.Delivered("p", m.ID); !ok || err != nil {
		t.Fatalf("Delivered after the crash = %v, %v", ok, err)
	}
}

// TestLazyReadWaitsForInFlight: a receipt whose change a transaction has
// taken but not yet committed is neither noted nor on disk; History must
// wait for that transaction rather than read around it. (A headless
// script saw every `delivered` and then a history with most messages
// still "sent" or "queued".)
func TestLazyReadWaitsForInFlight(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := openBolt(path, testKey, time.Second, currentSchema)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := s.Queue(outMessage("p", 1))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Delivered("p", m.ID); !ok || err != nil {
		t.Fatalf("Delivered = %v, %v", ok, err)
	}
	// A message-path write takes the noted receipt and is held inside
	// its transaction until release.
	release, inside := make(chan struct{}), make(chan struct{})
	var once sync.Once
	wrote := make(chan error, 1)
	go func() {
		wrote <- s.write(func(sealedTx) error {
			once.Do(func() { close(inside) })
			<-release
			return nil
		})
	}()
	<-inside
	if s.pendingLazy() {
		t.Fatal("the receipt is still noted: the write did not take it")
	}
	read := make(chan []Message, 1)
	go func() {
		h, err := s.History("p", 0)
		if err != nil {
			t.Error(err)
		}
		read <- h
	}()
	select {
	case h := <-read:
		close(release)
		<-wrote
		t.Fatalf("History returned while the receipt's transaction was open: %+v", h)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if h := <-read; len(h) != 1 || h[0].State != StateDelivered {
		t.Fatalf("History = %+v, want one delivered message", h)
	}
}
