package p2p

import (
	"time"

	"github.com/securechat/securechat/p2p/store"
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
// is sent again when the next session comes up. It is an interface so that
// the session code does not depend on where messages are kept.
type outbox interface {
	// Add queues m for peerID and returns m with its sequence number set.
	// When Add returns nil, the message is stored for good (on disk,
	// except for --ephemeral nodes).
	Add(peerID string, m outMsg) (outMsg, error)
	// Pending returns peerID's unacknowledged messages with seq >= from,
	// in order.
	Pending(peerID string, from uint64) ([]outMsg, error)
	// Remove drops message id for peerID, marks it delivered, and reports
	// whether it was there.
	Remove(peerID string, id [messageIDLen]byte) (bool, error)
	// Peers lists the peers with messages waiting.
	Peers() ([]string, error)
	// MarkSent records that the messages were written to a session.
	MarkSent(peerID string, ids [][messageIDLen]byte) error
}

// storeOutbox is the outbox kept in the node's store, together with the
// history: sealed bbolt records that survive restarts and kill -9, or the
// memory store of an --ephemeral node. Every change is one store
// transaction.
type storeOutbox struct {
	st store.Store
}

var _ outbox = storeOutbox{}

// Add implements outbox.
func (o storeOutbox) Add(peerID string, m outMsg) (outMsg, error) {
	sm, err := o.st.Queue(store.Message{PeerID: peerID, ID: m.id, Text: m.text, SentAt: m.sentAt})
	if err != nil {
		return outMsg{}, err
	}
	m.seq = sm.Seq
	return m, nil
}

// Pending implements outbox.
func (o storeOutbox) Pending(peerID string, from uint64) ([]outMsg, error) {
	ms, err := o.st.Outbox(peerID, from)
	if err != nil {
		return nil, err
	}
	out := make([]outMsg, len(ms))
	for i, m := range ms {
		out[i] = outMsg{seq: m.Seq, id: m.ID, sentAt: m.SentAt, text: m.Text}
	}
	return out, nil
}

// Remove implements outbox.
func (o storeOutbox) Remove(peerID string, id [messageIDLen]byte) (bool, error) {
	return o.st.Delivered(peerID, id)
}

// Peers implements outbox.
func (o storeOutbox) Peers() ([]string, error) { return o.st.OutboxPeers() }

// MarkSent implements outbox.
func (o storeOutbox) MarkSent(peerID string, ids [][messageIDLen]byte) error {
	return o.st.MarkSent(peerID, ids)
}
