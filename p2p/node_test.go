package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
)

func TestReady(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	r := a.ev.snapshot()[0].(Ready)
	if r.PeerID != a.PeerID() || r.Fingerprint != a.Fingerprint() || r.Name != "alice" {
		t.Fatalf("ready = %+v", r)
	}
	if len(r.Addrs) < 2 {
		t.Fatalf("ready addrs = %v, want TCP and QUIC", r.Addrs)
	}
	for _, s := range r.Addrs {
		if !strings.HasSuffix(s, "/p2p/"+a.PeerID()) || strings.Contains(s, "/tcp/0/") || strings.HasSuffix(s, "/udp/0/quic-v1") {
			t.Errorf("address %q is not a bound address ending in /p2p/<id>", s)
		}
	}
}

// chat sends count messages from one node to the other, concurrently with
// the reverse direction, and checks each arrives once, in order, and is
// delivered.
func TestChatBothWays(t *testing.T) {
	t.Parallel()
	const count = 300
	for _, transport := range []string{"tcp", "quic-v1"} {
		t.Run(transport, func(t *testing.T) {
			a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if _, err := a.Connect(ctx, b.addr(t, transport)); err != nil {
				t.Fatalf("Connect: %v", err)
			}
			up := b.ev.wait(t, "session up", isSessionUp(a.PeerID())).(SessionUp)
			if up.Name != "alice" || up.Trust != TrustNew || up.Fingerprint != a.Fingerprint() {
				t.Fatalf("b's session up = %+v", up)
			}
			a.ev.wait(t, "session up", isSessionUp(b.PeerID()))

			var wg sync.WaitGroup
			ids := map[*testNode][]string{}
			var mu sync.Mutex
			for _, pair := range [][2]*testNode{{a, b}, {b, a}} {
				from, to := pair[0], pair[1]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range count {
						id, err := from.Send(ctx, to.PeerID(), fmt.Sprintf("%s %d", from.name, i))
						if err != nil {
							t.Errorf("Send: %v", err)
							return
						}
						mu.Lock()
						ids[from] = append(ids[from], id)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			for _, pair := range [][2]*testNode{{a, b}, {b, a}} {
				from, to := pair[0], pair[1]
				got := to.ev.waitN(t, "messages", count, func(e Event) bool { _, ok := e.(MessageReceived); return ok })
				for i, e := range got {
					m := e.(MessageReceived)
					want := fmt.Sprintf("%s %d", from.name, i)
					if m.Text != want || m.ID != ids[from][i] || m.PeerID != from.PeerID() {
						t.Fatalf("message %d = %+v, want %q id %s", i, m, want, ids[from][i])
					}
				}
				del := from.ev.waitN(t, "delivered", count, func(e Event) bool { _, ok := e.(Delivered); return ok })
				seen := map[string]bool{}
				for _, e := range del {
					seen[e.(Delivered).ID] = true
				}
				if len(seen) != count {
					t.Fatalf("%d distinct deliveries, want %d", len(seen), count)
				}
			}
			if got := b.ev.count(func(e Event) bool { _, ok := e.(MessageReceived); return ok }); got != count {
				t.Fatalf("b got %d messages, want %d", got, count)
			}
		})
	}
}

// rawHost is a plain libp2p host on 127.0.0.1, with no securechat layer.
func rawHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrs(multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

func hostAddr(t *testing.T, h host.Host) multiaddr.Multiaddr {
	t.Helper()
	return multiaddr.StringCast(h.Addrs()[0].String() + "/p2p/" + h.ID().String())
}

// TestSplice puts a relay M between A and B: A's chat stream to M is copied
// byte for byte to a chat stream from M to B. The handshake binds the peer
// IDs of each authenticated connection, so neither side gets a session.
func TestSplice(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	m := rawHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	bInfo, _ := peer.AddrInfoFromP2pAddr(b.addr(t, "tcp"))
	if err := m.Connect(ctx, *bInfo); err != nil {
		t.Fatal(err)
	}
	var copies sync.WaitGroup
	t.Cleanup(copies.Wait)
	m.SetStreamHandler(protocol.ID(e2e.ProtocolID), func(in network.Stream) {
		out, err := m.NewStream(ctx, bInfo.ID, protocol.ID(e2e.ProtocolID))
		if err != nil {
			_ = in.Reset()
			return
		}
		copies.Add(2)
		pipe := func(dst, src network.Stream) {
			defer copies.Done()
			_, _ = io.Copy(dst, src)
			_ = dst.Reset()
			_ = src.Reset()
		}
		go pipe(out, in)
		go pipe(in, out)
	})
	_, err := a.Connect(ctx, hostAddr(t, m))
	if !errors.Is(err, ErrDialFailed) {
		t.Fatalf("Connect through splice = %v, want ErrDialFailed", err)
	}
	b.ev.wait(t, "b's handshake_failed", isAlert(AlertHandshakeFailed))
	for _, n := range []*testNode{a, b} {
		if k := n.ev.count(func(e Event) bool { _, ok := e.(SessionUp); return ok }); k != 0 {
			t.Fatalf("%d sessions came up through the splice", k)
		}
		if k := n.ev.count(func(e Event) bool { _, ok := e.(MessageReceived); return ok }); k != 0 {
			t.Fatalf("%d messages passed the splice", k)
		}
	}
}

func TestKeyChanged(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	hk := hostKey(t)
	id1 := mustFixtureIdentity(t, "id1")
	b1 := newKeyedNode(t, "bob", hk, id1)
	b1.connect(t, a)
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "session down", func(e Event) bool { _, ok := e.(SessionDown); return ok })

	id2 := mustFixtureIdentity(t, "id2")
	b2 := newKeyedNode(t, "bob", hk, id2)
	if b2.PeerID() != b1.PeerID() || b2.Fingerprint() == b1.Fingerprint() {
		t.Fatal("test setup: want the same peer ID with another identity")
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := b2.Connect(ctx, a.addr(t, "tcp")); err == nil {
		t.Fatal("Connect with a changed key succeeded")
	}
	al := a.ev.wait(t, "key_changed", isAlert(AlertKeyChanged)).(Alert)
	if al.PeerID != b2.PeerID() || !strings.Contains(al.Message, id1.Fingerprint().String()) ||
		!strings.Contains(al.Message, id2.Fingerprint().String()) {
		t.Fatalf("alert = %+v, want both fingerprints", al)
	}
	if k := a.ev.count(isSessionUp(b2.PeerID())); k != 1 {
		t.Fatalf("%d session ups for b, want only the first", k)
	}
	if _, err := a.Send(ctx, b2.PeerID(), "hi"); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("Send = %v, want ErrKeyChanged", err)
	}
	if ps := a.Peers(); len(ps) != 1 || !ps[0].KeyChanged {
		t.Fatalf("Peers = %+v, want one with KeyChanged", ps)
	}
	if err := a.TrustNewKey(b2.PeerID(), id1.Fingerprint()); !errors.Is(err, ErrFingerprintMismatch) {
		t.Fatalf("TrustNewKey(old) = %v", err)
	}
	if err := a.TrustNewKey(b2.PeerID(), id2.Fingerprint()); err != nil {
		t.Fatalf("TrustNewKey: %v", err)
	}
	if _, err := b2.Connect(ctx, a.addr(t, "tcp")); err != nil {
		t.Fatalf("Connect after TrustNewKey: %v", err)
	}
	up := a.ev.waitN(t, "second session up", 2, isSessionUp(b2.PeerID()))[1].(SessionUp)
	if up.Fingerprint != id2.Fingerprint() || up.Trust != TrustPinned {
		t.Fatalf("session up = %+v", up)
	}
	if _, err := a.Send(ctx, b2.PeerID(), "hi again"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	b2.ev.wait(t, "message", func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.Text == "hi again" })
	if err := a.Verify(b2.PeerID(), id2.Fingerprint()); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if ps := a.Peers(); ps[0].Trust != TrustVerified || ps[0].KeyChanged || ps[0].State != "online" {
		t.Fatalf("Peers = %+v", ps)
	}
}

// TestSimultaneousConnect dials from both sides at once: one session each
// side, raised once, and messages flow.
func TestSimultaneousConnect(t *testing.T) {
	t.Parallel()
	for i := range 3 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			var wg sync.WaitGroup
			for _, pair := range [][2]*testNode{{a, b}, {b, a}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := pair[0].Connect(ctx, pair[1].addr(t, "tcp")); err != nil {
						t.Errorf("Connect: %v", err)
					}
				}()
			}
			wg.Wait()
			for _, pair := range [][2]*testNode{{a, b}, {b, a}} {
				from, to := pair[0], pair[1]
				if _, err := from.Send(ctx, to.PeerID(), "after race"); err != nil {
					t.Fatal(err)
				}
				to.ev.wait(t, "message", func(e Event) bool { _, ok := e.(MessageReceived); return ok })
				from.ev.wait(t, "delivered", func(e Event) bool { _, ok := e.(Delivered); return ok })
			}
			for _, n := range []*testNode{a, b} {
				if k := n.ev.count(func(e Event) bool { _, ok := e.(SessionUp); return ok }); k != 1 {
					t.Errorf("%d session ups, want 1: %s", k, summarize(n.ev.snapshot()))
				}
				if k := n.ev.count(func(e Event) bool { _, ok := e.(SessionDown); return ok }); k != 0 {
					t.Errorf("%d session downs, want 0: %s", k, summarize(n.ev.snapshot()))
				}
				if k := n.ev.count(func(e Event) bool { _, ok := e.(MessageReceived); return ok }); k != 1 {
					t.Errorf("%d messages, want 1", k)
				}
			}
			eventually(t, "one chat stream per side", func() bool {
				return chatStreams(a.Node) == 1 && chatStreams(b.Node) == 1
			})
		})
	}
}

