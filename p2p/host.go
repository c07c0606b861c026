package p2p

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	tcp "github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/relay"
)

// Resource limits. A chat node talks to its peers over one stream each;
// the limits leave room for that and for libp2p's own protocols while
// keeping a flood of connections or streams from exhausting memory or file
// descriptors. The node-wide ones grow with [Config.MaxSessions]
// (capacityLimits); the per-peer ones do not.
const (
	// defaultMaxSessions is [Config.MaxSessions] when it is 0: the limits
	// derived from it are those of libp2p's defaults scaled to
	// rcmgrMemory and rcmgrFDs.
	defaultMaxSessions = 64

	// rcmgrMemory and rcmgrFDs are what the scaled limits are computed for
	// (the defaults of every scope not derived from MaxSessions); the
	// node's descriptor limit never goes below rcmgrFDs.
	rcmgrMemory = 256 << 20
	rcmgrFDs    = 1024

	// Chat streams: one live session per peer, plus a simultaneous dial
	// and a reconnect that may overlap it for a moment.
	chatStreamsPerPeer = 4
	// chatMemoryPerPeer bounds the stream buffers of one peer's chat
	// streams; yamux asks the resource manager before it grows a window.
	chatMemoryPerPeer = 16 << 20
	// chatMemoryPerSession is the chat protocol's memory over all peers,
	// per session the node is sized for: one peer may grow its windows to
	// chatMemoryPerPeer, but not all of them at once.
	chatMemoryPerSession = 2 << 20
	// libp2pMemory is the node's memory beyond the chat streams: libp2p's
	// own protocols and the connections' buffers.
	libp2pMemory = 256 << 20

	connGrace = time.Minute
)

// limitsFor holds the node-wide limits derived from the number of sessions
// the node is sized for.
type limitsFor struct {
	// ConnsInbound and Conns are the resource manager's system connection
	// limits (Conns also bounds outbound ones), FDs its descriptors and
	// Memory its memory.
	ConnsInbound, Conns, FDs int
	Memory                   int64
	// StreamsInbound and Streams bound the streams of all protocols.
	StreamsInbound, Streams int
	// ChatStreams and ChatMemory bound the chat protocol over all peers.
	ChatStreams int
	ChatMemory  int64
	// ConnLow and ConnHigh are the connection manager's watermarks.
	ConnLow, ConnHigh int
}

// capacityLimits derives the node-wide limits for maxSessions concurrent
// sessions (defaultMaxSessions if it is not positive). For the default
// they equal libp2p's defaults scaled to rcmgrMemory and rcmgrFDs (80
// inbound connections, 160 in all, 1024 descriptors) and the chat limits
// the node always had.
//
// Inbound connections leave a quarter more than the sessions, for peers
// that connect before their handshake is admitted or after their session
// ended; all connections twice that, since a session may be dialled either
// way. The connection manager trims above ConnHigh (twice the sessions),
// below the resource manager's Conns, so it acts before the limit refuses,
// and never trims a peer with a live session (handler.go protects it).
func capacityLimits(maxSessions int) limitsFor {
	if maxSessions <= 0 {
		maxSessions = defaultMaxSessions
	}
	s := maxSessions
	l := limitsFor{
		ConnsInbound:   s + s/4,
		Conns:          2 * (s + s/4),
		StreamsInbound: systemStreamsInboundPerSession * s,
		Streams:        systemStreamsPerSession * s,
		ChatStreams:    chatStreamsPerPeer * s,
		ChatMemory:     chatMemoryPerSession * int64(s),
		ConnLow:        s,
		ConnHigh:       2 * s,
	}
	// A TCP connection holds one descriptor; listeners, the store and the
	// rest of the process need a few more.
	l.FDs = max(rcmgrFDs, l.Conns+rcmgrFDs/4)
	l.Memory = l.ChatMemory + libp2pMemory
	return l
}

// defaultListenAddrs are TCP and QUIC on every IPv4 and IPv6 interface, on
// ports the kernel picks, or those a persistent node had last time
// (ports.go).
var defaultListenAddrs = []string{
	"/ip4/0.0.0.0/tcp/0",
	"/ip6/::/tcp/0",
	"/ip4/0.0.0.0/udp/0/quic-v1",
	"/ip6/::/udp/0/quic-v1",
}

