package p2p

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/mdns"
)

// These tests drive the discovery worker by calling HandlePeerFound the way
// go-libp2p's mDNS service does, with nodes on 127.0.0.1: no multicast, no
// mDNS service (it runs only in cmd/securechat's namespace tests).

// lanTestNode is a test node with a passive discovery (no mDNS service)
// that takes 127.0.0.1 addresses as LAN ones; the node's Close closes it.
func lanTestNode(t *testing.T, name string, cfg mdns.Config) (*testNode, *mdns.Discovery) {
	t.Helper()
	n := newTestNode(t, name)
	cfg.Passive, cfg.LoopbackOK = true, true
	// Set before the test goroutine calls Close (in the cleanup).
	n.disc = n.startDiscovery(cfg)
	return n, n.disc
}

// drained waits until d's worker has handled every announcement fed to it
// so far: it handles them in order, so the Found of a fresh peer fed now
// marks the point. The fresh peer announces a closed port; a dial of it
// fails at once.
func drained(t *testing.T, tn *testNode, d *mdns.Discovery) {
	t.Helper()
	ai := peer.AddrInfo{ID: testPeerID(t), Addrs: maddrs(t, "/ip4/127.0.0.1/tcp/1")}
	deadline := time.Now().Add(waitTimeout)
	for tn.ev.count(isPeerFound(ai.ID.String(), "mdns")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("discovery never handled its queue")
		}
		d.HandlePeerFound(ai) // repeated: a full queue drops it
		time.Sleep(20 * time.Millisecond)
	}
}

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
	a, da := lanTestNode(t, "alice", mdns.Config{})
	b, db := lanTestNode(t, "bob", mdns.Config{})
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
	drained(t, a, da)
	drained(t, b, db)

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
// dials after mdns.Config.Fallback.
func TestDiscoveryFallback(t *testing.T) {
	t.Parallel()
	short := mdns.Config{Fallback: 100 * time.Millisecond}
	a, da := lanTestNode(t, "alice", short)
	b, db := lanTestNode(t, "bob", short)
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
	a, da := lanTestNode(t, "alice", mdns.Config{})
	b := newTestNode(t, "bob")
	blocked := newTestNode(t, "mallory")
	if err := a.Block(blocked.PeerID()); err != nil {
		t.Fatal(err)
	}
	// Peers that announce only what no LAN peer can dial.
	// 1280 is twenty times discovery's queue.
	var flood []peer.AddrInfo
	for i := range 1280 {
		flood = append(flood, peer.AddrInfo{ID: testPeerID(t), Addrs: maddrs(t,
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
