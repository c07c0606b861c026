package p2p

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// These tests drive the discovery worker by calling HandlePeerFound the way
// go-libp2p's mDNS service does, with nodes on 127.0.0.1: no multicast, no
// mDNS service (it runs only in cmd/securechat's namespace tests).

func maddrs(t *testing.T, ss ...string) []multiaddr.Multiaddr {
	t.Helper()
	var out []multiaddr.Multiaddr
	for _, s := range ss {
		a, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		out = append(out, a)
	}
	return out
}

func TestLANAddrs(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"loopback and unspecified dropped",
			[]string{"/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/1", "/ip4/0.0.0.0/tcp/1", "/ip4/10.0.0.5/tcp/1"},
			[]string{"/ip4/10.0.0.5/tcp/1"}},
		{"IPv6 link-local dropped, ULA kept",
			[]string{"/ip6/fe80::1/tcp/1", "/ip6/fd00::5/tcp/1"},
			[]string{"/ip6/fd00::5/tcp/1"}},
		{"only TCP and QUIC v1 directly over IP",
			[]string{"/ip4/10.0.0.5/tcp/1/ws", "/ip4/10.0.0.5/udp/2/quic-v1/webtransport", "/dns4/x.local/tcp/1",
				"/ip4/10.0.0.5/udp/2", "/ip4/10.0.0.5/udp/2/quic", "/ip4/10.0.0.5/udp/2/quic-v1", "/ip4/224.0.0.251/udp/5353/quic-v1"},
			[]string{"/ip4/10.0.0.5/udp/2/quic-v1"}},
		{"deduplicated",
			[]string{"/ip4/10.0.0.5/tcp/1", "/ip4/10.0.0.5/tcp/1"},
			[]string{"/ip4/10.0.0.5/tcp/1"}},
		{"IPv4 before IPv6, private before public, TCP before QUIC",
			[]string{"/ip6/2001:db8::1/tcp/1", "/ip6/fd00::1/udp/2/quic-v1", "/ip4/203.0.113.7/tcp/1",
				"/ip4/192.168.1.2/udp/2/quic-v1", "/ip4/192.168.1.2/tcp/1"},
			[]string{"/ip4/192.168.1.2/tcp/1", "/ip4/192.168.1.2/udp/2/quic-v1", "/ip4/203.0.113.7/tcp/1",
				"/ip6/fd00::1/udp/2/quic-v1", "/ip6/2001:db8::1/tcp/1"}},
		{"IPv4 link-local kept", []string{"/ip4/169.254.3.4/tcp/1"}, []string{"/ip4/169.254.3.4/tcp/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lanAddrs(maddrs(t, tt.in...), 100, 0, false)
			var gs []string
			for _, a := range got {
				gs = append(gs, a.String())
			}
			if strings.Join(gs, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got  %v\nwant %v", gs, tt.want)
			}
		})
	}
	if got := lanAddrs(maddrs(t, "/ip4/127.0.0.1/tcp/1"), 100, 0, true); len(got) != 1 {
		t.Errorf("loopbackOK: got %v", got)
	}
}

// TestLANAddrsFitOnePacket: a host with many interfaces (go-libp2p issue
// 3415: three were enough to overflow an MTU) announces a bounded set that
// fits the TXT budget.
func TestLANAddrsFitOnePacket(t *testing.T) {
	var in []string
	for i := range 12 {
		in = append(in,
			fmt.Sprintf("/ip4/10.0.%d.2/tcp/40001", i),
			fmt.Sprintf("/ip4/10.0.%d.2/udp/40002/quic-v1", i),
			fmt.Sprintf("/ip6/2001:db8:%x:ffff:ffff:ffff:ffff:ffff/tcp/40001", i),
			fmt.Sprintf("/ip6/2001:db8:%x:ffff:ffff:ffff:ffff:ffff/udp/40002/quic-v1", i))
	}
	const idLen = 52 // an Ed25519 peer ID in base58
	got := lanAddrs(maddrs(t, in...), mdnsMaxAdvertised, idLen, false)
	size := 0
	for _, a := range got {
		size += 1 + len("dnsaddr=") + len(a.String()) + len("/p2p/") + idLen
	}
	if len(got) == 0 || len(got) > mdnsMaxAdvertised || size > mdnsTXTBudget {
		t.Fatalf("%d addresses, %d TXT bytes; want 1..%d within %d", len(got), size, mdnsMaxAdvertised, mdnsTXTBudget)
	}
	if !strings.HasPrefix(got[0].String(), "/ip4/10.0.0.2/tcp/") {
		t.Errorf("first announced address %s, want the first private IPv4 TCP one", got[0])
	}
}

