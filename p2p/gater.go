package p2p

import (
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/store"
)

// A gater is the node's libp2p connection gater: it refuses every
// connection to or from a blocked peer, as soon as the peer's ID is known
// (before a dial, right after the security handshake of an incoming
// connection), so a blocked peer never gets a stream, let alone a chat
// handshake. The set of blocked peers comes from the store at start
// ([store.Contact.Blocked]) and grows with [Node.Block].
type gater struct {
	mu      sync.RWMutex
	blocked map[peer.ID]struct{}
}

var _ connmgr.ConnectionGater = (*gater)(nil)

func newGater() *gater { return &gater{blocked: make(map[peer.ID]struct{})} }

// load adds every contact the store marks as blocked.
func (g *gater) load(st store.Store) error {
	contacts, err := st.Contacts()
	if err != nil {
		return fmt.Errorf("list contacts: %w", err)
	}
	for _, c := range contacts {
		if !c.Blocked {
			continue
		}
		if p, err := peer.Decode(c.PeerID); err == nil {
			g.block(p)
		}
	}
	return nil
}

// block adds p to the blocked set.
func (g *gater) block(p peer.ID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.blocked[p] = struct{}{}
}

// isBlocked reports whether p is blocked.
func (g *gater) isBlocked(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, ok := g.blocked[p]
	return ok
}

// InterceptPeerDial refuses to dial a blocked peer.
func (g *gater) InterceptPeerDial(p peer.ID) bool { return !g.isBlocked(p) }

// InterceptAddrDial refuses to dial a blocked peer at any address.
func (g *gater) InterceptAddrDial(p peer.ID, _ multiaddr.Multiaddr) bool { return !g.isBlocked(p) }

// InterceptAccept lets every incoming connection reach the security
// handshake: the peer's ID is not known before it.
func (g *gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured refuses a connection, in either direction, whose
// authenticated peer is blocked.
func (g *gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !g.isBlocked(p)
}

// InterceptUpgraded checks again after the muxer is up, for a peer blocked
// while its connection was being upgraded.
func (g *gater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return !g.isBlocked(c.RemotePeer()), 0
}
