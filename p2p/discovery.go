package p2p

import (
	"context"
	"errors"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/mdns"
)

// startDiscovery starts mDNS discovery (package mdns) for the node.
func (n *Node) startDiscovery(cfg mdns.Config) *mdns.Discovery {
	if cfg.Logger == nil {
		cfg.Logger = n.log
	}
	return mdns.New(n.host, discoveryPeers{n}, cfg)
}

// discoveryPeers is the node as mDNS discovery sees it.
type discoveryPeers struct{ n *Node }

// Wanted refuses blocked peers, and every peer once Close has begun.
func (p discoveryPeers) Wanted(id peer.ID) bool {
	n := p.n
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return false
	}
	c, ok, err := n.store.Contact(id.String())
	return err == nil && !(ok && c.Blocked)
}

// State reports whether id has a live session, and whether it has a
// session, a handshake or a dial under way.
func (p discoveryPeers) State(id peer.ID) (live, busy bool) {
	n := p.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if ps := n.peers[id]; ps != nil {
		live = ps.up && ps.current != nil
		busy = ps.current != nil || ps.pending > 0 || ps.dialing != nil
	}
	return live, busy
}

// Found raises PeerFound via "mdns".
func (p discoveryPeers) Found(ai peer.AddrInfo) { p.n.peerFound(ai, "mdns") }

// Dial dials ai and reports a failure as DialFailed, unless the node or
// the discovery is closing or the peer was already reported.
func (p discoveryPeers) Dial(ctx context.Context, ai peer.AddrInfo, addr multiaddr.Multiaddr) {
	n := p.n
	// The swarm tries every announced address; addr (the preferred one)
	// names the attempt.
	err := n.dial(ctx, &ai, addr.String())
	if err == nil || ctx.Err() != nil || n.ctx.Err() != nil || errors.Is(err, ErrClosed) {
		return
	}
	// A peer refused for a changed key or a block was already reported
	// (alert) or is unwanted: no dial error on top.
	if c, ok, _ := n.store.Contact(ai.ID.String()); ok && (c.Blocked || !c.PendingFingerprint.IsZero()) {
		return
	}
	n.log.Debug("mDNS: dial failed", "peer_id", ai.ID.String(), "err", err)
	n.emit(DialFailed{Addr: addr.String(), Err: err.Error(), Reason: DescribeDialError(err)})
}

// peerFound is called once per discovery of a peer (not once per
// announcement), with the peer's usable addresses and how it was found
// ("mdns"). It raises PeerFound.
//
// Hook for the redial logic (issue 4): a peer just seen on the LAN is
// reachable now, so this is the place to reset its redial backoff (and to
// remember ai.Addrs as its latest addresses). Keep this method cheap and
// non-blocking beyond the event: the discovery worker calls it.
func (n *Node) peerFound(ai peer.AddrInfo, via string) {
	n.emit(PeerFound{PeerID: ai.ID.String(), Via: via})
	n.redial.reset(ai.ID) // reachable now: redial without waiting out the backoff
}