// TestMDNSHost: the host the mDNS service sees answers with the snapshot
// through both paths go-libp2p versions use, and is otherwise the node's.
func TestMDNSHost(t *testing.T) {
	n := newTestNode(t, "alice")
	snap := maddrs(t, "/ip4/10.231.0.9/tcp/4001")
	h := mdnsHost{Host: n.host, addrs: snap}
	got, err := h.Network().InterfaceListenAddresses()
	if err != nil || !sameAddrs(got, snap) || !sameAddrs(h.Addrs(), snap) {
		t.Fatalf("InterfaceListenAddresses = %v, %v; Addrs = %v; want %v", got, err, h.Addrs(), snap)
	}
	if h.ID() != n.host.ID() || h.Network().LocalPeer() != n.host.ID() {
		t.Fatal("wrapped host has another identity")
	}
	if sameAddrs(n.host.Addrs(), snap) {
		t.Fatal("the node's own addresses changed")
	}
}

// lanTestNode is a test node with its discovery worker, taking 127.0.0.1
// addresses as LAN ones.
func lanTestNode(t *testing.T, name string) (*testNode, *discovery) {
	t.Helper()
	n := newTestNode(t, name)
	d := n.startDiscovery(false)
	// Written before any announcement reaches the worker (through the
	// found channel), so the worker sees it.
	d.loopbackOK = true
	return n, d
}

func (tn *testNode) addrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: tn.host.ID(), Addrs: tn.host.Addrs()}
}

func isPeerFound(p, via string) func(Event) bool {
	return func(e Event) bool { f, ok := e.(PeerFound); return ok && f.PeerID == p && f.Via == via }
}

// lowHigh orders two nodes by peer ID.
func lowHigh(x, y *testNode) (low, high *testNode) {
	if x.host.ID() < y.host.ID() {
		return x, y
	}
	return y, x
}

// TestDiscoveryDialsOnce: both nodes hear each other (and themselves) many
// times at once; only the lower peer ID dials, each side gets one session
// and at most one PeerFound via mdns.
func TestDiscoveryDialsOnce(t *testing.T) {
	a, da := lanTestNode(t, "alice")
	b, db := lanTestNode(t, "bob")
	low, high := lowHigh(a, b)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(4)
		go func() { defer wg.Done(); da.HandlePeerFound(b.addrInfo()) }()
		go func() { defer wg.Done(); db.HandlePeerFound(a.addrInfo()) }()
		go func() { defer wg.Done(); da.HandlePeerFound(a.addrInfo()) }()
		go func() { defer wg.Done(); db.HandlePeerFound(b.addrInfo()) }()
	}
	wg.Wait()
	a.ev.wait(t, "session up", isSessionUp(b.PeerID()))
	b.ev.wait(t, "session up", isSessionUp(a.PeerID()))
	// Announcements of a peer with a live session change nothing.
	for range 5 {
		da.HandlePeerFound(b.addrInfo())
		db.HandlePeerFound(a.addrInfo())
	}
	ctx := context.Background()
	if _, err := a.Send(ctx, b.PeerID(), "hi"); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, "message", func(e Event) bool { _, ok := e.(MessageReceived); return ok })
	eventually(t, "queues drained", func() bool { return len(da.found) == 0 && len(db.found) == 0 })

	if k := low.ev.count(isPeerFound(high.PeerID(), "dial")); k != 1 {
		t.Errorf("lower peer ID dialled %d times, want 1", k)
	}
	if k := high.ev.count(isPeerFound(low.PeerID(), "dial")); k != 0 {
		t.Errorf("higher peer ID dialled %d times, want 0", k)
	}
	for _, c := range [][2]*testNode{{a, b}, {b, a}} {
		if k := c[0].ev.count(isSessionUp(c[1].PeerID())); k != 1 {
			t.Errorf("%d session ups, want 1", k)
		}
		if k := c[0].ev.count(isPeerFound(c[1].PeerID(), "mdns")); k > 1 {
			t.Errorf("%d PeerFound via mdns, want at most 1", k)
		}
		if k := c[0].ev.count(isPeerFound(c[0].PeerID(), "mdns")); k != 0 {
			t.Errorf("found itself %d times", k)
		}
	}
	if k := low.ev.count(isPeerFound(high.PeerID(), "mdns")); k != 1 {
		t.Errorf("the dialling side raised %d PeerFound via mdns, want 1", k)
	}
}

