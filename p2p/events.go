package p2p

import (
	"time"

	"github.com/securechat/securechat/e2e"
)

// An Event is something the node reports on [Node.Events]. The concrete types
// below are the only implementations.
type Event interface{ isEvent() }

// Ready is the first event: the node listens on Addrs.
type Ready struct {
	PeerID      string
	Fingerprint e2e.Fingerprint
	Name        string
	Addrs       []string // full multiaddrs ending in /p2p/<peer-id>
}

// PeerFound reports a discovered peer. Via is "dial", "mdns", ...
type PeerFound struct {
	PeerID string
	Via    string
}

// SessionUp reports an authenticated end-to-end session, raised on both sides.
type SessionUp struct {
	PeerID      string
	Fingerprint e2e.Fingerprint
	Name        string // the peer's self-chosen name, sanitized; never trusted
	Trust       Trust
	Conn        string // ConnDirect or ConnRelayed: the connection under the session
	// Stranger marks a peer that is no contact (stranger.go).
	Stranger bool
}

// Connection kinds, as [SessionUp], [PathChanged], [Connected] and
// [PeerInfo] name them.
const (
	// ConnDirect is a connection straight to the peer (TCP or QUIC,
	// hole-punched or not).
	ConnDirect = "direct"
	// ConnRelayed is a circuit through a relay; the end-to-end layer runs
	// on top of it unchanged.
	ConnRelayed = "relayed"
)

// AddrsChanged reports that the node's dialable addresses changed after
// [Ready]: a relay reservation was made or lost, an interface or an
// observed outside address came or went. A circuit address is listed only
// while its reservation holds. Reachability is "public", "private" or
// "unknown" (see [Node.Reachability]).
type AddrsChanged struct {
	Addrs        []string // full multiaddrs ending in /p2p/<peer-id>
	Reachability string
}

// PathChanged reports that the connection under a live session changed:
// a direct connection (a hole punch, a direct dial) took over from a relayed
// one. Conn is ConnDirect or ConnRelayed.
type PathChanged struct {
	PeerID string
	Conn   string
}

// Connected is what [Node.Connect] returns: a session with PeerID is up,
// over a connection of kind Conn. It answers the caller only and is not
// raised on [Node.Events].
type Connected struct {
	PeerID string
	Conn   string // ConnDirect or ConnRelayed
}

// SessionDown reports the end of a session. Reason is "closed" (the peer's
// authenticated CLOSE), "cut" (the stream ended without one), "local" (we
// ended it), "replaced", "error", ...
type SessionDown struct {
	PeerID string
	Reason string
}

// MessageReceived is a message that arrived, decrypted and authenticated.
// Each ID is reported once only.
type MessageReceived struct {
	PeerID string
	ID     string
	Text   string // sanitized of control characters
	SentAt time.Time
	// Stranger marks a message from a peer that is no contact
	// (stranger.go).
	Stranger bool
}

// Delivered reports the peer's receipt for message ID.
type Delivered struct {
	PeerID string
	ID     string
}

// Deposited reports that message ID, to a peer without a session, was
// sealed and stored by that peer's mailbox (mailbox_sender.go). The
// message stays in the outbox until [Delivered].
type Deposited struct {
	PeerID string
	ID     string
}

// Alert reports a security event. Kind is one of the Alert* constants.
type Alert struct {
	Kind    string
	PeerID  string
	Message string
}

// Alert kinds.
const (
	AlertHandshakeFailed = "handshake_failed"
	AlertKeyChanged      = "key_changed"
	AlertBadFrame        = "bad_frame"
	AlertReplay          = "replay"
	AlertNameCollision   = "name_collision"
	// AlertMailbox: an envelope fetched from our mailbox was sealed by
	// another identity than the contact its capability was given to.
	AlertMailbox = "mailbox"
)

// NameChanged reports that a peer announced a new name inside its live
// session (a NAME payload, e2e/PROTOCOL.md). Name is sanitized and proves
// nothing; a name another contact uses also raises [AlertNameCollision].
// A name changed while the peer was offline comes with its next
// [SessionUp] instead.
type NameChanged struct {
	PeerID string
	Name   string
}

// DialFailed reports that a dial the node started on its own (a redial of a
// known peer, an mDNS discovery) failed. [Node.Connect] does not raise it: it
// returns its failure to the caller, which reports it once.
type DialFailed struct {
	Addr string
	Err  string // go-libp2p's text: several lines, for logs
	// Reason is the failure worded for people, on one line, by
	// [DescribeDialError].
	Reason string
}

func (Ready) isEvent()           {}
func (Deposited) isEvent()       {}
func (PeerFound) isEvent()       {}
func (SessionUp) isEvent()       {}
func (SessionDown) isEvent()     {}
func (MessageReceived) isEvent() {}
func (Delivered) isEvent()       {}
func (Alert) isEvent()           {}
func (DialFailed) isEvent()      {}
func (NameChanged) isEvent()     {}
func (AddrsChanged) isEvent()    {}
func (PathChanged) isEvent()     {}
