package p2p

import (
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/protocol/autonatv2"
)

// autonatMode is what of AutoNAT v2 a node runs.
//
// libp2p's AutoNAT v2 asks a server that supports it to dial back the
// node's public addresses, and the host marks each address reachable or
// unreachable (event.EvtHostReachableAddrsChanged). Its server side dials
// back any public address a peer names, within libp2p's rate limits and
// its amplification check, so only a node run as a relay serves it: that
// node is public by intent, and is the server a node behind a NAT has.
// Its client asks only peers that run the server, but a LAN node has no
// business asking anything, so only a node with relays (or a relay) runs
// it. Neither side ever probes a private or loopback address: libp2p
// refuses them, so in the NAT testbed (10.232.0.0/16) no probe completes.
type autonatMode int

const (
	autonatOff    autonatMode = iota // an ordinary node: neither side
	autonatClient                    // Config.Relays: the client alone
	autonatServer                    // Config.ServeRelay: client and server
)

// autonatModeFor is the AutoNAT v2 mode cfg asks for.
func autonatModeFor(cfg Config) autonatMode {
	switch {
	case cfg.ServeRelay:
		return autonatServer
	case len(cfg.Relays) > 0:
		return autonatClient
	}
	return autonatOff
}

// dropAutoNATServer removes the AutoNAT v2 server's handler from h unless
// the node serves it. libp2p.EnableAutoNATv2 starts the client and the
// server together when the host starts; the caller runs this before the
// node listens on its default addresses, so a node with Config.Relays
// never offers the server. (With explicit Config.ListenAddrs the host
// listens from its start: the handler is there for the moment between
// libp2p.New and this call.)
func (w *wanState) dropAutoNATServer(h host.Host) {
	if w.autonat == autonatClient {
		h.RemoveStreamHandler(autonatv2.DialProtocol)
	}
}

// reachabilityV2 maps AutoNAT v2's verdict on the node's addresses to one
// reachability: public when some address was reached from outside,
// private when the addresses probed were all unreachable, unknown before
// any probe completed.
func reachabilityV2(e event.EvtHostReachableAddrsChanged) string {
	switch {
	case len(e.Reachable) > 0:
		return ReachabilityPublic
	case len(e.Unreachable) > 0:
		return ReachabilityPrivate
	}
	return ReachabilityUnknown
}
