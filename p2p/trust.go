package p2p

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// Reasons checkTrust refuses a session. They stay inside the node: the peer only
// sees its stream reset, whatever the reason.
var (
	errBlocked    = errors.New("p2p: peer is blocked")
	errKeyChanged = errors.New("p2p: peer presented a different key")
)

// checkTrust is the trust-on-first-use check after a handshake: a peer that
// is no contact is a stranger (stranger.go), pinned in memory with its
// fingerprint (trust "new", stranger true); a contact with the pinned
// fingerprint gets its stored trust ("new" becomes "pinned" on a later
// session); a known peer with a different fingerprint is a loud, blocking
// event: an alert naming both fingerprints, the new one kept as pending, no
// session, and sending refused until the user accepts the new key. A pin
// that an invite set and no session confirmed yet is stricter: another key
// is a fingerprint_mismatch alert and no session, nothing kept (invite.go).
func (n *Node) checkTrust(p peer.ID, fp e2e.Fingerprint, addrs []string) (_ Trust, stranger bool, _ error) {
	trust, stranger, alert, err := n.checkContact(p, fp, addrs)
	if alert != "" {
		// Raised outside trustMu: a reader of the events may call Verify.
		n.alert(alertKindFor(err), p, alert)
	}
	return trust, stranger, err
}

// checkContact does checkTrust's reads and writes of p's contact under
// n.trustMu, which it takes itself, and returns the alert to raise once it
// is released.
func (n *Node) checkContact(p peer.ID, fp e2e.Fingerprint, addrs []string) (_ Trust, stranger bool, alert string, _ error) {
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	now := time.Now()
	c, ok, err := n.store.Contact(p.String())
	if err != nil {
		return "", false, "", fmt.Errorf("read contact: %w", err)
	}
	fresh := false
	if !ok && n.strangers.isWanted(p) && !n.strangers.has(p) {
		// The user is connecting to it (Connect): a contact from its
		// first session.
		c, fresh = store.Contact{PeerID: p.String(), Fingerprint: fp, Trust: TrustNew, FirstSeen: now}, true
	} else if !ok {
		alert, evicted, err := n.strangers.admit(p, fp, addrs, now)
		n.dropStrangers(evicted)
		if err != nil {
			return "", false, alert, err
		}
		n.setPin(p, fp)
		return TrustNew, true, "", nil
	}
	switch {
	case fresh:
	case c.Blocked:
		return "", false, "", errBlocked
	case !c.Fingerprint.Equal(fp) && invitePinOnly(c):
		// Pinned by an invite, never seen: no session, nothing kept
		// of the other key (invite.go).
		return "", false, inviteMismatch(p, fp, c.Fingerprint), errInviteMismatch
	case !c.Fingerprint.Equal(fp):
		c.PendingFingerprint = fp
		if err := n.store.PutContact(c); err != nil {
			return "", false, "", fmt.Errorf("store contact: %w", err)
		}
		n.dropTickets(p.String()) // resume.go
		return "", false, fmt.Sprintf(
			"peer %s presented identity %s, but %s is pinned; sending is blocked until the new key is accepted",
			p, fp, c.Fingerprint), errKeyChanged
	case c.Trust == TrustNew:
		c.Trust = TrustPinned
	}
	c.LastSeen = now
	if len(addrs) > 0 {
		c.Addrs = mergeAddrs(addrs, c.Addrs) // the older ones stay, after (peeraddrs.go)
	}
	if err := n.store.PutContact(c); err != nil {
		return "", false, "", fmt.Errorf("store contact: %w", err)
	}
	n.setPin(p, fp)
	return c.Trust, false, "", nil
}

// noteName runs when a session comes up (the peer's HELLO, before
// SessionUp): it stores the peer's (sanitized) name and public identity
// (with the contact, or the stranger), and, if that name is new for the
// peer and looks like the name of another contact with a different
// fingerprint ([NamesLookAlike]), raises a name_collision alert: names are
// chosen by their owners and prove nothing.
func (n *Node) noteName(ss *session, name string) {
	if alert := n.storeName(ss, name); alert != "" {
		n.alert(AlertNameCollision, ss.peer, alert)
	}
}

