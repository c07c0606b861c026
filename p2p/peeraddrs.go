package p2p

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Addresses that follow a contact. Inside the end-to-end session each side
// tells the other where it can be dialled (an ADDRS payload, e2e/PROTOCOL.md
// "Chat payloads"): right after its HELLO, and again on that session
// whenever its own address set changes (a relay reservation made or lost,
// a new port, an interface). The receiver keeps them, sealed in the
// contact, as the addresses the redialer and [Node.ConnectPeer] dial. They
// include circuit addresses, which libp2p's identify drops from the
// peerstore, so a peer reachable only through a relay is still redialled.

// ADDRS caps (PROTOCOL.md): how many addresses one payload carries and how
// long each may be, in its binary form.
const (
	maxAnnouncedAddrs = 16
	maxAddrBytes      = 255
)

// maxAddrsWrites bounds the contact writes a session's ADDRS payloads
// cause: a peer that changes its list on every record cannot make the node
// rewrite the store without end. Past it the session's ADDRS are ignored
// (the next session starts afresh). A real node changes its addresses a
// few times a day.
const maxAddrsWrites = 32

// encodeAddrs is the ADDRS payload for addrs: the type, a count and each
// address's binary form after its length. Addresses that would break the
// caps (over maxAddrBytes, past the first maxAnnouncedAddrs) are left out,
// so the result always parses.
func encodeAddrs(addrs []multiaddr.Multiaddr) []byte {
	b := []byte{payloadAddrs, 0}
	for _, a := range addrs {
		raw := a.Bytes()
		if len(raw) == 0 || len(raw) > maxAddrBytes || b[1] == maxAnnouncedAddrs {
			continue
		}
		b[1]++
		b = append(b, byte(len(raw)))
		b = append(b, raw...)
	}
	return b
}

