package p2p

import (
	"slices"
	"sync"
	"time"
)

// An outMsg is a message waiting for the peer's receipt.
type outMsg struct {
	seq    uint64 // order of acceptance, per node; resends follow it
	id     [messageIDLen]byte
	sentAt time.Time
	text   string
}

// An outbox keeps every sent message until the peer confirms it, so that
// a message accepted while the peer is offline, or lost with a cut session,
// is sent again when the next session comes up. It is an interface so that a
// store-backed outbox (kept across restarts) can replace the in-memory one
// without touching the session code.
type outbox interface {
	// Add queues m for peerID and returns m with its sequence number set.
	Add(peerID string, m outMsg) (outMsg, error)
	// Pending returns peerID's unacknowledged messages with seq >= from,
	// in order.
	Pending(peerID string, from uint64) ([]outMsg, error)
	// Remove drops message id for peerID and reports whether it was there.
	Remove(peerID string, id [messageIDLen]byte) (bool, error)
	// Peers lists the peers with messages waiting.
	Peers() ([]string, error)
}

// memOutbox is the in-memory outbox: the only one for --ephemeral, and
// the one used until the store keeps an outbox.
type memOutbox struct {
	mu    sync.Mutex
	next  uint64
	peers map[string][]outMsg // each in seq order
}

func newMemOutbox() *memOutbox {
	return &memOutbox{peers: make(map[string][]outMsg)}
}

// Add implements outbox.
func (o *memOutbox) Add(peerID string, m outMsg) (outMsg, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	m.seq = o.next
	o.peers[peerID] = append(o.peers[peerID], m)
	return m, nil
}

// Pending implements outbox.
func (o *memOutbox) Pending(peerID string, from uint64) ([]outMsg, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.peers[peerID]
	i, _ := slices.BinarySearchFunc(q, from, func(m outMsg, s uint64) int {
		switch {
		case m.seq < s:
			return -1
		case m.seq > s:
			return 1
		}
		return 0
	})
	return slices.Clone(q[i:]), nil
}

// Remove implements outbox.
func (o *memOutbox) Remove(peerID string, id [messageIDLen]byte) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.peers[peerID]
	i := slices.IndexFunc(q, func(m outMsg) bool { return m.id == id })
	if i < 0 {
		return false, nil
	}
	q = slices.Delete(q, i, i+1)
	if len(q) == 0 {
		delete(o.peers, peerID)
	} else {
		o.peers[peerID] = q
	}
	return true, nil
}

// Peers implements outbox.
func (o *memOutbox) Peers() ([]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var ps []string
	for p := range o.peers {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps, nil
}

// dedupSize bounds the per-peer memory of received message IDs. A resend
// only ever repeats messages that were unacknowledged, a few at most in
// practice, so the last 4096 IDs catch every honest duplicate while a peer
// cannot grow the set without bound.
const dedupSize = 4096

// seenIDs is a bounded set of recently received message IDs (FIFO eviction).
type seenIDs struct {
	set  map[[messageIDLen]byte]struct{}
	ring [][messageIDLen]byte
	next int
}

// add records id and reports whether it was new.
func (s *seenIDs) add(id [messageIDLen]byte) bool {
	if s.set == nil {
		s.set = make(map[[messageIDLen]byte]struct{})
	}
	if _, ok := s.set[id]; ok {
		return false
	}
	if len(s.ring) < dedupSize {
		s.ring = append(s.ring, id)
	} else {
		delete(s.set, s.ring[s.next])
		s.ring[s.next] = id
		s.next = (s.next + 1) % dedupSize
	}
	s.set[id] = struct{}{}
	return true
}
