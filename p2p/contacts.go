package p2p

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/p2p/store"
)

// Managing contacts: labels, unblocking and forgetting. Blocking, pins and
// verification are in trust.go.

// shownName is how the user's screens name contact c: the user's label
// if there is one, else the name the peer announced.
func shownName(c store.Contact) string {
	if c.Label != "" {
		return c.Label
	}
	return c.Name
}

// SetLabel gives a contact the user's own name for it, shown instead of
// the peer's announced name on this node's screens and accepted wherever a
// peer is named ([MatchPeer] is given the label as the name); peers never
// see it. label must be 1-32 printable characters ([ValidName]); empty
// removes the label. An unknown peer is [ErrUnknownPeer].
func (n *Node) SetLabel(peerID, label string) error {
	if label != "" {
		var err error
		if label, err = ValidName(label); err != nil {
			return err
		}
	}
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	c, ok, err := n.store.Contact(peerID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrUnknownPeer
	}
	if c.Label == label {
		return nil
	}
	c.Label = label
	return n.store.PutContact(c)
}

// Unblock undoes [Node.Block]: the peer may connect and set up sessions
// again, and is redialled like any contact. Messages queued for it while
// it was blocked stayed in the outbox and go out at its next session. A
// peer that is not blocked is left as it is; an unknown one is
// [ErrUnknownPeer].
func (n *Node) Unblock(peerID string) error {
	p, err := peer.Decode(peerID)
	if err != nil {
		return ErrUnknownPeer
	}
	n.trustMu.Lock()
	c, ok, err := n.store.Contact(p.String())
	if err == nil && !ok {
		err = ErrUnknownPeer
	}
	if err == nil && c.Blocked {
		c.Blocked = false
		err = n.store.PutContact(c)
	}
	n.trustMu.Unlock()
	if err != nil {
		return err
	}
	n.gater.unblock(p)
	n.redial.reset(p)
	return nil
}

// Forget deletes a contact and everything kept with it: its pin and trust,
// label, addresses, its whole history and the messages still waiting for
// it in the outbox, in one store transaction. Its live session, if any,
// ends. The peer is then a stranger: if it connects again it is pinned
// anew on first use, like any new peer. A blocked peer stays blocked: its
// contact is replaced by a bare record that keeps the block (and nothing
// else), so forgetting a pest does not let it back in; unblock it first to
// forget it entirely. An unknown peer is [ErrUnknownPeer].
func (n *Node) Forget(peerID string) error {
	p, err := peer.Decode(peerID)
	if err != nil {
		return ErrUnknownPeer
	}
	pid := p.String()
	if err := n.enter(); err != nil {
		return err
	}
	defer n.wg.Done()
	n.trustMu.Lock()
	c, ok, err := n.store.Contact(pid)
	if err == nil && !ok {
		err = ErrUnknownPeer
	}
	if err == nil {
		var keep *store.Contact
		if c.Blocked {
			keep = &store.Contact{PeerID: pid, Trust: TrustNew, Blocked: true, FirstSeen: time.Now()}
		}
		err = n.store.Forget(pid, keep)
	}
	n.trustMu.Unlock()
	if err != nil {
		return err
	}
	// The outbox mirror is reloaded from the (now empty) store at the
	// peer's next use.
	n.outq.drop(pid)
	n.hangUp(p)
	n.mailboxDrop(pid) // mailbox.go
	return nil
}

// hangUp ends p's live session, if any, and closes every connection to it.
func (n *Node) hangUp(p peer.ID) {
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil && ps.current != nil {
		_ = ps.current.st.Reset()
	}
	n.mu.Unlock()
	_ = n.host.Network().ClosePeer(p)
}

// unblock removes p from the blocked set.
func (g *gater) unblock(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.blocked, p)
}

// drop forgets peerID's mirror; the next use loads it from the store.
func (q *outQueue) drop(peerID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.peers, peerID)
}
