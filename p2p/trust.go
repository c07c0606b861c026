package p2p

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// Reasons admit refuses a session. They stay inside the node: the peer only
// sees its stream reset, whatever the reason.
var (
	errBlocked    = errors.New("p2p: peer is blocked")
	errKeyChanged = errors.New("p2p: peer presented a different key")
)

// admit is the trust-on-first-use check after a handshake: an unknown peer
// is pinned with its fingerprint (trust "new"); a known peer with the pinned
// fingerprint gets its stored trust ("new" becomes "pinned" on a later
// session); a known peer with a different fingerprint is a loud, blocking
// event: an alert naming both fingerprints, the new one kept as pending, no
// session, and sending refused until the user accepts the new key.
func (n *Node) admit(p peer.ID, fp e2e.Fingerprint, addrs []string) (Trust, error) {
	trust, alert, err := n.admitLocked(p, fp, addrs)
	if alert != "" {
		// Raised outside trustMu: a reader of the events may call Verify.
		n.alert(AlertKeyChanged, p, alert)
	}
	return trust, err
}

func (n *Node) admitLocked(p peer.ID, fp e2e.Fingerprint, addrs []string) (_ Trust, alert string, _ error) {
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	now := time.Now()
	c, ok, err := n.store.Contact(p.String())
	if err != nil {
		return "", "", fmt.Errorf("read contact: %w", err)
	}
	if !ok {
		c = store.Contact{PeerID: p.String(), Fingerprint: fp, Trust: TrustNew, FirstSeen: now}
	} else {
		switch {
		case c.Blocked:
			return "", "", errBlocked
		case !c.Fingerprint.Equal(fp):
			c.PendingFingerprint = fp
			if err := n.store.PutContact(c); err != nil {
				return "", "", fmt.Errorf("store contact: %w", err)
			}
			return "", fmt.Sprintf(
				"peer %s presented identity %s, but %s is pinned; sending is blocked until the new key is accepted",
				p, fp, c.Fingerprint), errKeyChanged
		case c.Trust == TrustNew:
			c.Trust = TrustPinned
		}
	}
	c.LastSeen = now
	if len(addrs) > 0 {
		c.Addrs = addrs
	}
	if err := n.store.PutContact(c); err != nil {
		return "", "", fmt.Errorf("store contact: %w", err)
	}
	return c.Trust, "", nil
}

// noteName stores the peer's (sanitized) name and, if that name is new for
// the peer and is the name of another contact with a different
// fingerprint, raises a name_collision alert: names are chosen by their
// owners and prove nothing.
func (n *Node) noteName(ss *session, name string) {
	if alert := n.noteNameLocked(ss, name); alert != "" {
		n.alert(AlertNameCollision, ss.peer, alert)
	}
}

func (n *Node) noteNameLocked(ss *session, name string) (alert string) {
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	contacts, err := n.store.Contacts()
	if err != nil {
		n.log.Error("list contacts", "err", err)
	}
	var self store.Contact
	found := false
	var twin *store.Contact
	for i, c := range contacts {
		if c.PeerID == ss.peer.String() {
			self, found = c, true
		} else if name != "" && strings.EqualFold(c.Name, name) && !c.Fingerprint.Equal(ss.fp) {
			twin = &contacts[i]
		}
	}
	if !found || self.Name == name {
		return ""
	}
	self.Name = name
	if err := n.store.PutContact(self); err != nil {
		n.log.Error("store contact", "err", err)
	}
	// Any peer taking another contact's name is reported, a new one or a
	// known one that renamed itself: the name proves nothing, the
	// fingerprint tells them apart.
	if twin != nil {
		return fmt.Sprintf("peer %s (%s) uses the name %q of contact %s (%s)",
			ss.peer, ss.fp.Short(), name, twin.PeerID, twin.Fingerprint.Short())
	}
	return ""
}

// Verify marks the peer's identity as verified out of band. fp must be the
// pinned fingerprint, or the pending one after a key change, which it then
// accepts. Anything else is [ErrFingerprintMismatch].
func (n *Node) Verify(peerID string, fp e2e.Fingerprint) error {
	return n.updateTrust(peerID, fp, TrustVerified)
}

// TrustNewKey accepts the new key a peer presented (see
// [AlertKeyChanged]): fp must be the pending fingerprint. The new key is
// pinned, and sending works again.
func (n *Node) TrustNewKey(peerID string, fp e2e.Fingerprint) error {
	return n.updateTrust(peerID, fp, TrustPinned)
}

func (n *Node) updateTrust(peerID string, fp e2e.Fingerprint, to Trust) error {
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	c, ok, err := n.store.Contact(peerID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrUnknownPeer
	}
	switch {
	case !c.PendingFingerprint.IsZero() && c.PendingFingerprint.Equal(fp):
		c.Fingerprint = fp
		c.PendingFingerprint = e2e.Fingerprint{}
		c.Trust = to
	case to == TrustVerified && c.Fingerprint.Equal(fp):
		c.Trust = TrustVerified
	default:
		return ErrFingerprintMismatch
	}
	return n.store.PutContact(c)
}

// Block refuses the peer's sessions from now on (kept in the store, and
// enforced by the connection gater: no connection in either direction) and
// ends its live session and connections.
func (n *Node) Block(peerID string) error {
	p, err := peer.Decode(peerID)
	if err != nil {
		return ErrUnknownPeer
	}
	n.trustMu.Lock()
	c, ok, err := n.store.Contact(p.String())
	if err == nil {
		if !ok {
			c = store.Contact{PeerID: p.String(), Trust: TrustNew, FirstSeen: time.Now()}
		}
		c.Blocked = true
		err = n.store.PutContact(c)
	}
	n.trustMu.Unlock()
	if err != nil {
		return err
	}
	n.gater.block(p) // from now on no connection in either direction
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil && ps.current != nil {
		_ = ps.current.st.Reset()
	}
	n.mu.Unlock()
	_ = n.host.Network().ClosePeer(p)
	return nil
}

// SafetyNumber returns the 60-digit safety number of this node and the peer
// ([e2e.SafetyNumber]), the same on both sides. It needs the peer's public
// keys, which the node holds while a session is live; otherwise it returns
// [ErrNoSession].
func (n *Node) SafetyNumber(peerID string) (string, error) {
	p, err := peer.Decode(peerID)
	if err != nil {
		return "", ErrUnknownPeer
	}
	n.mu.Lock()
	ps := n.peers[p]
	var remote *e2e.PublicIdentity
	if ps != nil && ps.up && ps.current != nil {
		remote = ps.current.e2e.PeerBundle().Identity()
	}
	n.mu.Unlock()
	if remote == nil {
		return "", ErrNoSession
	}
	return e2e.SafetyNumber(n.id.Public(), []byte(n.host.ID()), remote, []byte(p)), nil
}
