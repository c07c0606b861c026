package p2p

import (
	"context"
	"errors"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/libp2p/go-libp2p/p2p/protocol/identify"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/securechat/securechat/e2e"
)

// The path switch. A session that came up over a relayed connection moves
// to a direct one as soon as one appears (a hole punch succeeded, or either
// side dialled the other directly): the side with the lower peer ID opens a
// new chat stream on the direct connection and runs a new handshake; the
// new session replaces the relayed one on both sides (register's rule: the
// session the lower peer ID initiated always wins), which is reset. The
// outbox resends every unacknowledged message on the new session and the
// receiver's history drops the ones it already has, so the move loses,
// repeats and reorders nothing; recvLock keeps the two sessions' receivers
// from interleaving while they overlap. Both sides raise PathChanged.
//
// Only the lower peer ID moves, so that the two sides do not both pay an
// RSA handshake and then drop one of them.

// pathQueue bounds the direct connections waiting to be looked at; past it
// a check is dropped (the session stays on its relayed path, which works).
const pathQueue = 64

// recvStripes is the number of locks that order message receipt per peer
// (a peer always maps to the same one).
const recvStripes = 64

var recvSeed = maphash.MakeSeed()

// recvLock is the lock that orders the receipt of p's messages across its
// sessions (onChat).
func (n *Node) recvLock(p peer.ID) *sync.Mutex {
	return &n.wan.recv[maphash.String(recvSeed, string(p))%recvStripes]
}

// isRelayed reports whether c goes through a circuit relay: a limited
// connection, or one whose remote address is a circuit (a relay with no
// limits at all gives an unlimited one).
func isRelayed(c network.Conn) bool {
	return c.Stat().Limited || isCircuit(c.RemoteMultiaddr())
}

// connKind is ConnRelayed or ConnDirect for c (ConnDirect for nil).
func connKind(c network.Conn) string {
	if c != nil && isRelayed(c) {
		return ConnRelayed
	}
	return ConnDirect
}

// startPaths watches for direct connections to peers whose session is
// relayed. The notifiee only queues the peer; one goroutine owned by the
// node does the rest.
func (n *Node) startPaths() {
	nb := &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		if !isRelayed(c) {
			n.queuePath(c.RemotePeer())
		}
	}}
	n.host.Network().Notify(nb)
	if !n.goTracked(func() {
		defer n.host.Network().StopNotify(nb)
		for {
			select {
			case <-n.ctx.Done():
				return
			case p := <-n.wan.paths:
				n.movePath(p)
			}
		}
	}) {
		n.host.Network().StopNotify(nb)
	}
}

// queuePath asks for p's session to be moved to a direct connection if it
// is relayed and one exists. It never blocks.
func (n *Node) queuePath(p peer.ID) {
	if n.host.ID() > p {
		return // the other side moves the session
	}
	select {
	case n.wan.paths <- p:
	default:
	}
}

// movePath opens a new chat stream to p on a direct connection, if p's live
// session is relayed and no other handshake with p is under way.
func (n *Node) movePath(p peer.ID) {
	if !n.hasDirectConn(p) {
		return
	}
	n.mu.Lock()
	ps := n.peers[p]
	if ps == nil || !ps.up || ps.current == nil || ps.pending > 0 || ps.dialing != nil ||
		!isRelayed(ps.current.st.Conn()) || n.closed {
		n.mu.Unlock()
		return
	}
	ps.dialing = make(chan struct{})
	ps.pending++ // ended by runSession, or below
	ps.notify()
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		ps := n.peer(p)
		close(ps.dialing)
		ps.dialing = nil
		n.prune(p, ps)
		n.mu.Unlock()
	}()
	// The direct connection was there a moment ago; if it went meanwhile,
	// libp2p would wait for another one, so the wait is short.
	ctx, cancel := context.WithTimeout(n.ctx, moveTimeout)
	defer cancel()
	// No dial, and no limited connection: the stream goes on an existing
	// direct connection or nowhere.
	st, err := n.host.NewStream(network.WithNoDial(ctx, "move session to direct connection"), p, protocol.ID(e2e.ProtocolID))
	if err == nil && isRelayed(st.Conn()) {
		_ = st.Reset()
		err = errors.New("no direct connection")
	}
	if err != nil {
		n.endPending(p)
		n.log.Debug("session move failed", "peer_id", p.String(), "err", err)
		return
	}
	if !n.goTracked(func() { n.runSession(st, true) }) {
		n.endPending(p)
		_ = st.Reset()
	}
}

