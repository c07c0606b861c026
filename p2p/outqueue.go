package p2p

import (
	"slices"
	"sync"
)

// outQueue mirrors in memory, per peer, the unacknowledged messages of the
// outbox, so that neither Send's queue limit nor a session writer's flush
// has to read (and decrypt) the whole sealed outbox: a flush costs
// O(new messages), a count O(1).
//
// The store stays the truth. Every change is committed to it first and
// mirrored after: Add appends a message once the store accepted it (so
// "Send returned" still means "stored for good"), Remove drops it once the
// store removed it. A peer's mirror is loaded from the store the first
// time the peer is used, and is in seq order, the order of acceptance.
//
// A mirrored message keeps its text only until a session wrote it; then
// the text is dropped (the store has it), so the memory held is the
// messages not yet written plus a few bytes per unacknowledged one. A new
// session reads the texts it must send again from the store, once, at its
// first flush ([outQueue.next] reports them as missing).
type outQueue struct {
	ob outbox

	mu    sync.Mutex // guards peers
	peers map[string]*peerQueue
}

// peerQueue is one peer's mirror.
type peerQueue struct {
	// addMu serialises Add for the peer across the store commit, so that
	// messages enter the mirror in seq order and the count check and the
	// append are one step.
	addMu sync.Mutex

	mu   sync.Mutex // guards msgs
	msgs []queued   // ascending seq
}

// queued is one mirrored message; hasText is false once a session wrote it
// or when it was loaded from the store.
type queued struct {
	m       outMsg
	hasText bool
}

func newOutQueue(ob outbox) *outQueue {
	return &outQueue{ob: ob, peers: make(map[string]*peerQueue)}
}

// queue returns peerID's mirror, loading it from the store the first time.
func (q *outQueue) queue(peerID string) (*peerQueue, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if pq := q.peers[peerID]; pq != nil {
		return pq, nil
	}
	ms, err := q.ob.Pending(peerID, 0)
	if err != nil {
		return nil, err
	}
	pq := &peerQueue{msgs: make([]queued, len(ms))}
	for i, m := range ms {
		m.text = "" // a session that needs it reads it from the store
		pq.msgs[i] = queued{m: m}
	}
	q.peers[peerID] = pq
	return pq, nil
}

// add stores m for peerID and mirrors it. It refuses with ErrQueueFull
// when limit messages already wait.
func (q *outQueue) add(peerID string, m outMsg, limit int) (outMsg, error) {
	pq, err := q.queue(peerID)
	if err != nil {
		return outMsg{}, err
	}
	pq.addMu.Lock()
	defer pq.addMu.Unlock()
	pq.mu.Lock()
	full := len(pq.msgs) >= limit
	pq.mu.Unlock()
	if full {
		return outMsg{}, ErrQueueFull
	}
	m, err = q.ob.Add(peerID, m)
	if err != nil {
		return outMsg{}, err
	}
	pq.mu.Lock()
	pq.msgs = append(pq.msgs, queued{m: m, hasText: true})
	pq.mu.Unlock()
	return m, nil
}

// remove commits the receipt of id to the store, then drops it from the
// mirror. It reports whether the message was waiting.
func (q *outQueue) remove(peerID string, id [messageIDLen]byte) (bool, error) {
	pq, err := q.queue(peerID)
	if err != nil {
		return false, err
	}
	removed, err := q.ob.Remove(peerID, id)
	if err != nil {
		return false, err
	}
	pq.mu.Lock()
	// Receipts come in order, so the message is nearly always the first.
	if i := slices.IndexFunc(pq.msgs, func(e queued) bool { return e.m.id == id }); i >= 0 {
		pq.msgs = slices.Delete(pq.msgs, i, i+1)
	}
	pq.mu.Unlock()
	return removed, nil
}

// next returns peerID's messages with seq >= from, in order. If some of
// them have no text in memory, missing is the seq of the first of those
// and the caller reads them from the store.
func (q *outQueue) next(peerID string, from uint64) (msgs []outMsg, missing uint64, hasMissing bool, err error) {
	pq, err := q.queue(peerID)
	if err != nil {
		return nil, 0, false, err
	}
	pq.mu.Lock()
	defer pq.mu.Unlock()
	i := pq.index(from)
	if i == len(pq.msgs) {
		return nil, 0, false, nil
	}
	msgs = make([]outMsg, 0, len(pq.msgs)-i)
	for _, e := range pq.msgs[i:] {
		if !e.hasText && !hasMissing {
			missing, hasMissing = e.m.seq, true
		}
		msgs = append(msgs, e.m)
	}
	return msgs, missing, hasMissing, nil
}

// written drops the texts of messages a session wrote up to seq upTo:
// only a later session needs them again, and it reads them from the store.
func (q *outQueue) written(peerID string, upTo uint64) {
	q.mu.Lock()
	pq := q.peers[peerID]
	q.mu.Unlock()
	if pq == nil {
		return
	}
	pq.mu.Lock()
	defer pq.mu.Unlock()
	// The messages with a text are a suffix (Add appends with one; texts
	// are dropped in seq order), so walking back from upTo costs O(new).
	for i := pq.index(upTo+1) - 1; i >= 0 && pq.msgs[i].hasText; i-- {
		pq.msgs[i].hasText, pq.msgs[i].m.text = false, ""
	}
}

// index returns the position of the first message with seq >= seq.
func (pq *peerQueue) index(seq uint64) int {
	i, _ := slices.BinarySearchFunc(pq.msgs, seq, func(e queued, s uint64) int {
		switch {
		case e.m.seq < s:
			return -1
		case e.m.seq > s:
			return 1
		}
		return 0
	})
	return i
}

// waiting returns how many of peerID's messages wait for a receipt (0 for
// a peer whose mirror is not loaded).
func (q *outQueue) waiting(peerID string) int {
	q.mu.Lock()
	pq := q.peers[peerID]
	q.mu.Unlock()
	if pq == nil {
		return 0
	}
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return len(pq.msgs)
}
