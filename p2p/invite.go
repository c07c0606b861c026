package p2p

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// This file is the node's side of invites (e2e/PROTOCOL.md, "Invites"):
// which of its addresses go into its own invite, what an invite must hold
// to be dialled, and the pin an invite sets before the first session.

// InvitePrefix starts every invite: a string with it (after spaces) is an
// invite, anything else an address.
const InvitePrefix = e2e.InvitePrefix

// AlertFingerprintMismatch is the [Alert] kind raised when a peer reached
// through an invite presents another identity than the invite's at its
// first session, or when an invite names another identity than the one
// pinned for its peer. (events.go lists the other kinds.)
const AlertFingerprintMismatch = "fingerprint_mismatch"

// errInviteMismatch is why admit refuses a session that does not present
// the identity an invite pinned.
var errInviteMismatch = errors.New("p2p: identity differs from the invite's")

// An Invite is an invite that [ParseInvite] decoded and verified: how to
// reach a peer, and the fingerprint it must present.
type Invite struct {
	// PeerID is the peer's libp2p peer ID.
	PeerID string
	// Fingerprint is the identity that signed the invite, the one the
	// peer must present at the first session.
	Fingerprint e2e.Fingerprint
	// Name is the name the invite's maker chose, sanitized; never trusted.
	Name string
	// Addrs are the addresses to dial, in the invite's order, each ending
	// in /p2p/<peer-id> (a circuit address goes through its relay first).
	Addrs []string

	info peer.AddrInfo
}

// AddrInfo returns the peer ID and its transport addresses (without the
// final /p2p/ component), as libp2p dials them.
func (inv *Invite) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: inv.info.ID, Addrs: slices.Clone(inv.info.Addrs)}
}

// IsInvite reports whether s is meant as an invite rather than a multiaddr.
func IsInvite(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), InvitePrefix) }