// moveTimeout bounds the opening of the stream that moves a session.
const moveTimeout = 5 * time.Second

// hasDirectConn reports whether the host has a direct connection to p.
func (n *Node) hasDirectConn(p peer.ID) bool {
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if !isRelayed(c) {
			return true
		}
	}
	return false
}

// sessionPath records ss's connection kind as p's path when its session
// comes up, and asks for a move if it is relayed. The caller holds n.mu.
func (n *Node) sessionPath(ps *peerState, ss *session) string {
	ps.conn = connKind(ss.st.Conn())
	if ps.conn == ConnRelayed {
		n.queuePath(ss.peer) // a direct connection may already be there
	}
	return ps.conn
}

// pathEvents returns PathChanged if ss, which took over p's live session,
// runs on another kind of connection than the one last reported. The
// caller holds n.mu.
func (n *Node) pathEvents(ps *peerState, ss *session) []Event {
	kind := connKind(ss.st.Conn())
	if kind == ps.conn {
		return nil
	}
	ps.conn = kind
	return []Event{PathChanged{PeerID: ss.pid, Conn: kind}}
}

// startHolePunch runs libp2p's hole-punching service with the addresses
// that Config.HolePunchPrivate allows: libp2p's own service only offers
// public addresses and does not even start without one, so a node behind
// a carrier-grade or nested NAT (or in a test network) needs this one.
func (n *Node) startHolePunch() error {
	h, ok := n.host.(interface{ IDService() identify.IDService })
	if !ok {
		return errors.New("hole punching: host has no identify service")
	}
	svc, err := holepunch.NewService(n.host, h.IDService(), n.punchAddrs, holepunch.WithAddrFilter(quicOnly{}),
		holepunch.WithTracer(&n.wan.punches))
	if err != nil {
		return err
	}
	n.wan.hps = svc
	return nil
}

// punchAddrs are the addresses offered for a hole punch with
// HolePunchPrivate: the host's own and observed addresses, public or in a
// private range, never loopback or circuit addresses.
func (n *Node) punchAddrs() []multiaddr.Multiaddr {
	var out []multiaddr.Multiaddr
	for _, a := range append(n.host.Addrs(), n.wan.observed.list()...) {
		if isCircuit(a) || manet.IsIPLoopback(a) || manet.IsIPUnspecified(a) {
			continue
		}
		if manet.IsPublicAddr(a) || manet.IsPrivateAddr(a) {
			out = append(out, a)
		}
	}
	return multiaddr.Unique(out)
}

// quicOnly keeps QUIC addresses for hole punching: TCP cannot be punched
// without TCP port reuse, which the host leaves off (host.go: with it, two
// nodes dialling each other at once end in a failed Noise handshake).
type quicOnly struct{}

func (quicOnly) FilterLocal(_ peer.ID, a []multiaddr.Multiaddr) []multiaddr.Multiaddr {
	return onlyQUIC(a)
}

func (quicOnly) FilterRemote(_ peer.ID, a []multiaddr.Multiaddr) []multiaddr.Multiaddr {
	return onlyQUIC(a)
}

func onlyQUIC(addrs []multiaddr.Multiaddr) []multiaddr.Multiaddr {
	return slices.DeleteFunc(slices.Clone(addrs), func(a multiaddr.Multiaddr) bool {
		_, err := a.ValueForProtocol(multiaddr.P_QUIC_V1)
		return err != nil
	})
}

// maxObserved bounds the outside addresses remembered for hole punching.
const maxObserved = 8

// observedAddrs are this node's addresses as its peers saw them (identify),
// the newest first.
type observedAddrs struct {
	mu    sync.Mutex
	addrs []multiaddr.Multiaddr
}

func (o *observedAddrs) add(a multiaddr.Multiaddr) {
	if a == nil || isCircuit(a) {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.addrs = slices.DeleteFunc(o.addrs, a.Equal)
	o.addrs = append([]multiaddr.Multiaddr{a}, o.addrs...)
	if len(o.addrs) > maxObserved {
		o.addrs = o.addrs[:maxObserved]
	}
}

func (o *observedAddrs) list() []multiaddr.Multiaddr {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.addrs)
}
