package mdns

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"github.com/multiformats/go-multiaddr"
)

// These tests drive a passive Discovery (no mDNS service, no multicast) by
// calling HandlePeerFound the way go-libp2p's mDNS service does, with a
// mocknet host and a fake node. The real service runs only in
// cmd/securechat's LAN tests, inside network namespaces they create.

// waitTimeout bounds every wait in these tests.
const waitTimeout = 10 * time.Second

// newHost returns a mocknet host (no socket) with an Ed25519 identity, as a
// node has: peer IDs compare as bytes, so the tie-break needs IDs of the
// same kind.
func newHost(t *testing.T) host.Host {
	t.Helper()
	mn := mocknet.New()
	t.Cleanup(func() { _ = mn.Close() })
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := mn.AddPeer(k, multiaddr.StringCast("/ip4/10.231.0.5/tcp/4001"))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// start returns a passive Discovery for a fresh host, closed at the end of
// the test.
func start(t *testing.T, fp *fakePeers, cfg Config) (*Discovery, peer.ID) {
	t.Helper()
	h := newHost(t)
	cfg.Passive = true
	d := New(h, fp, cfg)
	t.Cleanup(func() { _ = d.Close() })
	return d, h.ID()
}

// dialCall is one call of fakePeers.Dial.
type dialCall struct {
	id   peer.ID
	addr string
}

// fakePeers is a node: a dial succeeds (making the peer live) unless hold
// is set, in which case it waits for release or the end of its context.
type fakePeers struct {
	mu        sync.Mutex
	unwanted  map[peer.ID]bool
	live      map[peer.ID]bool
	busy      map[peer.ID]bool
	found     []peer.ID
	dials     []dialCall
	inDial    int
	maxInDial int
	ctxErrs   []error // ctx.Err() at the end of each held dial
	hold      bool
	release   chan struct{}
	foundGate chan struct{} // if set, Found waits for it to close
}

func newFakePeers() *fakePeers {
	return &fakePeers{
		unwanted: make(map[peer.ID]bool),
		live:     make(map[peer.ID]bool),
		busy:     make(map[peer.ID]bool),
		release:  make(chan struct{}),
	}
}

func (f *fakePeers) Wanted(p peer.ID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return !f.unwanted[p]
}

func (f *fakePeers) State(p peer.ID) (live, busy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live[p], f.live[p] || f.busy[p]
}

func (f *fakePeers) Found(ai peer.AddrInfo) {
	f.mu.Lock()
	gate := f.foundGate
	f.found = append(f.found, ai.ID)
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
}

func (f *fakePeers) Dial(ctx context.Context, ai peer.AddrInfo, addr multiaddr.Multiaddr) {
	f.mu.Lock()
	f.dials = append(f.dials, dialCall{ai.ID, addr.String()})
	f.inDial++
	f.maxInDial = max(f.maxInDial, f.inDial)
	hold := f.hold
	f.mu.Unlock()
	if hold {
		select {
		case <-f.release:
		case <-ctx.Done():
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inDial--
	if hold {
		f.ctxErrs = append(f.ctxErrs, ctx.Err())
	}
	if ctx.Err() == nil {
		f.live[ai.ID] = true
	}
}

func (f *fakePeers) foundCount(p peer.ID) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := 0
	for _, id := range f.found {
		if id == p {
			k++
		}
	}
	return k
}

func (f *fakePeers) dialsOf(p peer.ID) []dialCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []dialCall
	for _, c := range f.dials {
		if c.id == p {
			out = append(out, c)
		}
	}
	return out
}

// eventually polls cond until it holds or the wait times out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// peerID returns a fresh peer ID above (or below) self.
func peerID(t *testing.T, self peer.ID, above bool) peer.ID {
	t.Helper()
	for range 1000 {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if (id > self) == above {
			return id
		}
	}
	t.Fatalf("no peer ID on that side of %s", self)
	return ""
}

// lan returns an announcement of id on a LAN address.
func lan(t *testing.T, id peer.ID) peer.AddrInfo {
	return peer.AddrInfo{ID: id, Addrs: maddrs(t, "/ip4/10.231.0.7/tcp/4001", "/ip4/10.231.0.7/udp/4001/quic-v1")}
}

// drained waits until d's worker has handled every announcement fed so
// far: it handles them in order, so the Found of a fresh peer fed now marks
// the point. The fresh peer is below self, so it is not dialled at once.
func drained(t *testing.T, d *Discovery, fp *fakePeers, self peer.ID) {
	t.Helper()
	ai := lan(t, peerID(t, self, false))
	eventually(t, "the queue handled", func() bool {
		d.HandlePeerFound(ai) // repeated: a full queue drops it
		return fp.foundCount(ai.ID) > 0
	})
}

// TestDialsOnce: many announcements of a peer above us (and of ourselves)
// raise one Found and one dial, to the preferred address.
func TestDialsOnce(t *testing.T) {
	t.Parallel()
	fp := newFakePeers()
	d, self := start(t, fp, Config{})
	ai := lan(t, peerID(t, self, true))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(2)
		go func() { defer wg.Done(); d.HandlePeerFound(ai) }()
		go func() { defer wg.Done(); d.HandlePeerFound(peer.AddrInfo{ID: self, Addrs: ai.Addrs}) }()
	}
	wg.Wait()
	drained(t, d, fp, self)
	// The dial runs on a goroutine of its own after Found: wait for it,
	// then let the queue drain once more so that a second dial, if there
	// were one, would be seen too.
	eventually(t, "the dial", func() bool { return len(fp.dialsOf(ai.ID)) > 0 })
	drained(t, d, fp, self)
	dials := fp.dialsOf(ai.ID)
	if len(dials) != 1 || dials[0].addr != "/ip4/10.231.0.7/tcp/4001/p2p/"+ai.ID.String() {
		t.Errorf("dials = %v, want one of the TCP address", dials)
	}
	if k := fp.foundCount(ai.ID); k != 1 {
		t.Errorf("%d Found, want 1", k)
	}
	if k := fp.foundCount(self); k != 0 {
		t.Errorf("found itself %d times", k)
	}
}

