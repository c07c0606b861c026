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
)

// Resource limits. A chat node talks to a handful of peers over one stream
// each; the limits leave room for that and for libp2p's own protocols while
// keeping a flood of connections or streams from exhausting memory or file
// descriptors.
const (
	// rcmgrMemory and rcmgrFDs are what the scaled limits are computed for.
	rcmgrMemory = 256 << 20
	rcmgrFDs    = 1024

	// Chat streams: one live session per peer, plus a simultaneous dial
	// and a reconnect that may overlap it for a moment.
	chatStreamsPerPeer = 4
	chatStreamsTotal   = 256
	// chatMemoryPerPeer bounds the stream buffers of one peer's chat
	// streams; yamux asks the resource manager before it grows a window.
	chatMemoryPerPeer = 16 << 20
	chatMemoryTotal   = 128 << 20

	// connLow and connHigh are the connection manager's watermarks. They
	// sit below the resource manager's connection limit for the scaled
	// defaults (160), so the manager trims before the limit refuses, and
	// peers with a live session are protected from trimming.
	connLow   = 64
	connHigh  = 128
	connGrace = time.Minute
)

// defaultListenAddrs are TCP and QUIC on every IPv4 and IPv6 interface, on
// ports the kernel picks.
var defaultListenAddrs = []string{
	"/ip4/0.0.0.0/tcp/0",
	"/ip6/::/tcp/0",
	"/ip4/0.0.0.0/udp/0/quic-v1",
	"/ip6/::/udp/0/quic-v1",
}

// newResourceManager returns the resource manager with the chat protocol's
// limits added to libp2p's scaled defaults.
func newResourceManager() (network.ResourceManager, error) {
	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	// libp2p's defaults are sized for IPFS; a chat node needs far fewer
	// streams per peer and in total (limits.go).
	limits.PeerBaseLimit.StreamsInbound = peerStreamsInbound
	limits.PeerBaseLimit.StreamsOutbound = peerStreams
	limits.PeerBaseLimit.Streams = peerStreams
	limits.PeerBaseLimit.Memory = peerMemory
	limits.PeerLimitIncrease = rcmgr.BaseLimitIncrease{FDFraction: limits.PeerLimitIncrease.FDFraction}
	limits.SystemBaseLimit.StreamsInbound = systemStreamsInbound
	limits.SystemBaseLimit.StreamsOutbound = systemStreams
	limits.SystemBaseLimit.Streams = systemStreams
	limits.SystemLimitIncrease.StreamsInbound = 0
	limits.SystemLimitIncrease.StreamsOutbound = 0
	limits.SystemLimitIncrease.Streams = 0
	limits.TransientBaseLimit.StreamsInbound = transientStreamsInbound
	limits.TransientLimitIncrease.StreamsInbound = 0
	limits.AddProtocolLimit(protocol.ID(e2e.ProtocolID),
		rcmgr.BaseLimit{
			Streams:         chatStreamsTotal,
			StreamsInbound:  chatStreamsTotal,
			StreamsOutbound: chatStreamsTotal,
			Memory:          chatMemoryTotal,
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
// uses), the resource manager on, and nothing that would make the node a
// relay, map ports on the router or talk to peers we did not ask for.
// Extra options (the node's connection gater) come last.
func newHost(key crypto.PrivKey, listen []multiaddr.Multiaddr, rm network.ResourceManager, extra ...libp2p.Option) (host.Host, error) {
	if len(listen) == 0 {
		for _, s := range defaultListenAddrs {
			listen = append(listen, multiaddr.StringCast(s))
		}
	}
	cm, err := connmgr.NewConnManager(connLow, connHigh, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		return nil, fmt.Errorf("connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrs(listen...),
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
		libp2p.DisableRelay(),
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