// parseAddrsBody decodes the body of an ADDRS payload (after the type
// byte): a count of at most maxAnnouncedAddrs, then that many addresses,
// each a length (1 to maxAddrBytes) and a binary multiaddr that parses and
// re-encodes to the same bytes, whose text form is printable ASCII, which
// does not end in /p2p/<id> and which no other address of the list
// repeats; nothing may follow.
func parseAddrsBody(b []byte) ([]multiaddr.Multiaddr, bool) {
	if len(b) < 1 || b[0] > maxAnnouncedAddrs {
		return nil, false
	}
	count := int(b[0])
	b = b[1:]
	out := make([]multiaddr.Multiaddr, 0, count)
	for range count {
		if len(b) < 1 {
			return nil, false
		}
		l := int(b[0])
		if l == 0 || len(b) < 1+l {
			return nil, false
		}
		raw := b[1 : 1+l]
		b = b[1+l:]
		a, err := multiaddr.NewMultiaddrBytes(raw)
		if err != nil || len(a) == 0 || !bytes.Equal(a.Bytes(), raw) {
			return nil, false
		}
		if a[len(a)-1].Code() == multiaddr.P_P2P || !printableASCII(a.String()) ||
			slices.ContainsFunc(out, a.Equal) {
			return nil, false
		}
		out = append(out, a)
	}
	if len(b) != 0 {
		return nil, false
	}
	return out, true
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

// usableAddr reports whether a, an address a peer announced on a
// connection whose remote address is remote, is worth dialling: the rule
// identify applies to listen addresses (a loopback address only from a
// peer reached over loopback, only public addresses from a peer reached at
// a public one), and never an unspecified or IPv6 link-local address.
// Both sides apply it: the sender does not announce what the receiver
// would drop.
func usableAddr(remote, a multiaddr.Multiaddr) bool {
	switch {
	case manet.IsIPUnspecified(a) || manet.IsIP6LinkLocal(a):
		return false
	case manet.IsIPLoopback(remote):
		return true
	case manet.IsPublicAddr(remote):
		return manet.IsPublicAddr(a)
	}
	return !manet.IsIPLoopback(a)
}

// announcedAddrs are the addresses this node tells the peer of a session
// whose connection's remote address is remote: its own, circuit addresses
// included (inviteAddrs' order: public, circuit, private, then the rest;
// loopback last), those usableAddr keeps, at most maxAnnouncedAddrs.
func (n *Node) announcedAddrs(remote multiaddr.Multiaddr) []multiaddr.Multiaddr {
	own := n.host.Addrs()
	ordered := inviteAddrs(n.host.ID(), own)
	for _, a := range own {
		if manet.IsIPLoopback(a) && !slices.ContainsFunc(ordered, a.Equal) {
			ordered = append(ordered, a)
		}
	}
	out := make([]multiaddr.Multiaddr, 0, maxAnnouncedAddrs)
	for _, a := range ordered {
		if len(out) == maxAnnouncedAddrs {
			break
		}
		if usableAddr(remote, a) && len(a.Bytes()) <= maxAddrBytes {
			out = append(out, a)
		}
	}
	return out
}

// addrsUpdate returns the ADDRS payload to send on ss now, or nil if the
// peer already has this list from ss. Only ss's writer (and sendHello
// before it) calls it.
func (ss *session) addrsUpdate() []byte {
	p := encodeAddrs(ss.n.announcedAddrs(ss.st.Conn().RemoteMultiaddr()))
	if bytes.Equal(p, ss.addrsSent) {
		return nil
	}
	ss.addrsSent = p
	return p
}

// announceAddrs asks every live session to send this node's addresses
// again: the address watch (reachability.go) calls it when they changed.
func (n *Node) announceAddrs() {
	n.mu.Lock()
	live := n.liveSessionsLocked()
	n.mu.Unlock()
	for _, ss := range live {
		ss.mu.Lock()
		ss.addrsDue = true
		ss.mu.Unlock()
		ss.kick()
	}
}

// onAddrs handles the peer's ADDRS on ss, in ss's reader: if the peer is a
// contact under the session's key, its addresses become the ones it
// announced that usableAddr keeps and this host can dial, after the one
// this node dialled it at (if it did), then the older ones while room is
// left, at most maxContactAddrs. The store seals them with the contact.
func (n *Node) onAddrs(ss *session, announced []multiaddr.Multiaddr) {
	conn := ss.st.Conn()
	remote := conn.RemoteMultiaddr()
	var fresh []string
	if conn.Stat().Direction == network.DirOutbound {
		fresh = append(fresh, remote.String())
	}
	sw, _ := n.host.Network().(*swarm.Swarm)
	for _, a := range announced {
		if usableAddr(remote, a) && (sw == nil || sw.TransportForDialing(a) != nil) {
			fresh = append(fresh, a.String())
		}
	}
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	c, ok, err := n.store.Contact(ss.pid)
	if err == nil && !ok {
		// A stranger: its addresses stay with it in memory and go into
		// its contact record if the user makes it one (stranger.go).
		n.strangers.noteAddrs(ss.peer, ss.fp, func(old []string) []string { return mergeAddrs(fresh, old) })
		return
	}
	if err != nil || c.Blocked || !c.Fingerprint.Equal(ss.fp) {
		return
	}
	addrs := mergeAddrs(fresh, c.Addrs)
	if slices.Equal(addrs, c.Addrs) {
		return
	}
	if ss.addrsWrites >= maxAddrsWrites {
		n.logRemote(slog.LevelDebug, "peer changes its addresses too often; ignored", "peer_id", ss.pid)
		return
	}
	ss.addrsWrites++
	c.Addrs = addrs
	if err := n.store.PutContact(c); err != nil {
		n.log.Error("store contact addresses", "err", err)
	}
}

// mergeAddrs puts fresh before old, each as a transport address (a stored
// one that ends in /p2p/<id>, as an invite's do, loses that suffix; one
// that does not parse is dropped), without repeats, and keeps at most
// maxContactAddrs.
func mergeAddrs(fresh, old []string) []string {
	var out []string
	for _, s := range append(slices.Clone(fresh), old...) {
		a, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if t, _ := peer.SplitAddr(a); t != nil {
			a = t
		}
		if len(a) == 0 {
			continue
		}
		if s = a.String(); slices.Contains(out, s) {
			continue
		}
		out = append(out, s)
		if len(out) == maxContactAddrs {
			break
		}
	}
	return out
}

// ConnectPeer sets up a session with a contact named by query, by the rules
// of [MatchPeer] (name, name~fingerprint, peer ID or fingerprint, or their
// prefixes), dialling the addresses stored for it: those it announced in
// its last sessions and the one it was last reached at. It answers like
// [Node.Connect] (at once if a session is up). Errors: one wrapping
// [ErrUnknownPeer] (no such contact, or blocked), an
// [*AmbiguousPeerError], [ErrKeyChanged], [ErrNoAddress] (known, but no
// address to dial: connect to an address or an invite instead), or one
// wrapping [ErrDialFailed]. The attempt is bounded by [DialTimeout].
func (n *Node) ConnectPeer(ctx context.Context, query string) (Connected, error) {
	p, pid, err := n.resolve(query)
	if err != nil {
		return Connected{}, err
	}
	info := &peer.AddrInfo{ID: p}
	if !n.online(p) {
		c, ok, err := n.store.Contact(pid)
		if err != nil {
			return Connected{}, err
		}
		if !ok {
			return Connected{}, ErrUnknownPeer
		}
		info.Addrs = append(parseAddrs(c.Addrs), n.host.Peerstore().Addrs(p)...)
		if len(info.Addrs) == 0 {
			return Connected{}, fmt.Errorf("%w: %s; connect to its address or invite", ErrNoAddress, pid)
		}
		// The user asks now: libp2p's backoff for addresses that failed
		// a moment ago does not apply (as for a redial).
		if sw, ok := n.host.Network().(*swarm.Swarm); ok {
			sw.Backoff().Clear(p)
		}
	}
	return n.dialSession(ctx, info, "peer "+pid)
}
