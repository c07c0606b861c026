package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/p2p/store"
)

// DefaultHistoryLimit is how many messages [Node.History] returns when the
// caller gives no limit.
const DefaultHistoryLimit = 100

// MaxHistoryLimit caps a History request, so one command cannot make the
// node decrypt and hold an unbounded conversation at once.
const MaxHistoryLimit = 10000

// Delivery states of a [HistoryEntry].
const (
	StateQueued    = "queued"    // in the outbox, not yet written to a session
	StateSent      = "sent"      // written to a session; no receipt yet
	StateDeposited = "deposited" // sealed in the peer's mailbox; no receipt yet
	StateDelivered = "delivered" // the peer's receipt arrived (incoming: received)
)

// A HistoryEntry is one message of a conversation, as [Node.History]
// returns it.
type HistoryEntry struct {
	ID     string // the message ID, as in Sent and MessageReceived
	FromMe bool
	Text   string // incoming texts are sanitized, as MessageReceived shows them
	SentAt time.Time
	State  string // StateQueued, StateSent, StateDeposited or StateDelivered
	// Seq orders the node's messages: pass the oldest entry's to
	// [Node.HistoryBefore] for the page before it.
	Seq uint64
}

// History returns the last limit messages exchanged with the peer, oldest
// first, with their delivery state. limit <= 0 means [DefaultHistoryLimit];
// it is capped at [MaxHistoryLimit]. A peer that is not a contact is
// [ErrUnknownPeer]. A stranger's history is what it sent while tracked
// (stranger.go), held in memory.
func (n *Node) History(peerID string, limit int) ([]HistoryEntry, error) {
	return n.history(peerID, 0, limit)
}

// HistoryBefore is [Node.History] for the messages older than the entry
// whose Seq is before: the page a reader scrolling back asks for next. It
// returns none for before 0.
func (n *Node) HistoryBefore(peerID string, before uint64, limit int) ([]HistoryEntry, error) {
	if before == 0 {
		return nil, nil
	}
	return n.history(peerID, before, limit)
}

// history is History and HistoryBefore; before 0 means no bound.
func (n *Node) history(peerID string, before uint64, limit int) ([]HistoryEntry, error) {
	p, err := peer.Decode(peerID)
	if err != nil {
		return nil, ErrUnknownPeer
	}
	if err := n.enter(); err != nil {
		return nil, err
	}
	defer n.wg.Done()
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	limit = min(limit, MaxHistoryLimit)
	var ms []store.Message
	if _, ok, err := n.store.Contact(p.String()); err != nil {
		return nil, err
	} else if ok {
		if before == 0 {
			ms, err = n.store.History(p.String(), limit)
		} else {
			ms, err = n.store.HistoryBefore(p.String(), before, limit)
		}
		if err != nil {
			return nil, err
		}
	} else if s, tracked := n.strangers.get(p); tracked {
		// A stranger's messages are in memory only (stranger.go); they
		// have no store sequence to page back from.
		if before == 0 {
			ms = s.msgs[max(0, len(s.msgs)-limit):]
		}
	} else {
		return nil, ErrUnknownPeer
	}
	out := make([]HistoryEntry, len(ms))
	for i, m := range ms {
		out[i] = HistoryEntry{ID: hexID(m.ID), FromMe: m.FromMe, Text: m.Text, SentAt: m.SentAt, State: string(m.State), Seq: m.Seq}
	}
	return out, nil
}
