package p2p

import (
	"context"
	"encoding/hex"
	"errors"
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
// end-to-end session as the initiator. Once the session is up (at once if
// one already is) it returns the peer and the kind of connection under the
// session; otherwise an error wrapping [ErrBadAddress] or [ErrDialFailed].
// The whole attempt is bounded by [DialTimeout].
func (n *Node) Connect(ctx context.Context, addr multiaddr.Multiaddr) (Connected, error) {
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil || len(info.Addrs) == 0 {
		return Connected{}, fmt.Errorf("%w: %s: must be a transport address ending in /p2p/<peer-id>", ErrBadAddress, addr)
	}
	if info.ID == n.host.ID() {
		return Connected{}, fmt.Errorf("%w: %s is this node", ErrBadAddress, addr)
	}
	return n.dialSession(ctx, info, addr.String())
}

// dialSession dials info (unless a session is up) and answers with the
// session that is up afterwards: Connect and ConnectInvite share it. The
// user connected to the peer, so a stranger becomes a contact
// (stranger.go); the redialer and mDNS call dial, which does not promote.
func (n *Node) dialSession(ctx context.Context, info *peer.AddrInfo, addr string) (Connected, error) {
	// A stranger already tracked becomes a contact under its pin; a
	// peer met by this dial is a contact from its first session.
	if err := n.promote(info.ID); err != nil {
		return Connected{}, err
	}
	done := n.strangers.want(info.ID)
	err := n.dial(ctx, info, addr)
	done()
	if perr := n.promote(info.ID); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return Connected{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ss := n.liveLocked(info.ID) // under the pin only (pin.go)
	if ss == nil {
		return Connected{}, fmt.Errorf("%w: %s: the session ended at once", ErrDialFailed, addr)
	}
	return Connected{PeerID: ss.pid, Conn: connKind(ss.st.Conn())}, nil
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
	// A relayed connection is limited (in time and bytes, by the relay);
	// the chat runs on it anyway, and moves to a direct one when it comes
	// (path.go). libp2p prefers a direct connection when there is one.
	ctx = network.WithAllowLimitedConn(ctx, "securechat chat")
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

// resolve finds the contact or stranger that to names, by the rules of
// [MatchPeer], and returns its peer ID both as an ID and as a string
// (encoding one costs a base58 pass); a stranger is promoted to a contact
// (the user writes to it; stranger.go). A peer ID, what scripts send,
// costs a look-up in the cached contacts (a store read if it is not
// there); anything else a scan of them. Blocked peers are unknown, and
// sending to a peer whose key changed is refused until the user accepted
// the new key.
func (n *Node) resolve(to string) (peer.ID, string, error) {
	to = strings.TrimSpace(to)
	if p, pid, err := decodePeerID(to); err == nil {
		// MatchPeer's rule 1: a valid peer ID names that peer only. The
		// cache sees every contact write through the node (contactcache.go),
		// so a block or a key change is as current there as in the store.
		c, ok := n.contacts.contactFor(pid)
		if !ok {
			if c, ok, err = n.store.Contact(pid); err != nil {
				return "", "", err
			}
		}
		if !ok {
			s, tracked := n.strangers.get(p)
			if !tracked {
				return "", "", ErrUnknownPeer
			}
			c = store.Contact{Fingerprint: s.fp, PendingFingerprint: s.pending}
		}
		if c.Blocked {
			return "", "", ErrBlocked
		}
		if !c.PendingFingerprint.IsZero() {
			return "", "", ErrKeyChanged
		}
		if !ok {
			if err := n.promote(p); err != nil {
				return "", "", err
			}
		}
		return p, pid, nil
	}
	contacts, _, err := n.contacts.snapshot()
	if err != nil {
		return "", "", err
	}
	peers := make([]PeerInfo, 0, len(contacts))
	var blocked []PeerInfo
	for _, c := range contacts {
		if c.Blocked {
			// Matched only when no other peer is (ErrBlocked below):
			// a blocked peer's name never makes a query ambiguous.
			blocked = append(blocked, PeerInfo{PeerID: c.PeerID, Fingerprint: c.Fingerprint, Name: shownName(c)})
			continue
		}
		// The user's label is what the user sees, so it is what they type.
		peers = append(peers, PeerInfo{PeerID: c.PeerID, Fingerprint: c.Fingerprint, Name: shownName(c),
			KeyChanged: !c.PendingFingerprint.IsZero()})
	}
	peers = append(peers, n.strangers.list()...)
	n.mu.Lock()
	for i := range peers {
		peers[i].State = PeerOffline
		if p, err := peer.Decode(peers[i].PeerID); err == nil && n.liveLocked(p) != nil {
			peers[i].State = PeerOnline
		}
	}
	n.mu.Unlock()
	found, err := MatchPeer(peers, to)
	if err != nil {
		if _, berr := MatchPeer(blocked, to); berr == nil && errors.Is(err, ErrUnknownPeer) {
			return "", "", ErrBlocked
		}
		return "", "", err
	}
	if found.KeyChanged {
		return "", "", ErrKeyChanged
	}
	p, err := peer.Decode(found.PeerID)
	if err != nil {
		return "", "", err
	}
	if found.Stranger {
		if err := n.promote(p); err != nil {
			return "", "", err
		}
	}
	return p, found.PeerID, nil
}

// online reports whether p has a live session that is up, under its pin.
func (n *Node) online(p peer.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.liveLocked(p) != nil
}

func hexID(id [messageIDLen]byte) string { return hex.EncodeToString(id[:]) }

// decodePeerID is peer.Decode that also returns the ID's string form. A
// base58 peer ID (what peer.ID.String gives, and what scripts send) is its
// own string form: base58 without padding has one spelling per byte string,
// so the encoding pass (about 4 us) is skipped.
func decodePeerID(s string) (peer.ID, string, error) {
	p, err := peer.Decode(s)
	if err != nil {
		return "", "", err
	}
	if strings.HasPrefix(s, "Qm") || strings.HasPrefix(s, "1") {
		return p, s, nil
	}
	return p, p.String(), nil
}