// TestFallback: a peer below us is dialled only after Config.Fallback, a
// per-instance setting.
func TestFallback(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		fallback time.Duration
	}{{"long", time.Hour}, {"short", 50 * time.Millisecond}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fp := newFakePeers()
			d, self := start(t, fp, Config{Fallback: tt.fallback})
			ai := lan(t, peerID(t, self, false))
			d.HandlePeerFound(ai)
			drained(t, d, fp, self)
			if k := fp.foundCount(ai.ID); k != 1 {
				t.Errorf("%d Found, want 1", k)
			}
			if tt.fallback == time.Hour {
				if dials := fp.dialsOf(ai.ID); len(dials) != 0 {
					t.Errorf("dialled before the fallback: %v", dials)
				}
				return
			}
			eventually(t, "the fallback dial", func() bool { return len(fp.dialsOf(ai.ID)) == 1 })
		})
	}
}

// TestIgnores: ourselves, an empty ID, peers without a usable address,
// unwanted peers and peers with a live session raise nothing; a busy peer
// is found but not dialled, and found once.
func TestIgnores(t *testing.T) {
	t.Parallel()
	fp := newFakePeers()
	d, self := start(t, fp, Config{})
	unwanted, live, busy := peerID(t, self, true), peerID(t, self, true), peerID(t, self, true)
	noAddr := peerID(t, self, true)
	fp.unwanted[unwanted], fp.live[live], fp.busy[busy] = true, true, true
	for range 3 {
		d.HandlePeerFound(lan(t, self))
		d.HandlePeerFound(lan(t, ""))
		d.HandlePeerFound(peer.AddrInfo{ID: noAddr, Addrs: maddrs(t,
			"/ip4/127.0.0.1/tcp/1", "/ip4/0.0.0.0/tcp/1", "/ip6/fe80::1/tcp/1", "/ip4/10.0.0.1/tcp/1/ws")})
		d.HandlePeerFound(lan(t, unwanted))
		d.HandlePeerFound(lan(t, live))
		d.HandlePeerFound(lan(t, busy))
	}
	drained(t, d, fp, self)
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if len(fp.dials) != 0 {
		t.Errorf("dials = %v", fp.dials)
	}
	if len(fp.found) != 2 || fp.found[0] != busy {
		t.Errorf("found = %v, want the busy peer, then drained's", fp.found)
	}
}

