package store

import (
	"errors"
	"sync"
	"time"
)

// Delivery states that can wait for the next commit.
//
// With bbolt every committed transaction is an fsync. Two of the message
// path's writes need not be on disk at once: marking a message sent
// (a crash loses only the word "sent": the message is still queued, and
// is written again by the next session, as a sent one would be) and a
// receipt (a crash puts the message back in the outbox; the next session
// sends it again, the peer recognises its ID, stores nothing and answers
// with another receipt). So on such a store [sealedStore.MarkSent] and
// [sealedStore.Delivered] only note the change in memory; it is written by
// the next message-path transaction (a queued or received message), or by
// itself lazyDelay after it was noted, or before anything reads delivery
// states (History, Outbox, OutboxPeers) or the store closes. A
// conversation's round trip then costs one fsync on each side: the
// sender's Queue (which carries the previous receipt along) and the
// receiver's Receive.
//
// Pending changes are applied in the order they were noted, and a
// receipt's change is idempotent, so applying one again (a group commit
// retried) is harmless. The memory store writes at once: it has no fsync
// to save.

// lazyDelay bounds how long a noted change waits for a commit.
const lazyDelay = 100 * time.Millisecond

// A lazyOp is one noted change: ids of peerID's conversation become
// delivered (a receipt) or sent.
type lazyOp struct {
	peerID    string
	ids       [][MessageIDLen]byte
	delivered bool
}

type lazyKey struct {
	peerID string
	id     [MessageIDLen]byte
}

// lazyWrites holds the noted changes of a store whose commits are fsyncs.
type lazyWrites struct {
	on bool // set once at open: the backend is bbolt

	mu  sync.Mutex
	ops []lazyOp
	// receipts are the receipts noted and not yet committed, so that a
	// repeated receipt is recognised before its first one is on disk.
	receipts map[lazyKey]struct{}
	timer    *time.Timer
	closed   bool
	// Transactions that took ops and have not settled, by take number
	// (takeLazy): a reader of delivery states waits for those taken
	// before it (waitLazy), or it could read around changes that are
	// neither noted any more nor committed yet.
	nextTake uint64
	inFlight map[uint64]struct{}
	settled  *sync.Cond // on mu; broadcast by settleLazy
}

// note queues op and makes sure a flush is due within lazyDelay.
func (s *sealedStore) note(op lazyOp) {
	l := &s.lazy
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops = append(l.ops, op)
	if l.timer == nil && !l.closed {
		l.timer = time.AfterFunc(lazyDelay, s.flushTimer)
	}
}

// noteReceipt notes a receipt for id unless one is noted already; it
// reports whether it noted it.
func (s *sealedStore) noteReceipt(peerID string, id [MessageIDLen]byte) bool {
	l := &s.lazy
	k := lazyKey{peerID, id}
	l.mu.Lock()
	if _, dup := l.receipts[k]; dup {
		l.mu.Unlock()
		return false
	}
	if l.receipts == nil {
		l.receipts = make(map[lazyKey]struct{})
	}
	l.receipts[k] = struct{}{}
	l.mu.Unlock()
	s.note(lazyOp{peerID: peerID, ids: [][MessageIDLen]byte{id}, delivered: true})
	return true
}

// takeLazy hands the noted changes to a transaction about to start, with
// the take's number for settleLazy.
func (s *sealedStore) takeLazy() ([]lazyOp, uint64) {
	l := &s.lazy
	if !l.on {
		return nil, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ops := l.ops
	l.ops = nil
	if len(ops) == 0 {
		return nil, 0
	}
	l.nextTake++
	if l.inFlight == nil {
		l.inFlight = make(map[uint64]struct{})
	}
	l.inFlight[l.nextTake] = struct{}{}
	return ops, l.nextTake
}

// waitLazy waits until every transaction that took noted changes before
// the call has settled, committed or not. Takes that start later are not
// waited for, so a steady stream of writes cannot hold a reader up.
func (s *sealedStore) waitLazy() {
	l := &s.lazy
	if !l.on {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	upTo := l.nextTake
	for {
		busy := false
		for take := range l.inFlight {
			if take <= upTo {
				busy = true
				break
			}
		}
		if !busy {
			return
		}
		if l.settled == nil {
			l.settled = sync.NewCond(&l.mu)
		}
		l.settled.Wait()
	}
}

// settleLazy ends a transaction that carried ops: committed, their
// receipts are on disk; failed, they are noted again, ahead of any noted
// since.
func (s *sealedStore) settleLazy(ops []lazyOp, take uint64, committed bool) {
	if len(ops) == 0 {
		return
	}
	l := &s.lazy
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.inFlight, take)
	if l.settled != nil {
		l.settled.Broadcast()
	}
	if !committed {
		l.ops = append(ops, l.ops...)
		if l.timer == nil && !l.closed {
			l.timer = time.AfterFunc(lazyDelay, s.flushTimer)
		}
		return
	}
	for _, op := range ops {
		if op.delivered {
			for _, id := range op.ids {
				delete(l.receipts, lazyKey{op.peerID, id})
			}
		}
	}
}

// pendingLazy reports whether changes wait for a commit.
func (s *sealedStore) pendingLazy() bool {
	l := &s.lazy
	if !l.on {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ops) > 0
}

func (s *sealedStore) flushTimer() {
	l := &s.lazy
	l.mu.Lock()
	l.timer = nil
	l.mu.Unlock()
	_ = s.flushLazy() // a failure notes them again (settleLazy)
}

// flushLazy commits the noted changes, if any, and waits for those that
// transactions already in flight carry: after it, a read sees every
// change noted before the call (a receipt reported delivered is delivered
// in History).
func (s *sealedStore) flushLazy() error {
	if s.pendingLazy() {
		if err := s.write(nil); err != nil {
			return err
		}
	}
	s.waitLazy()
	return nil
}

// closeLazy commits the noted changes and stops the timer, before the
// store closes.
func (s *sealedStore) closeLazy() error {
	l := &s.lazy
	l.mu.Lock()
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	l.mu.Unlock()
	return s.flushLazy()
}

// write runs fn (nil: nothing) in a message-path transaction, which the
// backend may share with concurrent ones (kv.batch), after the noted
// changes. fn may run more than once (see kv.batch).
func (s *sealedStore) write(fn func(sealedTx) error) error {
	ops, take := s.takeLazy()
	err := s.kv.batch(func(tx kvTx) error {
		stx := s.tx(tx)
		for _, op := range ops {
			if err := s.applyOp(stx, op); err != nil {
				return err
			}
		}
		if fn == nil {
			return nil
		}
		return fn(stx)
	})
	s.settleLazy(ops, take, err == nil)
	return err
}

// applyOp applies one noted change in tx. A record that fails to open
// only loses its own change (the receipt would have failed the same way
// had it been written at once), never the transaction.
func (s *sealedStore) applyOp(tx sealedTx, op lazyOp) error {
	var err error
	if op.delivered {
		for _, id := range op.ids {
			if _, err = s.deliver(tx, op.peerID, id); err != nil {
				break
			}
		}
	} else {
		err = s.markSent(tx, op.peerID, op.ids)
	}
	if errors.Is(err, ErrCorrupt) {
		return nil
	}
	return err
}