// storeName does noteName's reads and writes of the contacts under
// n.trustMu, which it takes itself, and returns the alert to raise once it
// is released.
func (n *Node) storeName(ss *session, name string) (alert string) {
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	// The cached list (contactcache.go): a HELLO, which any stranger can
	// send, decrypts no contact.
	contacts, _, err := n.contacts.snapshot()
	if err != nil {
		n.log.Error("list contacts", "err", err)
	}
	var twin *store.Contact
	for i, c := range contacts {
		if c.PeerID != ss.pid && NamesLookAlike(c.Name, name) && !c.Fingerprint.Equal(ss.fp) {
			twin = &contacts[i]
		}
	}
	var renamed bool
	if ss.stranger.Load() {
		r, tracked := n.strangers.noteHello(ss.peer, ss.fp, name, ss.sec.PeerBundle().Identity())
		if !tracked {
			return ""
		}
		renamed = r
	} else {
		self, found, err := n.store.Contact(ss.pid)
		if err != nil || !found {
			return ""
		}
		renamed = self.Name != name
		self.Name = name
		learnt := keepIdentity(&self, ss.sec.PeerBundle().Identity())
		if !renamed && !learnt {
			return ""
		}
		if err := n.store.PutContact(self); err != nil {
			n.log.Error("store contact", "err", err)
		}
	}
	// Any peer taking another contact's name is reported, a new one or a
	// known one that renamed itself: the name proves nothing, the
	// fingerprint tells them apart.
	if renamed && twin != nil {
		return fmt.Sprintf("peer %s (%s) uses the name %q of contact %s (%s)",
			ss.peer, ss.fp.Short(), name, twin.PeerID, twin.Fingerprint.Short())
	}
	return ""
}

// keepIdentity stores pub, the identity a live session authenticated, in c
// for [Node.SafetyNumber] while the peer is offline, and reports whether c
// changed. Only the pinned key's identity is kept: a session admitted under
// an older pin (the user accepted a new key since) leaves c as it is, and a
// key change never reaches here (checkTrust refuses its session), so the stored
// identity changes only after [Node.TrustNewKey].
func keepIdentity(c *store.Contact, pub *e2e.PublicIdentity) bool {
	if pub == nil || !pub.Fingerprint().Equal(c.Fingerprint) {
		return false
	}
	b := store.EncodePublicIdentity(pub)
	if bytes.Equal(b, c.Identity) {
		return false
	}
	c.Identity = b
	return true
}

// Verify marks the peer's identity as verified out of band. fp must be the
// pinned fingerprint, or the pending one after a key change, which it then
// accepts. Anything else is [ErrFingerprintMismatch].
func (n *Node) Verify(peerID string, fp e2e.Fingerprint) error {
	return n.updateTrust(peerID, fp, TrustVerified)
}

// TrustNewKey accepts the new key a peer presented (see
// [AlertKeyChanged]): fp must be the pending fingerprint. The new key is
// pinned, and sending works again; a peer whose key did not change gives
// [ErrNothingToAccept], whatever fp. The old key's stored identity is dropped
// with its pin; the new key's is stored at the first session under it (the
// refused session's keys are not kept), so until then [Node.SafetyNumber]
// answers [ErrNoSession].
func (n *Node) TrustNewKey(peerID string, fp e2e.Fingerprint) error {
	return n.updateTrust(peerID, fp, TrustPinned)
}