// CleanInvite removes every space and line break from a pasted invite: its
// text after the prefix is base64url, so a copy taken over several screen
// rows (or with a stray space) reads back whole.
func CleanInvite(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// ParseInvite decodes and verifies an invite (surrounding spaces and line
// breaks, as a paste brings them, are ignored) and checks its peer ID and
// addresses: each must parse, a final /p2p/ component must name the
// invite's peer, and a circuit address must name its relay. Every failure
// wraps [ErrBadAddress]; nothing is dialled.
func ParseInvite(s string) (*Invite, error) {
	inv, err := e2e.ParseInvite(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: invalid invite", ErrBadAddress)
	}
	id, err := peer.IDFromBytes(inv.PeerID())
	if err != nil {
		return nil, fmt.Errorf("%w: invite: invalid peer ID", ErrBadAddress)
	}
	suffix, err := multiaddr.NewComponent("p2p", id.String())
	if err != nil {
		return nil, fmt.Errorf("%w: invite: invalid peer ID", ErrBadAddress)
	}
	out := &Invite{
		PeerID:      id.String(),
		Fingerprint: inv.Fingerprint(),
		Name:        SanitizeName(inv.Name()),
		info:        peer.AddrInfo{ID: id},
	}
	for i, b := range inv.Addrs() {
		a, err := dialableAddr(b, id)
		if err != nil {
			return nil, fmt.Errorf("%w: invite: address %d: %w", ErrBadAddress, i+1, err)
		}
		out.info.Addrs = append(out.info.Addrs, a)
		out.Addrs = append(out.Addrs, a.Encapsulate(suffix.Multiaddr()).String())
	}
	return out, nil
}

// dialableAddr decodes one invite address for peer id and returns it
// without a final /p2p/<id>.
func dialableAddr(b []byte, id peer.ID) (multiaddr.Multiaddr, error) {
	a, err := multiaddr.NewMultiaddrBytes(b)
	if err != nil {
		return nil, errors.New("does not parse")
	}
	// The part after the last /p2p-circuit is the target's: a /p2p/ there
	// must be the invite's peer, and only as the last component.
	circuit := -1
	for i, c := range a {
		if c.Code() == multiaddr.P_CIRCUIT {
			circuit = i
		}
	}
	for i := circuit + 1; i < len(a); i++ {
		if a[i].Code() != multiaddr.P_P2P {
			continue
		}
		if i != len(a)-1 || !bytes.Equal(a[i].RawValue(), []byte(id)) {
			return nil, errors.New("names another peer")
		}
		a = a[:i]
	}
	switch {
	case len(a) == 0 || a[0].Code() == multiaddr.P_P2P:
		return nil, errors.New("has no transport")
	case circuit >= 0 && (circuit < 2 || a[circuit-1].Code() != multiaddr.P_P2P || circuit != len(a)-1):
		return nil, errors.New("is a circuit address without its relay")
	case circuit >= 0 && bytes.Equal(a[circuit-1].RawValue(), []byte(id)):
		return nil, errors.New("relays through the peer itself")
	}
	return a, nil
}

// Invite returns this node's invite: its peer ID, identity, name and the
// addresses it can be dialled at (see [inviteAddrs] for which and in what
// order). Addresses that do not fit the invite's 2,000 characters are left
// out; [ParseInvite] on the result lists those kept.
func (n *Node) Invite() (string, error) {
	inv, err := newInvite(n.id, n.Name(), n.host.ID(), n.host.Addrs())
	if err != nil {
		return "", err
	}
	return inv.Encode(), nil
}

// newInvite makes the invite of the node with identity id, name and peer
// ID self, listening at addrs.
func newInvite(id *e2e.Identity, name string, self peer.ID, addrs []multiaddr.Multiaddr) (*e2e.Invite, error) {
	ordered := inviteAddrs(self, addrs)
	if len(ordered) == 0 {
		return nil, errors.New("p2p: no address to put in an invite")
	}
	raw := make([][]byte, len(ordered))
	for i, a := range ordered {
		raw[i] = a.Bytes()
	}
	inv, err := e2e.NewInvite(id, []byte(self), truncateUTF8(name, e2e.MaxInviteName), raw)
	if err != nil {
		return nil, fmt.Errorf("make invite: %w", err)
	}
	return inv, nil
}

// truncateUTF8 shortens s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// inviteAddrs orders the node's addresses for its invite, the most useful
// to a peer on another network first, since e2e.NewInvite drops from the
// end what does not fit: public addresses, then relay circuits (they work
// from anywhere the relay is reachable), then private ones, then the rest
// (unroutable ranges). Loopback addresses are useless on another machine
// and only go in when there is nothing else (a node listening on loopback
// only, as in tests); link-local and unspecified addresses never do. A
// final /p2p/<self> is dropped (the invite holds the peer ID) and repeats
// are removed; the order within a class is kept.
func inviteAddrs(self peer.ID, addrs []multiaddr.Multiaddr) []multiaddr.Multiaddr {
	const (
		public = iota
		circuit
		private
		other
		loopback
		classes
	)
	var byClass [classes][]multiaddr.Multiaddr
	for _, a := range addrs {
		if t, id := peer.SplitAddr(a); t != nil && id == self {
			a = t
		}
		if len(a) == 0 {
			continue
		}
		var class int
		switch {
		case slices.ContainsFunc(a, func(c multiaddr.Component) bool { return c.Code() == multiaddr.P_CIRCUIT }):
			class = circuit
		case manet.IsIPUnspecified(a) || manet.IsIP6LinkLocal(a):
			continue
		case manet.IsIPLoopback(a):
			class = loopback
		case manet.IsPublicAddr(a):
			class = public
		case manet.IsPrivateAddr(a):
			class = private
		default:
			class = other
		}
		if !slices.ContainsFunc(byClass[class], a.Equal) {
			byClass[class] = append(byClass[class], a)
		}
	}
	var out []multiaddr.Multiaddr
	for class := range loopback {
		out = append(out, byClass[class]...)
	}
	if len(out) == 0 {
		out = byClass[loopback]
	}
	return out
}

// ConnectInvite dials the peer an invite names, like [Node.Connect], after
// pinning the invite's fingerprint for that peer (e2e/PROTOCOL.md,
// "Invites"): the first session with the peer, in either direction, must
// present it, or it is refused with an [AlertFingerprintMismatch] alert and
// this call fails with [ErrDialFailed]. An invite that does not verify or
// does not parse is [ErrBadAddress] and nothing is dialled; one that names
// another identity than a session already confirmed for its peer is
// refused before dialling, with the alert, as [ErrDialFailed] wrapping
// [ErrFingerprintMismatch].
func (n *Node) ConnectInvite(ctx context.Context, invite string) (Connected, error) {
	inv, err := ParseInvite(invite)
	if err != nil {
		return Connected{}, err
	}
	if inv.info.ID == n.host.ID() {
		return Connected{}, fmt.Errorf("%w: the invite is this node's own", ErrBadAddress)
	}
	if err := n.enter(); err != nil {
		return Connected{}, err
	}
	err = n.pinInvite(inv)
	n.wg.Done()
	if err != nil {
		return Connected{}, err
	}
	info := inv.AddrInfo()
	return n.dialSession(ctx, &info, "invite for "+inv.PeerID)
}

// pinInvite records the invite's fingerprint as its peer's pin, unless a
// session already confirmed a pin for that peer: that one stands, and an
// invite naming another key is refused. A pin no session has confirmed yet
// (an earlier invite's) is replaced: the user chose the newer invite.
func (n *Node) pinInvite(inv *Invite) error {
	alert, err := n.pinInviteContact(inv)
	if alert != "" {
		n.alert(AlertFingerprintMismatch, inv.info.ID, alert)
	}
	return err
}

func (n *Node) pinInviteContact(inv *Invite) (alert string, _ error) {
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	// A stranger under the invite's key becomes the contact; one under
	// another key is dropped, and its session ends (stranger.go, pin.go).
	if s, ok := n.strangers.get(inv.info.ID); ok {
		if !s.fp.Equal(inv.Fingerprint) {
			n.strangers.take(inv.info.ID)
			n.repin(inv.info.ID, inv.Fingerprint)
		} else if err := n.promoteLocked(inv.info.ID); err != nil {
			return "", err
		}
	}
	c, ok, err := n.store.Contact(inv.PeerID)
	if err != nil {
		return "", fmt.Errorf("read contact: %w", err)
	}
	switch {
	case !ok:
		c = store.Contact{PeerID: inv.PeerID, Trust: TrustNew, FirstSeen: time.Now()}
	case c.Blocked:
		return "", fmt.Errorf("%w: %s is blocked", ErrDialFailed, inv.PeerID)
	case c.Fingerprint.Equal(inv.Fingerprint):
		return "", nil
	case !invitePinOnly(c) && !c.Fingerprint.IsZero():
		return fmt.Sprintf("invite for peer %s names identity %s, but %s is pinned; not dialled",
				inv.PeerID, inv.Fingerprint, c.Fingerprint),
			fmt.Errorf("%w: %w", ErrDialFailed, ErrFingerprintMismatch)
	}
	c.Fingerprint = inv.Fingerprint
	c.Name = inv.Name
	c.Addrs = inv.Addrs
	c.Identity = nil // kept only once a session under the pin came up
	if err := n.store.PutContact(c); err != nil {
		return "", fmt.Errorf("store contact: %w", err)
	}
	return "", nil
}

// invitePinOnly reports whether c's pin was set by an invite and no session
// has confirmed it yet: admit stamps LastSeen at every session it lets up.
func invitePinOnly(c store.Contact) bool {
	return c.LastSeen.IsZero() && !c.Fingerprint.IsZero()
}

// inviteMismatch is the alert of a session refused because the peer does
// not present the identity its invite pinned.
func inviteMismatch(p peer.ID, fp, pinned e2e.Fingerprint) string {
	return fmt.Sprintf("peer %s presented identity %s, but its invite names %s; no session",
		p, fp, pinned)
}

// alertKindFor is the alert kind of a session admit refused with err.
func alertKindFor(err error) string {
	if errors.Is(err, errInviteMismatch) {
		return AlertFingerprintMismatch
	}
	return AlertKeyChanged
}
