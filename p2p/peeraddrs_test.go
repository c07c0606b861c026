package p2p

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/store"
)

// loopbackDefaults stand in for defaultListenAddrs in tests: a node
// started without ListenAddrs listens there, on its remembered ports.
var loopbackDefaults = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// homeConfig is the configuration of a persistent node called name in
// its own home under dir, with the default listen addresses.
func homeConfig(dir, name string) Config {
	return Config{Home: filepath.Join(dir, name), Passphrase: []byte("correct horse"), Name: name}
}

// startHome starts (or restarts) the persistent node of cfg, listening on
// loopbackDefaults.
func startHome(t *testing.T, cfg Config) *testNode {
	t.Helper()
	set := testSettings(t, cfg.Name)
	set.listenDefaults = loopbackDefaults
	n, err := newNode(context.Background(), cfg, set)
	if err != nil {
		t.Fatalf("New %s: %v", cfg.Name, err)
	}
	return wrap(t, n)
}

// hiddenNode is an ephemeral node that announces no address at all (as
// circuitsOnly without relays): its peers cannot redial it, so a session
// that comes back was redialled by this node.
func hiddenNode(t *testing.T, name string) *testNode {
	t.Helper()
	return newRelayedNodeCfg(t, Config{Name: name, circuitsOnly: true})
}

// transportAddrs are tn's addresses without the /p2p suffix.
func transportAddrs(tn *testNode) []string {
	var out []string
	for _, a := range tn.host.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// waitAddrs waits until n stores every one of want for peer p.
func waitAddrs(t *testing.T, n *Node, p string, want []string) {
	t.Helper()
	eventually(t, "stored addresses "+strings.Join(want, " "), func() bool {
		c, ok, err := n.store.Contact(p)
		return err == nil && ok && !slices.ContainsFunc(want, func(a string) bool { return !slices.Contains(c.Addrs, a) })
	})
}

// forget waits until n has no connection left to p, then empties n's
// peerstore of p's addresses, as time (their TTL) or a restart would: a
// redial then has only the stored addresses.
func forget(t *testing.T, n *Node, p peer.ID) {
	t.Helper()
	eventually(t, "no connection left", func() bool { return len(n.host.Network().ConnsToPeer(p)) == 0 })
	n.host.Peerstore().ClearAddrs(p)
	if got := n.host.Peerstore().Addrs(p); len(got) != 0 {
		t.Fatalf("peerstore still holds %v", got)
	}
}

func dial(t *testing.T, from *testNode, to multiaddr.Multiaddr) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := from.Connect(ctx, to); err != nil {
		t.Fatalf("Connect %s: %v", to, err)
	}
}

