package p2p

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// Connect dials addr, which must end in /p2p/<peer-id>, and sets up an
// end-to-end session as the initiator. It returns nil once the session is up
// (at once if one already is), or an error wrapping [ErrBadAddress] or
// [ErrDialFailed]. The whole attempt is bounded by [DialTimeout].
func (n *Node) Connect(ctx context.Context, addr multiaddr.Multiaddr) error {
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil || len(info.Addrs) == 0 {
		return fmt.Errorf("%w: %s: must be a transport address ending in /p2p/<peer-id>", ErrBadAddress, addr)
	}
	if info.ID == n.host.ID() {
		return fmt.Errorf("%w: %s is this node", ErrBadAddress, addr)
	}
	return n.dial(ctx, info, addr.String())
}

// dial is Connect for a peer and its addresses; addr names the attempt in
// errors and logs. The redialer (redial.go) calls it too.
func (n *Node) dial(ctx context.Context, info *peer.AddrInfo, addr string) error {
	if err := n.enter(); err != nil {
		return err
	}
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	stop := context.AfterFunc(n.ctx, cancel)
	defer stop()

	// One dial per peer at a time: a second Connect waits for the first,
	// so two sessions in the same direction never race each other.
	for {
		n.mu.Lock()
		ps := n.peer(info.ID)
		if ps.up && ps.current != nil {
			n.mu.Unlock()
			return nil
		}
		if ps.dialing == nil {
			ps.dialing = make(chan struct{})
			ps.pending++ // ended by runSession, or below if no stream opens
			ps.notify()
			n.mu.Unlock()
			break
		}
		dialing := ps.dialing
		n.mu.Unlock()
		select {
		case <-dialing:
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrDialFailed, addr, ctx.Err())
		}
	}
	defer func() {
		n.mu.Lock()
		ps := n.peer(info.ID)
		close(ps.dialing)
		ps.dialing = nil
		n.prune(info.ID, ps)
		n.mu.Unlock()
	}()

	st, err := n.openChat(ctx, info)
	if err != nil {
		n.endPending(info.ID)
		n.log.Debug("dial failed", "addr", addr, "err", err)
		return fmt.Errorf("%w: %s: %w", ErrDialFailed, addr, err)
	}
	n.emit(PeerFound{PeerID: info.ID.String(), Via: "dial"})
	if !n.goTracked(func() { n.runSession(st, true) }) {
		n.endPending(info.ID)
		_ = st.Reset()
		return ErrClosed
	}
	if err := n.waitUp(ctx, info.ID); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrDialFailed, addr, err)
	}
	return nil
}

// openChat connects to the peer and opens a chat stream to it.
func (n *Node) openChat(ctx context.Context, info *peer.AddrInfo) (network.Stream, error) {
	n.host.Peerstore().AddAddrs(info.ID, info.Addrs, peerstore.TempAddrTTL)
	if err := n.host.Connect(ctx, *info); err != nil {
		return nil, err
	}
	s, err := n.host.NewStream(ctx, info.ID, protocol.ID(e2e.ProtocolID))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// resolve finds the contact that to names, and returns its peer ID both
// as an ID and as a string (encoding one costs a base58 pass): a peer ID
// costs one store read, a fingerprint a scan of the contacts (if several
// contacts share it, one with a live session wins, else the first).
// Sending to a peer whose key changed is refused until the user accepted
// the new key; blocked peers are unknown.
func (n *Node) resolve(to string) (peer.ID, string, error) {
	to = strings.TrimSpace(to)
	if p, err := peer.Decode(to); err == nil {
		pid := p.String()
		c, ok, err := n.store.Contact(pid)
		if err != nil {
			return "", "", err
		}
		if !ok || c.Blocked {
			return "", "", ErrUnknownPeer
		}
		if !c.PendingFingerprint.IsZero() {
			return "", "", ErrKeyChanged
		}
		return p, pid, nil
	}
	fp, err := e2e.ParseFingerprint(strings.ToLower(to))
	if err != nil {
		return "", "", ErrUnknownPeer
	}
	contacts, err := n.store.Contacts()
	if err != nil {
		return "", "", err
	}
	var found *store.Contact
	for i, c := range contacts {
		if !c.Fingerprint.Equal(fp) || c.Blocked {
			continue
		}
		if found == nil {
			found = &contacts[i]
		}
		if p, err := peer.Decode(c.PeerID); err == nil && n.online(p) {
			found = &contacts[i]
			break
		}
	}
	if found == nil {
		return "", "", ErrUnknownPeer
	}
	if !found.PendingFingerprint.IsZero() {
		return "", "", ErrKeyChanged
	}
	p, err := peer.Decode(found.PeerID)
	if err != nil {
		return "", "", err
	}
	return p, found.PeerID, nil
}

// online reports whether p has a live session that is up.
func (n *Node) online(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	ps := n.peers[p]
	return ps != nil && ps.up && ps.current != nil
}

func hexID(id [messageIDLen]byte) string { return hex.EncodeToString(id[:]) }