// TestDiscoveryFallback: when only the higher peer ID hears the other, it
// dials after mdnsFallback.
func TestDiscoveryFallback(t *testing.T) {
	saved := mdnsFallback
	mdnsFallback = 100 * time.Millisecond
	t.Cleanup(func() { mdnsFallback = saved })
	a, da := lanTestNode(t, "alice")
	b, db := lanTestNode(t, "bob")
	low, high := lowHigh(a, b)
	dHigh := db
	if high == a {
		dHigh = da
	}
	dHigh.HandlePeerFound(low.addrInfo())
	high.ev.wait(t, "fallback dial", isPeerFound(low.PeerID(), "dial"))
	high.ev.wait(t, "session up", isSessionUp(low.PeerID()))
	low.ev.wait(t, "session up", isSessionUp(high.PeerID()))
}

// TestDiscoveryIgnores: a flood of announcements never blocks the caller;
// announcements without a usable address, of ourselves, or of a blocked
// peer raise nothing.
func TestDiscoveryIgnores(t *testing.T) {
	a, da := lanTestNode(t, "alice")
	b := newTestNode(t, "bob")
	blocked := newTestNode(t, "mallory")
	if err := a.Block(blocked.PeerID()); err != nil {
		t.Fatal(err)
	}
	// Peers that announce only what no LAN peer can dial.
	var flood []peer.AddrInfo
	for i := range 20 * mdnsQueue {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		flood = append(flood, peer.AddrInfo{ID: id, Addrs: maddrs(t,
			"/ip4/0.0.0.0/tcp/1", "/ip6/fe80::1/tcp/1", fmt.Sprintf("/ip4/10.0.0.1/tcp/%d/ws", i+1))})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, ai := range flood {
			da.HandlePeerFound(ai)
		}
		da.HandlePeerFound(a.addrInfo())
		da.HandlePeerFound(blocked.addrInfo())
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("HandlePeerFound blocked")
	}
	// The worker handles announcements in order: once b is found,
	// everything before it was handled. b's may be dropped while the
	// queue is full, so it is repeated.
	deadline := time.Now().Add(waitTimeout)
	for a.ev.count(isPeerFound(b.PeerID(), "mdns")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("b never found")
		}
		da.HandlePeerFound(b.addrInfo())
		time.Sleep(20 * time.Millisecond)
	}
	for _, e := range a.ev.snapshot() {
		if f, ok := e.(PeerFound); ok && f.PeerID != b.PeerID() {
			t.Errorf("unexpected %+v", f)
		}
	}
}

// TestNameCollisionRename: a known contact that renames itself to another
// contact's name is flagged too, not only a new peer.
func TestNameCollisionRename(t *testing.T) {
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	c := newTestNode(t, "carol")
	c.connect(t, a)
	hk, id := c.hostKey, c.id
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "carol's session down", func(e Event) bool { d, ok := e.(SessionDown); return ok && d.PeerID == c.PeerID() })
	c2 := newKeyedNode(t, "Bob", hk, id)
	c2.connect(t, a)
	al := a.ev.wait(t, "name_collision", isAlert(AlertNameCollision)).(Alert)
	if al.PeerID != c2.PeerID() || !strings.Contains(al.Message, b.PeerID()) {
		t.Fatalf("alert = %+v", al)
	}
}

// TestStdLogWriter: a standard log line (zeroconf's) reaches the node's log
// as a warning, not stderr.
func TestStdLogWriter(t *testing.T) {
	var buf strings.Builder
	owner := new(int)
	libp2pLogs.root.set(owner, slog.New(slog.NewTextHandler(&buf, nil)))
	t.Cleanup(func() { libp2pLogs.root.clear(owner) })
	if _, err := (stdLogWriter{}).Write([]byte("[zeroconf] no suitable IPv6 interface: x\n")); err != nil {
		t.Fatal(err)
	}
	if out := buf.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, "no suitable IPv6 interface") {
		t.Fatalf("log = %q", out)
	}
}