// TestAddrsLearnt: after a session, a persistent node keeps the addresses
// its peer announced, sealed in the store (they are there after a
// restart, and not in the file in the clear), and at its next start it
// redials the peer there, though it was last seen long ago.
func TestAddrsLearnt(t *testing.T) {
	t.Parallel()
	cfg := homeConfig(t.TempDir(), "alice")
	cfg.circuitsOnly = true // b cannot redial a: only a's redial brings the session back
	a := startHome(t, cfg)
	b := newTestNode(t, "bob")
	dial(t, a, b.addr(t, "tcp"))
	b.ev.wait(t, "session up", isSessionUp(a.PeerID()))
	want := transportAddrs(b)
	waitAddrs(t, a.Node, b.PeerID(), want)
	// a is a stranger to b (it only dialled b), so b stores nothing for a
	// at all; and a announces nothing anyway.
	if c, ok, err := b.store.Contact(a.PeerID()); err != nil || (ok && len(c.Addrs) != 0) {
		t.Fatalf("b stored %v for a, which announces nothing (%v)", c.Addrs, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	keys, err := loadKeys(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := openStore(cfg.Home, keys.storage)
	if err != nil {
		t.Fatal(err)
	}
	c, ok, err := st.Contact(b.PeerID())
	if err != nil || !ok {
		t.Fatalf("contact after restart: ok %v, err %v", ok, err)
	}
	for _, w := range want {
		if !slices.Contains(c.Addrs, w) {
			t.Fatalf("stored %v, missing %s", c.Addrs, w)
		}
	}
	c.LastSeen = time.Now().Add(-24 * time.Hour) // long ago: only the start redials it
	if err := st.PutContact(c); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(cfg.Home, storeName))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if bytes.Contains(raw, []byte(w)) {
			t.Fatalf("the store file holds %s in the clear", w)
		}
	}

	a2 := startHome(t, cfg)
	a2.ev.wait(t, "session up after the restart", isSessionUp(b.PeerID()))
}

// TestAddrsFollowChange: a node's new address reaches its peer on the
// live session (the address watch sends ADDRS again) and is stored.
func TestAddrsFollowChange(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	waitAddrs(t, a.Node, b.PeerID(), transportAddrs(b))
	if err := b.host.Network().Listen(multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, "addrs changed", func(e Event) bool { c, ok := e.(AddrsChanged); return ok && len(c.Addrs) == 3 })
	all := transportAddrs(b)
	if len(all) != 3 {
		t.Fatalf("b listens on %v, want 3 addresses", all)
	}
	waitAddrs(t, a.Node, b.PeerID(), all)
}

// TestAddrsCircuit: a node reachable only through a relay announces its
// circuit address in ADDRS, and its peer stores it; once the peerstore
// forgot it (identify expires the temporary addresses a dial added,
// recently connected ones expire after a while, and a restart empties it),
// the peer's redial still reaches the node through the relay, at the
// stored circuit address, after the node restarted.
func TestAddrsCircuit(t *testing.T) {
	t.Parallel()
	r := startRelayNode(t, hostKey(t), 0)
	ra := r.addr(t, "tcp")
	a := newTestNode(t, "alice")
	hk, id := hostKey(t), mustFixtureIdentity(t, "bob")
	startB := func() *testNode {
		// A fresh store each time: b knows nobody, so it redials nobody.
		cfg := Config{ListenAddrs: loopback, Name: "bob", Relays: []multiaddr.Multiaddr{ra}, circuitsOnly: true}
		n, err := start(context.Background(), cfg, testSettings(t, "bob"), nodeKeys{host: hk, id: id}, store.OpenMemory([32]byte{3}))
		if err != nil {
			t.Fatalf("start bob: %v", err)
		}
		return wrap(t, n)
	}
	b1 := startB()
	bc, _ := peer.SplitAddr(b1.circuitAddr(t, reserveBound))
	dial(t, b1, a.addr(t, "tcp")) // b dials a directly
	a.ev.wait(t, "session up", isSessionUp(b1.PeerID()))
	// b is a stranger to a until a's user accepts it; its announced
	// addresses go into the contact record then.
	befriend(t, a, b1)
	conns := b1.host.Network().ConnsToPeer(a.host.ID())
	if len(conns) == 0 || !slices.ContainsFunc(b1.announcedAddrs(conns[0].RemoteMultiaddr()), bc.Equal) {
		t.Fatalf("b does not announce its circuit address %s", bc)
	}
	waitAddrs(t, a.Node, b1.PeerID(), []string{bc.String()})
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "session down", isDown(b1.PeerID(), "closed"))
	forget(t, a.Node, b1.host.ID())

	b2 := startB()
	b2.circuitAddr(t, reserveBound)
	a.redial.reset(b2.host.ID()) // the reservation took its time; try now
	up := a.ev.waitN(t, "session up again", 2, isSessionUp(b2.PeerID()))[1].(SessionUp)
	if up.Conn != ConnRelayed {
		t.Fatalf("redialled over %q, want relayed", up.Conn)
	}
}

