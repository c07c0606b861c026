package p2p

import (
	"errors"
	"time"

	"github.com/securechat/securechat/e2e"
)

// A node on a LAN accepts connections from anyone who can reach it, so every
// resource a peer can make it spend has a bound. This file holds the bounds
// that have no other home; the others live next to the code that enforces
// them and are listed here so that the whole set can be reviewed in one
// place (README.md's security section repeats this list).
//
// Bytes on the wire
//   - [e2e.MaxFrameSize] (256 KiB): a frame's varint length is checked
//     before anything is allocated or read (e2e/frame.go).
//   - [e2e.MaxHandshakeMessage] (8 KiB): the same for handshake frames.
//   - [MaxMessageText] (64 KiB, api.go): what a user may send.
//   - [e2e.MaxChainLength] (2^20): record counters above it are refused
//     before any key derivation (e2e/session.go).
//
// Time
//   - [e2e.HandshakeTimeout] (10 s): one deadline over the whole handshake
//     (handler.go sets it from the node's settings, settings.go, which
//     also carry the two deadlines below: tests shorten them per node).
//   - [firstMessageTimeout] (3 s): a responder waits no longer for the
//     initiator's first handshake message, so silent streams give their
//     admission slot back soon.
//   - [frameTimeout] (10 s): once the first byte of a record arrived, the
//     rest of the frame must follow within it, so a peer cannot hold a
//     half-read 256 KiB buffer by sending a byte a second.
//   - [sessionIdleTimeout] (4 x [e2e.HeartbeatInterval] = 2 min): a live
//     session with no record at all for that long is cut.
//   - writeTimeout (30 s, session.go): a peer that stops reading loses its
//     session instead of holding our writer.
//
// Counts
//   - chatStreamsPerPeer, chatMemoryPerPeer (host.go): the resource
//     manager's per-peer limits for the chat protocol; peerStreams*,
//     peerMemory, transient* below tighten libp2p's defaults for
//     everything else.
//   - [Config.MaxSessions] (default 64): capacityLimits (host.go) derives
//     from it the node-wide limits: connections (inbound and in all),
//     descriptors, memory, streams (systemStreams*PerSession below), the
//     chat protocol's streams and memory over all peers, and the
//     connection manager's watermarks.
//   - [maxHandshakesInFlight], [maxContactHandshakes],
//     [maxHandshakesPerPeer], [handshakeRate],
//     [handshakeBurst], [peerHandshakeRate], [peerHandshakeBurst]
//     (ratelimit.go enforces them): responder handshakes, each of which
//     costs two RSA-3072 private-key operations (about 4 ms each).
//   - maxQueuedReceipts (16384, session.go): receipts owed to a peer that
//     does not read.
//   - [maxQueuedPerPeer], [maxQueuedBytesPerPeer]: messages waiting in the
//     outbox for a peer with no session; [sendWindow], [sendWindowBytes]:
//     unacknowledged messages to a peer with one, past which Send waits.
//   - eventBuffer (256, node.go): events waiting for the UI, which then
//     slows the sessions down (back pressure, never loss).
//   - maxInputLine (1 MiB, cmd/securechat/lines.go): a headless command
//     line; a longer one is answered with error "too_large" and skipped.
//   - [remoteLogRate], [remoteLogBurst]: log lines caused by peers.

// Stream deadlines.
const (
	// firstMessageTimeout bounds the wait for the initiator's first
	// handshake message (about 2 KiB, sent at once by an honest peer);
	// the rest of the handshake has the rest of e2e.HandshakeTimeout.
	firstMessageTimeout = 3 * time.Second

	// frameTimeout bounds the time between the first byte of a record's
	// frame and its last. A peer on a slow link still moves 256 KiB in
	// 10 s at 200 kbit/s; a peer that trickles bytes to pin our buffer is
	// cut.
	frameTimeout = 10 * time.Second

	// sessionIdleTimeout cuts a session that carried no record for this
	// long. Both sides answer every record they receive with a heartbeat
	// within [e2e.HeartbeatInterval] (plus the writer's tick, a quarter of
	// it), so a live but silent session sees a record from its peer at
	// least every 2.5 intervals; 4 leaves room for a slow link.
	sessionIdleTimeout = 4 * e2e.HeartbeatInterval
)