// TestLoopbackOK: loopback announcements count only with LoopbackOK.
func TestLoopbackOK(t *testing.T) {
	t.Parallel()
	for _, ok := range []bool{false, true} {
		fp := newFakePeers()
		d, self := start(t, fp, Config{LoopbackOK: ok})
		id := peerID(t, self, true)
		d.HandlePeerFound(peer.AddrInfo{ID: id, Addrs: maddrs(t, "/ip4/127.0.0.1/tcp/4001")})
		drained(t, d, fp, self)
		if got := fp.foundCount(id) == 1; got != ok {
			t.Errorf("LoopbackOK %v: found %v", ok, got)
		}
	}
}

// TestMaxDials: no more than maxDials dials are in flight; the others wait
// and are all made once the first ones end.
func TestMaxDials(t *testing.T) {
	t.Parallel()
	fp := newFakePeers()
	fp.hold = true
	d, self := start(t, fp, Config{})
	var ids []peer.ID
	for range 3 * maxDials {
		id := peerID(t, self, true)
		ids = append(ids, id)
		d.HandlePeerFound(lan(t, id))
	}
	drained(t, d, fp, self)
	eventually(t, "dials in flight", func() bool { fp.mu.Lock(); defer fp.mu.Unlock(); return fp.inDial == maxDials })
	close(fp.release)
	eventually(t, "every peer dialled", func() bool {
		for _, id := range ids {
			if len(fp.dialsOf(id)) == 0 {
				return false
			}
		}
		return true
	})
	fp.mu.Lock()
	defer fp.mu.Unlock()
	if fp.maxInDial > maxDials {
		t.Errorf("%d dials in flight, want at most %d", fp.maxInDial, maxDials)
	}
	if len(fp.dials) != len(ids) {
		t.Errorf("%d dials for %d peers", len(fp.dials), len(ids))
	}
}

// TestCloseEndsDials: Close cancels the dials in flight and waits for them
// (goleak in TestMain checks that nothing is left); it can be called again,
// and HandlePeerFound after it does not block.
func TestCloseEndsDials(t *testing.T) {
	t.Parallel()
	fp := newFakePeers()
	fp.hold = true
	d, self := start(t, fp, Config{})
	d.HandlePeerFound(lan(t, peerID(t, self, true)))
	eventually(t, "a dial in flight", func() bool { fp.mu.Lock(); defer fp.mu.Unlock(); return fp.inDial == 1 })
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	fp.mu.Lock()
	if fp.inDial != 0 || len(fp.ctxErrs) != 1 || fp.ctxErrs[0] == nil {
		t.Errorf("after Close: %d dials in flight, context errors %v", fp.inDial, fp.ctxErrs)
	}
	fp.mu.Unlock()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 * queueSize {
		d.HandlePeerFound(lan(t, peerID(t, self, true)))
	}
}

// TestFloodNeverBlocks: with the worker stuck in Found, announcements are
// dropped, not waited for.
func TestFloodNeverBlocks(t *testing.T) {
	t.Parallel()
	fp := newFakePeers()
	gate := make(chan struct{})
	fp.foundGate = gate
	d, self := start(t, fp, Config{})
	first := lan(t, peerID(t, self, false))
	d.HandlePeerFound(first)
	eventually(t, "the worker in Found", func() bool { return fp.foundCount(first.ID) == 1 })
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 * queueSize {
			d.HandlePeerFound(first)
		}
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("HandlePeerFound blocked")
	}
	close(gate)
	fp.mu.Lock()
	fp.foundGate = nil
	fp.mu.Unlock()
	drained(t, d, fp, self)
	if k := fp.foundCount(first.ID); k != 1 {
		t.Errorf("%d Found, want 1", k)
	}
}