// TestConnectPeer: ConnectPeer resolves a contact as MatchPeer does and
// dials its stored addresses; an unknown or ambiguous name, a contact
// without addresses and one that does not answer are clear errors.
func TestConnectPeer(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	put := func(c store.Contact) {
		t.Helper()
		c.Trust, c.FirstSeen = TrustPinned, time.Now().Add(-48*time.Hour)
		c.LastSeen = c.FirstSeen // not recent: the redialer leaves them alone
		if err := a.store.PutContact(c); err != nil {
			t.Fatal(err)
		}
	}
	put(store.Contact{PeerID: b.PeerID(), Fingerprint: b.Fingerprint(), Name: "bob", Addrs: transportAddrs(b)})
	put(store.Contact{PeerID: peerIDOf(t), Name: "bobby"})
	put(store.Contact{PeerID: peerIDOf(t), Name: "dave"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "/ip4/127.0.0.1/tcp/" + strings.TrimPrefix(l.Addr().String(), "127.0.0.1:")
	l.Close()
	put(store.Contact{PeerID: peerIDOf(t), Name: "eve", Addrs: []string{closed}})

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var amb *AmbiguousPeerError
	for _, tt := range []struct {
		query string
		want  func(error) bool
	}{
		{"carol", func(err error) bool { return errors.Is(err, ErrUnknownPeer) }},
		{"bo", func(err error) bool { return errors.As(err, &amb) && len(amb.Candidates) == 2 }},
		{"dave", func(err error) bool { return errors.Is(err, ErrNoAddress) }},
		{"eve", func(err error) bool { return errors.Is(err, ErrDialFailed) }},
	} {
		if _, err := a.ConnectPeer(ctx, tt.query); err == nil || !tt.want(err) {
			t.Errorf("ConnectPeer(%q) = %v", tt.query, err)
		}
	}
	for _, q := range []string{"BOB", b.PeerID()[len(b.PeerID())-6:], b.Fingerprint().String()} {
		got, err := a.ConnectPeer(ctx, q)
		if err != nil {
			t.Fatalf("ConnectPeer(%q): %v", q, err)
		}
		if got.PeerID != b.PeerID() || got.Conn != ConnDirect {
			t.Fatalf("ConnectPeer(%q) = %+v", q, got)
		}
	}
	a.ev.wait(t, "session up", isSessionUp(b.PeerID()))
	if k := a.ev.count(isSessionUp(b.PeerID())); k != 1 {
		t.Fatalf("%d sessions came up, want 1 (later calls find it up)", k)
	}
}

// peerIDOf is a fresh peer ID.
func peerIDOf(t *testing.T) string {
	t.Helper()
	p, err := peer.IDFromPrivateKey(hostKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return p.String()
}

// TestUsableAddr: the loopback and public rules both sides apply.
func TestUsableAddr(t *testing.T) {
	t.Parallel()
	ma := multiaddr.StringCast
	loop, lan, pub := ma("/ip4/127.0.0.1/tcp/1"), ma("/ip4/192.168.1.2/tcp/1"), ma("/ip4/1.1.1.5/tcp/1")
	circuitPub := ma("/ip4/1.1.1.9/tcp/1/p2p/12D3KooWQ9F8sDpqdhRnc3DJrqy4hc6XnZXjNhVzgvBzkYDTLf8p/p2p-circuit")
	tests := []struct {
		remote, a multiaddr.Multiaddr
		want      bool
	}{
		{loop, loop, true}, {loop, lan, true}, {loop, pub, true},
		{lan, loop, false}, {lan, lan, true}, {lan, pub, true},
		{pub, loop, false}, {pub, lan, false}, {pub, pub, true}, {pub, circuitPub, true},
		{loop, ma("/ip4/0.0.0.0/tcp/1"), false}, {loop, ma("/ip6/fe80::1/tcp/1"), false},
	}
	for _, tt := range tests {
		if got := usableAddr(tt.remote, tt.a); got != tt.want {
			t.Errorf("usableAddr(remote %s, %s) = %v, want %v", tt.remote, tt.a, got, tt.want)
		}
	}
}
