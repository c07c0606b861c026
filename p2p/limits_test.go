package p2p

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestAdmission: the per-peer and global limits on responder handshakes,
// and the verified-contact lane, on a fake clock.
func TestAdmission(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	a := newAdmission()
	a.now = func() time.Time { return now }
	no := func() bool { return false }
	yes := func() bool { return true }
	p := peer.ID("peer-p")

	// In flight: at most maxHandshakesPerPeer at once for one peer.
	for i := 0; i < maxHandshakesPerPeer; i++ {
		if ok, why := a.acquire(p, no); !ok {
			t.Fatalf("handshake %d refused: %s", i, why)
		}
	}
	if ok, _ := a.acquire(p, no); ok {
		t.Fatal("over the per-peer cap")
	}
	for i := 0; i < maxHandshakesPerPeer; i++ {
		a.release(p)
	}
	// Rate: the peer's burst runs out, then one a second.
	admitted := maxHandshakesPerPeer
	for ; admitted < peerHandshakeBurst; admitted++ {
		if ok, why := a.acquire(p, no); !ok {
			t.Fatalf("handshake %d refused: %s", admitted, why)
		}
		a.release(p)
	}
	if ok, why := a.acquire(p, no); ok || why != "peer handshake rate" {
		t.Fatalf("burst exceeded: %v %q", ok, why)
	}
	now = now.Add(time.Second)
	if ok, _ := a.acquire(p, no); !ok {
		t.Fatal("not refilled after a second")
	}
	a.release(p)

	// Global: many peers drain the node's bucket; a verified contact
	// still gets in.
	refused := 0
	for i := 0; i < 2*handshakeBurst; i++ {
		q := peer.ID("flood-" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
		if ok, _ := a.acquire(q, no); ok {
			a.release(q)
		} else {
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("global bucket never refused")
	}
	if ok, _ := a.acquire("verified", yes); !ok {
		t.Fatal("verified contact refused under a flood")
	}
	a.release("verified")
	if a.inFlight != 0 || len(a.perPeer) != 0 {
		t.Fatalf("leaked counts: %d in flight, %v", a.inFlight, a.perPeer)
	}
}

// TestAdmissionBounded: cycling through peer IDs keeps the bucket map
// bounded.
func TestAdmissionBounded(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	a := newAdmission()
	a.now = func() time.Time { return now }
	for i := 0; i < 3*maxTrackedPeers; i++ {
		now = now.Add(time.Second / handshakeRate)
		q := peer.ID(string(rune(i)) + "x")
		if ok, _ := a.acquire(q, func() bool { return false }); ok {
			a.release(q)
		}
	}
	if len(a.peers) > maxTrackedPeers {
		t.Fatalf("%d buckets kept, cap %d", len(a.peers), maxTrackedPeers)
	}
}

// TestRemoteLogLimit: a flood of remote-caused lines is cut to the burst,
// and the next line written counts what was dropped.
func TestRemoteLogLimit(t *testing.T) {
	t.Parallel()
	var l remoteLog
	now := time.Unix(1000, 0)
	written := 0
	for i := 0; i < 1000; i++ {
		if ok, _ := l.allow(now); ok {
			written++
		}
	}
	if written != remoteLogBurst {
		t.Fatalf("%d lines written, want %d", written, remoteLogBurst)
	}
	ok, dropped := l.allow(now.Add(time.Second))
	if !ok || dropped != 1000-remoteLogBurst {
		t.Fatalf("after a second: %v, %d dropped", ok, dropped)
	}
}

// TestBlockAtGater: a blocked peer is refused at the connection, in both
// directions, and still after a restart (the block is in the store).
func TestBlockAtGater(t *testing.T) {
	t.Parallel()
	cfg := Config{Home: filepath.Join(t.TempDir(), "alice"), Passphrase: []byte("correct horse"), ListenAddrs: loopback, Name: "alice"}
	n, err := newNode(context.Background(), cfg, testSettings(t, cfg.Name))
	if err != nil {
		t.Fatal(err)
	}
	a := wrap(t, n)
	b := newTestNode(t, "bob")
	b.connect(t, a)
	if err := a.Block(b.PeerID()); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, "session down", func(e Event) bool { _, ok := e.(SessionDown); return ok })
	check := func(a *testNode) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if _, err := b.Connect(ctx, a.addr(t, "tcp")); !errors.Is(err, ErrDialFailed) {
			t.Fatalf("blocked peer's Connect = %v", err)
		}
		info, _ := peer.AddrInfoFromP2pAddr(a.addr(t, "quic-v1"))
		if err := b.host.Connect(ctx, *info); err == nil {
			// The gater may let the dialer's side finish before it
			// closes; no connection may survive.
			eventually(t, "connection closed", func() bool { return len(a.host.Network().ConnsToPeer(b.host.ID())) == 0 })
		}
		if _, err := a.Connect(ctx, b.addr(t, "tcp")); !errors.Is(err, ErrDialFailed) {
			t.Fatalf("Connect to a blocked peer = %v", err)
		}
	}
	check(a)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = newNode(context.Background(), cfg, testSettings(t, cfg.Name))
	if err != nil {
		t.Fatal(err)
	}
	check(wrap(t, n))
}

// TestIdleTimeout: heartbeats keep a silent session alive past the idle
// timeout; a peer that goes quiet is cut with reason "timeout".
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	short := func(name string) *testNode {
		s := testSettings(t, name)
		s.idleTimeout, s.heartbeatInterval = time.Second, 200*time.Millisecond
		return newTestNodeWith(t, name, s)
	}
	a, b := short("alice"), short("bob")
	a.connect(t, b)
	time.Sleep(3 * a.set.idleTimeout)
	if k := a.ev.count(func(e Event) bool { _, ok := e.(SessionDown); return ok }); k != 0 {
		t.Fatalf("idle session with heartbeats cut: %s", summarize(a.ev.snapshot()))
	}
	// bob stops writing: alice hears nothing and cuts the session.
	b.mu.Lock()
	bs := b.peers[a.host.ID()].current
	b.mu.Unlock()
	bs.wmu.Lock()
	a.ev.wait(t, "timeout", isDown(b.PeerID(), "timeout"))
	bs.wmu.Unlock()
}

// refusedCount returns how many streams acquire refused.
func (a *admission) refusedCount() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused
}