func chatStreams(n *Node) int {
	k := 0
	for _, c := range n.host.Network().Conns() {
		for _, s := range c.GetStreams() {
			if s.Protocol() == protocol.ID(e2e.ProtocolID) {
				k++
			}
		}
	}
	return k
}

// TestSafetyNumber: both ends of a session compute the same 60 digits, a
// third party's number with either differs, and without a session there is
// none.
func TestSafetyNumber(t *testing.T) {
	t.Parallel()
	a, b, c := newTestNode(t, "alice"), newTestNode(t, "bob"), newTestNode(t, "carol")
	if _, err := a.SafetyNumber(b.PeerID()); !errors.Is(err, ErrNoSession) {
		t.Fatalf("before a session: %v, want ErrNoSession", err)
	}
	a.connect(t, b)
	c.connect(t, b)
	ab, err := a.SafetyNumber(b.PeerID())
	if err != nil {
		t.Fatal(err)
	}
	ba, err := b.SafetyNumber(a.PeerID())
	if err != nil {
		t.Fatal(err)
	}
	cb, err := c.SafetyNumber(b.PeerID())
	if err != nil {
		t.Fatal(err)
	}
	if len(ab) != 60 || ab != ba {
		t.Fatalf("a sees %q, b sees %q: want the same 60 digits", ab, ba)
	}
	if cb == ab {
		t.Fatal("carol's safety number with bob equals alice's")
	}
	if _, err := a.SafetyNumber("not-a-peer-id"); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("bad peer ID: %v", err)
	}
}
