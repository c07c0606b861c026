package store

import (
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Group commit for the bbolt backend. Each bbolt write transaction ends in
// an fsync, which costs far more than the writes in it; when many sessions
// store messages at once (one reader each), committing their writes one
// transaction at a time makes the fsync the limit. [boltKV.batch] lets
// concurrent writers share one transaction: the first to arrive commits at
// once (no added delay when the store is idle), and the writers that
// arrive while that commit runs are committed together in the next one,
// so the number of fsyncs follows the disk's speed rather than the number
// of writers.
//
// Unlike bbolt's own DB.Batch there is no waiting for company (DB.Batch
// waits up to 10 ms), which a single conversation's round trip would pay.

// A commitReq is one writer's function waiting in the group.
type commitReq struct {
	fn   func(kvTx) error
	err  error
	pnc  any           // a panic in fn, raised again in the writer's goroutine
	done chan struct{} // closed when err is final
	lead chan struct{} // closed when this writer is to commit the next group
}

// groupCommit queues writers; at most one leader commits at a time.
type groupCommit struct {
	mu      sync.Mutex
	queue   []*commitReq
	leading bool
}

// batch runs fn in a write transaction shared with the batch calls
// running at the same time. fn may run more than once (when another
// function in its group fails, the group is rolled back and committed
// again without it), so it must set its results from what it reads in
// the transaction, never accumulate them across calls.
func (b *boltKV) batch(fn func(kvTx) error) error {
	r := &commitReq{fn: fn, done: make(chan struct{}), lead: make(chan struct{})}
	g := &b.group
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.leading {
		g.mu.Unlock()
		select {
		case <-r.done:
			return r.result()
		case <-r.lead:
		}
	} else {
		g.leading = true
		g.mu.Unlock()
	}
	// This writer leads: it commits everything queued so far (its own
	// function among them), then hands the lead to the first writer that
	// queued meanwhile, so that no writer commits for others forever.
	g.mu.Lock()
	group := g.queue
	g.queue = nil
	g.mu.Unlock()
	b.commitGroup(group)
	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	<-r.done
	return r.result()
}

func (r *commitReq) result() error {
	if r.pnc != nil {
		panic(r.pnc)
	}
	return r.err
}

// commitGroup commits the functions of group in one transaction, in order.
// A function that fails is taken out with its error, and the others are
// committed again without it.
func (b *boltKV) commitGroup(group []*commitReq) {
	for len(group) > 0 {
		failed := -1
		err := b.db.Update(func(tx *bolt.Tx) error {
			for i, r := range group {
				if err := callReq(r, boltTx{tx}); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed >= 0 {
			r := group[failed]
			r.err = boltErr(err)
			close(r.done)
			group = append(group[:failed:failed], group[failed+1:]...)
			continue
		}
		if err == nil {
			b.commits.Add(1)
		}
		for _, r := range group {
			r.err = boltErr(err)
			close(r.done)
		}
		return
	}
}

// callReq runs r's function, turning a panic into an error for the group
// (r's writer raises the panic again).
func callReq(r *commitReq, tx kvTx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			r.pnc = p
			err = fmt.Errorf("store: panic in a write: %v", p)
		}
	}()
	return r.fn(tx)
}
