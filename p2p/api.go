package p2p

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// Trust is re-exported from the store so callers need not import it.
type Trust = store.Trust

// Trust levels.
const (
	TrustNew      = store.TrustNew
	TrustPinned   = store.TrustPinned
	TrustVerified = store.TrustVerified
)

// Config is everything New needs. The zero value of each optional field is a
// sensible default.
type Config struct {
	// Home is the directory for the key file and the store. Ignored with
	// Ephemeral.
	Home string
	// Ephemeral keeps a fresh identity and every record in memory only.
	Ephemeral bool
	// Passphrase unlocks (or, on first start, protects) the key file.
	// New does not keep it.
	Passphrase []byte
	// ListenAddrs default (nil) to TCP and QUIC on all interfaces, on the
	// ports the node had last time if it is persistent (kept in Home; a
	// new port only where that one is taken), else on new ones.
	ListenAddrs []multiaddr.Multiaddr
	// Name is the nickname shown to peers, taken as given (front ends
	// check it with [ValidName]; at most 128 bytes of UTF-8). Given, it
	// replaces the name saved in the home, and is saved there; empty, the
	// saved name is used, else DefaultName.
	Name string
	// DefaultName is the nickname when neither Name nor a saved name is
	// there (the command passes the OS user name). It is not saved.
	DefaultName string
	// MDNS turns on LAN discovery.
	MDNS bool
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// MaxSessions is how many concurrent peer sessions the node is sized
	// for: its connection, descriptor, stream and memory limits, and the
	// connection manager's watermarks, grow with it (per-peer limits and
	// the handshake rate limits do not). 0 means the default, 64; negative
	// is refused.
	MaxSessions int

	// Relays are circuit relay v2 nodes, each address ending in
	// /p2p/<relay-id>, on which the node keeps a reservation (p2p/relay
	// Keeper) so that peers reach it at <relay>/p2p-circuit/p2p/<self>;
	// those addresses are among [Node.Addrs] while the reservation holds.
	Relays []multiaddr.Multiaddr
	// ServeRelay makes the node a circuit relay v2 for other nodes, within
	// the bounds of p2p/relay (reservations, circuits, bytes and time).
	ServeRelay bool
	// HolePunchPrivate lets hole punching use observed outside addresses
	// in private ranges (nested or carrier-grade NAT, test networks), not
	// only public ones. Loopback addresses are never used.
	HolePunchPrivate bool

	// Downloads is the folder received files are saved in (created 0700
	// if missing). Empty means <Home>/downloads, or, with Ephemeral, a new
	// folder under the system's temporary directory, created at start and
	// left there with what it received.
	Downloads string
	// MaxFileSize is the largest file the node accepts, in bytes; an
	// offer over it is refused as too_large. 0 means DefaultMaxFileSize
	// (4 GiB); negative is refused.
	MaxFileSize int64

	// circuitsOnly makes the node advertise its circuit addresses alone,
	// as a node behind a NAT is reached: tests on loopback use it so that
	// a peer has no direct address to fall back to.
	circuitsOnly bool
}

// PeerInfo describes a known peer, as [Node.Peers] lists it.
type PeerInfo struct {
	PeerID      string
	Fingerprint e2e.Fingerprint
	Name        string
	State       PeerState
	Conn        string // ConnDirect or ConnRelayed while online, else "none"
	Trust       Trust
	KeyChanged  bool // a different key was seen and awaits TrustNewKey
	// PendingFingerprint is the new key's fingerprint while KeyChanged.
	PendingFingerprint e2e.Fingerprint
	// Label is the user's own name for the peer ([Node.SetLabel]), shown
	// instead of Name on the user's screens; empty if none. Peers never
	// see it.
	Label string
	// Blocked peers are refused ([Node.Block]) until [Node.Unblock].
	Blocked bool
	// Stranger marks a peer that only connected: no contact until the
	// user writes to it, connects to it or accepts it (stranger.go).
	Stranger bool
	// NameCollides marks a peer whose name looks like another listed
	// peer's ([NamesLookAlike]) under another fingerprint: front ends
	// then show its fingerprint's first [MinFingerprintPrefix] hex digits
	// with the name.
	NameCollides bool
}

// PeerState is whether a known peer has a live session.
type PeerState string

// Peer states. The headless API prints them as they are.
const (
	PeerOnline  PeerState = "online"  // a live end-to-end session
	PeerOffline PeerState = "offline" // no live session
)

// Errors callers branch on. The headless API maps each to an error code.
var (
	ErrUnknownPeer         = errors.New("p2p: unknown peer")
	ErrKeyChanged          = errors.New("p2p: peer key changed; accept the new key first")
	ErrFingerprintMismatch = errors.New("p2p: fingerprint does not match the peer's key")
	ErrTooLarge            = errors.New("p2p: message too large")
	ErrBadAddress          = errors.New("p2p: bad address")
	ErrDialFailed          = errors.New("p2p: dial failed")
	ErrClosed              = errors.New("p2p: node closed")
	ErrNoSession           = errors.New("p2p: no live session with that peer") // or, from SafetyNumber: its keys were never seen
	// ErrBlocked is [Node.Send]'s answer for a peer the user blocked.
	ErrBlocked = errors.New("p2p: peer is blocked; unblock it first")
	// ErrNothingToAccept is [Node.TrustNewKey]'s answer when the peer's
	// key did not change: there is no new key to accept.
	ErrNothingToAccept = errors.New("p2p: the peer's key has not changed; nothing to accept")
	// ErrInvalidName is returned for a name or label that is not 1-32
	// printable characters ([ValidName]).
	ErrInvalidName = errors.New("p2p: a name is 1-32 printable characters")
	// ErrNoAddress is [Node.ConnectPeer]'s answer for a contact with no
	// known address: dial an address or an invite instead.
	ErrNoAddress = errors.New("p2p: no known address for that peer")
)

// MaxMessageText is the largest message text a user may send (64 KiB).
const MaxMessageText = 64 << 10

// DialTimeout bounds a Connect: connection, handshake and first records.
const DialTimeout = 20 * time.Second

// The methods below are the node's whole public surface; node.go implements
// them.
var _ interface {
	Events() <-chan Event
	Connect(ctx context.Context, addr multiaddr.Multiaddr) (Connected, error)
	ConnectPeer(ctx context.Context, query string) (Connected, error)
	Send(ctx context.Context, to, text string) (string, error)
	SendTo(ctx context.Context, to, text string) (peerID, msgID string, err error)
	Peers() []PeerInfo
	Verify(peerID string, fp e2e.Fingerprint) error
	TrustNewKey(peerID string, fp e2e.Fingerprint) error
	SafetyNumber(peerID string) (string, error)
	Block(peerID string) error
	Unblock(peerID string) error
	Forget(peerID string) error
	SetLabel(peerID, label string) error
	SetName(name string) error
	Name() string
	History(peerID string, limit int) ([]HistoryEntry, error)
	HistoryBefore(peerID string, before uint64, limit int) ([]HistoryEntry, error)
	PeerID() string
	Fingerprint() e2e.Fingerprint
	Addrs() []string
	SendFile(ctx context.Context, to, path string) (peerID, fileID string, err error)
	AcceptFile(fileID, path string) error
	RejectFile(fileID string) error
	Transfers() []Transfer
	Close() error
} = (*Node)(nil)