func (n *Node) updateTrust(peerID string, fp e2e.Fingerprint, to Trust) error {
	p, err := peer.Decode(peerID)
	if err != nil {
		return ErrUnknownPeer
	}
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	// Accepting a stranger makes it a contact (stranger.go); a wrong
	// fingerprint does not.
	if s, ok := n.strangers.get(p); ok {
		if !s.pending.Equal(fp) && (to != TrustVerified || !s.fp.Equal(fp)) {
			return ErrFingerprintMismatch
		}
		if err := n.promoteLocked(p); err != nil {
			return err
		}
	}
	c, ok, err := n.store.Contact(p.String())
	if err != nil {
		return err
	}
	if !ok {
		return ErrUnknownPeer
	}
	switch {
	case to == TrustPinned && c.PendingFingerprint.IsZero():
		return ErrNothingToAccept
	case !c.PendingFingerprint.IsZero() && c.PendingFingerprint.Equal(fp):
		// Every session under another key ends first (pin.go).
		n.repin(p, fp)
		c.Fingerprint = fp
		c.PendingFingerprint = e2e.Fingerprint{}
		c.Identity = nil // the old key's: never kept under the new pin
		c.Trust = to
		n.dropTickets(peerID) // resume.go: made under the old key
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
	n.strangers.take(p) // a blocked stranger is a blocked contact from now on
	c, ok, err := n.store.Contact(p.String())
	if err == nil {
		if !ok {
			c = store.Contact{PeerID: p.String(), Trust: TrustNew, FirstSeen: time.Now()}
		}
		c.Blocked = true
		err = n.store.PutContact(c)
	}
	if err == nil {
		n.dropTickets(p.String()) // resume.go
	}
	n.trustMu.Unlock()
	if err != nil {
		return err
	}
	n.gater.block(p) // from now on no connection in either direction
	n.hangUp(p)
	n.mailboxDrop(p.String()) // mailbox.go
	return nil
}

// SafetyNumber returns the 60-digit safety number of this node and the peer
// ([e2e.SafetyNumber]), the same on both sides. It is always the number of
// the pinned key: it takes the peer's public identity from the live session
// if there is one under that key, otherwise from the contact (or the
// stranger), where it is kept from the first session with the key, so
// that a contact can be verified while it is offline. A peer not seen
// since its key was pinned gives [ErrNoSession]; a peer with a changed key
// awaiting [Node.TrustNewKey] gives [ErrKeyChanged]: the number of the old
// key would be stale and that of the new one unconfirmed, so the user
// compares fingerprints and resolves the change first.
func (n *Node) SafetyNumber(peerID string) (string, error) {
	p, err := peer.Decode(peerID)
	if err != nil {
		return "", ErrUnknownPeer
	}
	c, known, err := n.store.Contact(p.String())
	if err != nil {
		return "", fmt.Errorf("read contact: %w", err)
	}
	pin, stored, pending := c.Fingerprint, c.Identity, c.PendingFingerprint
	if !known {
		s, _ := n.strangers.get(p)
		pin, stored, pending = s.fp, s.identity, s.pending
	}
	if !pending.IsZero() {
		return "", ErrKeyChanged
	}
	n.mu.Lock()
	var remote *e2e.PublicIdentity
	if ss := n.liveLocked(p); ss != nil {
		remote = ss.sec.PeerBundle().Identity()
	}
	n.mu.Unlock()
	switch {
	case remote != nil && !pin.IsZero() && remote.Fingerprint().Equal(pin):
	case len(stored) > 0:
		remote, err = store.ParsePublicIdentity(stored)
		// The store holds what the node put there, but the number is
		// only worth showing for the pinned key: checked again here.
		if err != nil || !remote.Fingerprint().Equal(pin) {
			return "", errStoredIdentity
		}
	default:
		return "", fmt.Errorf("%w: the peer's keys are learnt at its first session; it must be seen online once", ErrNoSession)
	}
	return e2e.SafetyNumber(n.id.Public(), []byte(n.host.ID()), remote, []byte(p)), nil
}

// errStoredIdentity means a contact's stored identity does not parse or is
// not the pinned key: damage or a bug, never shown as a safety number.
var errStoredIdentity = fmt.Errorf("p2p: stored identity does not match the pinned fingerprint: %w", store.ErrCorrupt)
