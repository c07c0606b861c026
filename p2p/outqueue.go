package p2p

import (
	"context"
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
	// turn (capacity 1) is held by one add for the peer at a time, from
	// its wait for room to the store commit, so that messages enter the
	// mirror in seq order and the room check and the append are one step.
	// It is a channel rather than a mutex so that a waiting add can give
	// up with its context; the runtime serves blocked senders in arrival
	// order, so concurrent adds keep their order too.
	turn chan struct{}

	mu    sync.Mutex // guards the fields below
	msgs  []queued   // ascending seq
	bytes int        // sum of the msgs' sizes
	// room, made by an add that must wait, is closed (and forgotten) when
	// a message leaves: receipts cost no allocation while nobody waits.
	room chan struct{}
}

// queued is one mirrored message; hasText is false once a session wrote it
// or when it was loaded from the store. size is the text's length, kept
// for the byte bounds after the text is dropped.
type queued struct {
	m       outMsg
	hasText bool
	size    int
}

// queueLimits bound one peer's outbox (limits.go has the values).
type queueLimits struct {
	// windowMsgs and windowBytes: while the peer's session is up, an add
	// waits while this many messages or bytes are unacknowledged
	// (backpressure: the link sets the pace, nothing is refused).
	windowMsgs, windowBytes int
	// maxMsgs and maxBytes: while the peer has no session, an add is
	// refused with ErrQueueFull at this many messages or bytes.
	maxMsgs, maxBytes int
}

// over reports whether a message of size bytes does not fit next to count
// messages of total bytes under the bounds capMsgs and capBytes. A single
// message always fits an empty queue.
func over(count, total, size, capMsgs, capBytes int) bool {
	return count >= capMsgs || (count > 0 && total+size > capBytes)
}

// liveness reports whether the peer's session is up and, if so, a channel
// closed at the next change of that: a waiting add then looks again.
type liveness func() (up bool, changed <-chan struct{})

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
	pq := &peerQueue{turn: make(chan struct{}, 1), msgs: make([]queued, len(ms))}
	for i, m := range ms {
		size := len(m.text)
		m.text = "" // a session that needs it reads it from the store
		pq.msgs[i] = queued{m: m, size: size}
		pq.bytes += size
	}
	q.peers[peerID] = pq
	return pq, nil
}

// add stores m for peerID and mirrors it, once there is room. While live
// reports the peer's session up, add waits until the unacknowledged
// messages are fewer than lim's window (receipts make room), or ctx or stop
// ends; with no session it refuses with ErrQueueFull at lim's cap. A wait
// looks again whenever the session comes or goes: a session lost while
// waiting turns the wait into the cap's check.
func (q *outQueue) add(ctx context.Context, stop <-chan struct{}, peerID string, m outMsg, lim queueLimits, live liveness) (outMsg, error) {
	pq, err := q.queue(peerID)
	if err != nil {
		return outMsg{}, err
	}
	select {
	case pq.turn <- struct{}{}:
	case <-ctx.Done():
		return outMsg{}, ctx.Err()
	case <-stop:
		return outMsg{}, ErrClosed
	}
	defer func() { <-pq.turn }()
	size := len(m.text)
	if err := pq.waitRoom(ctx, stop, size, lim, live); err != nil {
		return outMsg{}, err
	}
	m, err = q.ob.Add(peerID, m)
	if err != nil {
		return outMsg{}, err
	}
	pq.mu.Lock()
	pq.msgs = append(pq.msgs, queued{m: m, hasText: true, size: size})
	pq.bytes += size
	pq.mu.Unlock()
	return m, nil
}

// waitRoom returns nil once a message of size bytes fits pq: at once when
// it fits, or when the session is down and the offline cap has room
// (ErrQueueFull when it has none); while the session is up and the window
// is full, after waiting for a receipt to make room (or the session to
// go), or with ctx's error or ErrClosed (stop).
func (pq *peerQueue) waitRoom(ctx context.Context, stop <-chan struct{}, size int, lim queueLimits, live liveness) error {
	for {
		up, changed := live()
		pq.mu.Lock()
		count, total := len(pq.msgs), pq.bytes
		if !up {
			pq.mu.Unlock()
			if over(count, total, size, lim.maxMsgs, lim.maxBytes) {
				return ErrQueueFull
			}
			return nil
		}
		if !over(count, total, size, lim.windowMsgs, lim.windowBytes) {
			pq.mu.Unlock()
			return nil
		}
		if pq.room == nil {
			pq.room = make(chan struct{})
		}
		room := pq.room
		pq.mu.Unlock()
		select {
		case <-room:
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		case <-stop:
			return ErrClosed
		}
	}
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
		pq.bytes -= pq.msgs[i].size
		pq.msgs = slices.Delete(pq.msgs, i, i+1)
		if pq.room != nil {
			close(pq.room) // wake the add waiting for room
			pq.room = nil
		}
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