// newResourceManager returns the resource manager with the chat protocol's
// limits added to libp2p's scaled defaults, and the node-wide limits those
// of cl.
func newResourceManager(cl limitsFor) (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	relay.ServiceLimits(&limits) // used only with Config.ServeRelay
	// libp2p's defaults are sized for IPFS; a chat node needs far fewer
	// streams per peer and in total (limits.go).
	limits.PeerBaseLimit.StreamsInbound = peerStreamsInbound
	limits.PeerBaseLimit.StreamsOutbound = peerStreams
	limits.PeerBaseLimit.Streams = peerStreams
	limits.PeerBaseLimit.Memory = peerMemory
	limits.PeerLimitIncrease = rcmgr.BaseLimitIncrease{FDFraction: limits.PeerLimitIncrease.FDFraction}
	// The system limits are cl's alone, with no per-GiB increase (the
	// other scopes keep libp2p's, scaled to rcmgrMemory and rcmgrFDs).
	limits.SystemBaseLimit.StreamsInbound = cl.StreamsInbound
	limits.SystemBaseLimit.StreamsOutbound = cl.Streams
	limits.SystemBaseLimit.Streams = cl.Streams
	limits.SystemBaseLimit.ConnsInbound = cl.ConnsInbound
	limits.SystemBaseLimit.ConnsOutbound = cl.Conns
	limits.SystemBaseLimit.Conns = cl.Conns
	limits.SystemBaseLimit.Memory = cl.Memory
	limits.SystemBaseLimit.FD = cl.FDs
	limits.SystemLimitIncrease = rcmgr.BaseLimitIncrease{}
	limits.TransientBaseLimit.StreamsInbound = transientStreamsInbound
	limits.TransientLimitIncrease.StreamsInbound = 0
	limits.AddProtocolLimit(protocol.ID(e2e.ProtocolID),
		rcmgr.BaseLimit{
			Streams:         cl.ChatStreams,
			StreamsInbound:  cl.ChatStreams,
			StreamsOutbound: cl.ChatStreams,
			Memory:          cl.ChatMemory,
		}, rcmgr.BaseLimitIncrease{})
	limits.AddProtocolPeerLimit(protocol.ID(e2e.ProtocolID),
		rcmgr.BaseLimit{
			Streams:         chatStreamsPerPeer,
			StreamsInbound:  chatStreamsPerPeer / 2,
			StreamsOutbound: chatStreamsPerPeer / 2,
			Memory:          chatMemoryPerPeer,
		}, rcmgr.BaseLimitIncrease{})
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.Scale(rcmgrMemory, rcmgrFDs)))
	if err != nil {
		return nil, fmt.Errorf("resource manager: %w", err)
	}
	return rm, nil
}

// newHost builds the go-libp2p host: TCP secured by Noise alone (no TLS is
// offered) and multiplexed by yamux, QUIC v1 (whose TLS 1.3 libp2p always
// uses), the resource manager on, the circuit relay v2 transport (dialing
// and accepting relayed connections; serving as a relay and holding
// reservations are p2p/relay's, started by startWAN), and nothing that
// would map ports on the router or talk to peers we did not ask for.
// The connection manager's watermarks are cl's. Extra options (the node's
// connection gater) come last. Without listen addresses the host listens
// on nothing yet (the node then listens on its defaults: ports.go).
func newHost(key crypto.PrivKey, listen []multiaddr.Multiaddr, rm network.ResourceManager, cl limitsFor, extra ...libp2p.Option) (host.Host, error) {
	listenOpt := libp2p.NoListenAddrs
	if len(listen) > 0 {
		listenOpt = libp2p.ListenAddrs(listen...)
	}
	cm, err := connmgr.NewConnManager(cl.ConnLow, cl.ConnHigh, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		listenOpt,
		// After listenOpt: libp2p.NoListenAddrs also turns the relay
		// transport off, and without it a node started on its default
		// ports can neither dial a circuit nor accept one.
		libp2p.EnableRelay(),
		// Without port reuse, two nodes that dial each other at once
		// get two TCP connections; with it, both dials share one 4-tuple
		// and TCP's simultaneous open leaves both sides initiators of one
		// Noise handshake, which fails. Hole punching relies on QUIC.
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableMetrics(),
	}
	h, err := libp2p.New(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	return h, nil
}

// hostSigner adapts the libp2p host key to [e2e.HostSigner].
type hostSigner struct{ key crypto.PrivKey }

// PublicKey returns the host's public key in libp2p's marshalled form.
func (s hostSigner) PublicKey() []byte {
	b, err := crypto.MarshalPublicKey(s.key.GetPublic())
	if err != nil {
		return nil // NewBundle refuses an empty key
	}
	return b
}

// Sign signs msg with the host key.
func (s hostSigner) Sign(msg []byte) ([]byte, error) { return s.key.Sign(msg) }

var errHostSig = errors.New("p2p: bad host signature")

// verifyHost is the [e2e.HostVerifier]: hostKey must be the key behind
// peerID, and sig its signature over msg.
func verifyHost(peerID, hostKey, msg, sig []byte) error {
	pub, err := crypto.UnmarshalPublicKey(hostKey)
	if err != nil {
		return errHostSig
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil || string(id) != string(peerID) {
		return errHostSig
	}
	ok, err := pub.Verify(msg, sig)
	if err != nil || !ok {
		return errHostSig
	}
	return nil
}

// fullAddrs returns h's listen addresses, the ones actually bound with the
// unspecified IPs expanded to the interfaces' addresses, each ending in
// /p2p/<id>.
func fullAddrs(h host.Host) []string {
	suffix, err := multiaddr.NewComponent("p2p", h.ID().String())
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range h.Addrs() {
		out = append(out, a.Encapsulate(suffix.Multiaddr()).String())
	}
	return out
}