// Resource manager limits that tighten libp2p's defaults (which are sized
// for IPFS nodes with thousands of streams per peer). libp2p's own
// protocols (identify, ping) need a few streams per peer; the chat needs
// one. host.go applies them with no per-GiB increase.
const (
	// peerStreamsInbound and peerStreams bound one peer's streams over
	// all protocols (libp2p's scaled default: about 290 inbound).
	peerStreamsInbound = 32
	peerStreams        = 64
	// peerMemory bounds one peer's stream and connection buffers
	// (default: 96 MiB): two chat frames in flight each way fit easily.
	peerMemory = 32 << 20
	// systemStreamsInboundPerSession and systemStreamsPerSession bound
	// the whole node, per session it is sized for (capacityLimits in
	// host.go; libp2p's default: about 1000 inbound in all). For the
	// default 64 sessions: 512 inbound, 1024 in all.
	systemStreamsInboundPerSession = 8
	systemStreamsPerSession        = 16
	// transientStreamsInbound bounds streams whose protocol is not yet
	// negotiated (default: 128 plus increase).
	transientStreamsInbound = 64
)

// Responder handshake admission (ratelimit.go). A responder handshake
// signs once and unwraps once with RSA-3072, about 8 ms of CPU in all, and
// a peer can start one with a few bytes: these bounds make a flood cost the
// node almost nothing (a refused stream is reset before any read), while an
// honest peer that reconnects a few times in a row is never refused.
const (
	// maxHandshakesInFlight bounds responder handshakes running at once,
	// over all peers.
	maxHandshakesInFlight = 16
	// maxContactHandshakes is a pool of responder handshakes only
	// contacts can take once the shared slots are full (decided by the
	// remote peer ID, which the transport authenticated, before any RSA
	// work): silent streams from throwaway peer IDs cannot lock contacts
	// out. Contacts also skip the global token bucket.
	maxContactHandshakes = 8
	// maxHandshakesPerPeer bounds those of one peer (an honest peer has
	// one, two during a simultaneous dial).
	maxHandshakesPerPeer = 2
	// handshakeRate and handshakeBurst are the global token bucket: at
	// most 20 new responder handshakes a second (about 16% of one core)
	// after a burst of 40.
	handshakeRate  = 20.0
	handshakeBurst = 40
	// peerHandshakeRate and peerHandshakeBurst are each peer's bucket:
	// one a second after a burst of 8, so a single flooding peer cannot
	// take the global budget from everyone else.
	peerHandshakeRate  = 1.0
	peerHandshakeBurst = 8
	// maxTrackedPeers bounds the per-peer buckets kept; full buckets
	// carry no information and are dropped first.
	maxTrackedPeers = 4096
)

// The outbox of one peer (outqueue.go). Messages wait in it, in the store,
// until the peer's receipt comes back.
//
// While the peer's session is up, [Node.Send] is never refused for a full
// outbox: it waits while [sendWindow] messages or [sendWindowBytes] bytes
// of text are unacknowledged, until receipts make room, so a sender that
// outruns the link is slowed to its pace (the headless API then stops
// reading stdin). The window keeps what the writer has to push, and what
// the mirror holds in memory, small.
//
// Without a session the outbox can fill: [Node.Send] refuses with
// [ErrQueueFull] at [maxQueuedPerPeer] messages or [maxQueuedBytesPerPeer]
// bytes of text. The outbox is written only by the local user, but a
// script that sends in a loop to a peer that is gone would otherwise fill
// the disk. The receiver's dedupe set must stay larger than
// maxQueuedPerPeer (p2p/store/received.go, e2e/PROTOCOL.md "Chat
// payloads", rule 4), and so must [maxQueuedReceipts] (session.go): a
// session that comes up sends the whole outbox at once.
const (
	sendWindow      = 1000
	sendWindowBytes = 8 << 20
	// maxQueuedPerPeer and maxQueuedBytesPerPeer: 10,000 messages, and
	// 64 MiB (a thousand messages of the largest size).
	maxQueuedPerPeer      = 10000
	maxQueuedBytesPerPeer = 64 << 20
)

// defaultQueueLimits are the outbox bounds above, as settings carry them.
func defaultQueueLimits() queueLimits {
	return queueLimits{
		windowMsgs: sendWindow, windowBytes: sendWindowBytes,
		maxMsgs: maxQueuedPerPeer, maxBytes: maxQueuedBytesPerPeer,
	}
}

// ErrQueueFull is returned by [Node.Send] when the peer has no session and
// [maxQueuedPerPeer] messages or [maxQueuedBytesPerPeer] bytes already wait
// for it.
var ErrQueueFull = errors.New("p2p: too many messages queued for that peer")

// Logs of remote-caused failures are debug lines, and rate-limited: a peer
// must not be able to fill the disk or drown the real events.
const (
	remoteLogRate  = 10.0 // lines a second
	remoteLogBurst = 20
)

// Strangers (stranger.go): [maxStrangers], [maxStrangerBytes] and
// [maxStrangersBytes] bound the peers that are no contacts, and what they
// leave in memory. The redialer dials contacts only, at most
// [maxRedialsInFlight] at once, and wakes at most every [redialMinWake].
