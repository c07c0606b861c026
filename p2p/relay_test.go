package p2p

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	relayclient "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/relay"
	"github.com/securechat/securechat/p2p/store"
)

// reserveBound bounds the wait for a reservation, also after a relay
// restart: one retry interval at its cap plus one attempt, with room.
const reserveBound = 2*relay.RetryMax + 15*time.Second

// startRelayNode starts a securechat node with ServeRelay on 127.0.0.1:port
// (TCP) with host key hk.
func startRelayNode(t *testing.T, hk crypto.PrivKey, port int) *testNode {
	t.Helper()
	id := mustFixtureIdentity(t, "relay")
	listen := []multiaddr.Multiaddr{multiaddr.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))}
	n, err := start(context.Background(), Config{ListenAddrs: listen, Name: "relay", ServeRelay: true}, testSettings(t, "relay"),
		nodeKeys{host: hk, id: id}, store.OpenMemory([32]byte{2}))
	if err != nil {
		t.Fatalf("start relay: %v", err)
	}
	return wrap(t, n)
}

// newRelayedNode starts an ephemeral node on 127.0.0.1 that keeps a
// reservation on each of relays.
func newRelayedNode(t *testing.T, name string, relays ...multiaddr.Multiaddr) *testNode {
	t.Helper()
	return newRelayedNodeCfg(t, Config{Name: name, Relays: relays})
}

// newRelayedNodeCfg is newRelayedNode with more of the configuration.
func newRelayedNodeCfg(t *testing.T, cfg Config) *testNode {
	t.Helper()
	cfg.Ephemeral, cfg.ListenAddrs = true, loopback
	n, err := newNode(context.Background(), cfg, testSettings(t, cfg.Name))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return wrap(t, n)
}

// circuitAddr returns tn's circuit address, waiting up to bound for one.
func (tn *testNode) circuitAddr(t *testing.T, bound time.Duration) multiaddr.Multiaddr {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		for _, a := range tn.Addrs() {
			if strings.Contains(a, "/p2p-circuit/") {
				return multiaddr.StringCast(a)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no circuit address in %v after %v", tn.Addrs(), bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hasCircuit(addrs []string) bool {
	for _, a := range addrs {
		if strings.Contains(a, "/p2p-circuit/") {
			return true
		}
	}
	return false
}

func isAddrsChanged(circuit bool) func(Event) bool {
	return func(e Event) bool { a, ok := e.(AddrsChanged); return ok && hasCircuit(a.Addrs) == circuit }
}

// exchange queues k messages each way between a and b, tagged with round
// (checkInOrder checks their arrival).
func exchange(t *testing.T, a, b *testNode, round string, k int) {
	t.Helper()
	if err := sendRound(a, b, round, k); err != nil {
		t.Fatal(err)
	}
}

func sendRound(a, b *testNode, round string, k int) error {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, pair := range [][2]*testNode{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		for i := range k {
			if _, err := from.Send(ctx, to.PeerID(), fmt.Sprintf("%s %s %d", round, from.name, i)); err != nil {
				return fmt.Errorf("Send: %w", err)
			}
		}
	}
	return nil
}

// checkInOrder checks that to received exactly the texts "<round> <from> i"
// for each round in turn, i from 0 to k-1, each once, in that order.
func checkInOrder(t *testing.T, from, to *testNode, rounds []string, k int) {
	t.Helper()
	want := len(rounds) * k
	isFrom := func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.PeerID == from.PeerID() }
	got := to.ev.waitN(t, "messages from "+from.name, want, isFrom)
	from.ev.waitN(t, "receipts", want, func(e Event) bool { d, ok := e.(Delivered); return ok && d.PeerID == to.PeerID() })
	for j, r := range rounds {
		for i := range k {
			m := got[j*k+i].(MessageReceived)
			if w := fmt.Sprintf("%s %s %d", r, from.name, i); m.Text != w {
				t.Fatalf("message %d from %s = %q, want %q", j*k+i, from.name, m.Text, w)
			}
		}
	}
	if n := to.ev.count(isFrom); n != want {
		t.Fatalf("%s got %d messages from %s, want %d", to.name, n, from.name, want)
	}
}

func TestRelayChat(t *testing.T) {
	r := startRelayNode(t, hostKey(t), 0)
	ra := r.addr(t, "tcp")
	a, b := newRelayedNode(t, "alice", ra), newRelayedNode(t, "bob", ra)
	bc := b.circuitAddr(t, reserveBound)
	b.ev.wait(t, "addrs with a circuit", isAddrsChanged(true))

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := a.Connect(ctx, bc); err != nil {
		t.Fatalf("Connect %s: %v", bc, err)
	}
	for _, p := range [][2]*testNode{{a, b}, {b, a}} {
		up := p[0].ev.wait(t, "session up", isSessionUp(p[1].PeerID())).(SessionUp)
		if up.Conn != ConnRelayed {
			t.Fatalf("%s: session up over %q, want relayed", p[0].name, up.Conn)
		}
	}
	exchange(t, a, b, "r", 20)
	checkInOrder(t, a, b, []string{"r"}, 20)
	checkInOrder(t, b, a, []string{"r"}, 20)
	for _, pi := range a.Peers() {
		if pi.PeerID == b.PeerID() && pi.Conn != ConnRelayed {
			t.Fatalf("a.Peers: conn %q, want relayed", pi.Conn)
		}
	}
}

func TestRelayRestart(t *testing.T) {
	hk := hostKey(t)
	r := startRelayNode(t, hk, 0)
	ra := r.addr(t, "tcp")
	port, err := ra.ValueForProtocol(multiaddr.P_TCP)
	if err != nil {
		t.Fatal(err)
	}
	b := newRelayedNode(t, "bob", ra)
	b.circuitAddr(t, reserveBound)

	if err := r.Close(); err != nil {
		t.Fatalf("close relay: %v", err)
	}
	// The reservation went with the connection: its address goes too.
	b.ev.wait(t, "addrs without a circuit", isAddrsChanged(false))
	if hasCircuit(b.Addrs()) {
		t.Fatalf("circuit address kept after the relay closed: %v", b.Addrs())
	}
	var p int
	fmt.Sscan(port, &p)
	r2 := startRelayNode(t, hk, p)
	if r2.PeerID() != r.PeerID() {
		t.Fatal("relay restarted under another peer ID")
	}
	bc := b.circuitAddr(t, reserveBound)
	b.ev.waitN(t, "addrs with a circuit again", 2, isAddrsChanged(true))

	a := newTestNode(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := a.Connect(ctx, bc); err != nil {
		t.Fatalf("Connect through the restarted relay: %v", err)
	}
}

// stockRelay is a plain go-libp2p host running libp2p's relay service with
// the given per-connection limit.
func stockRelay(t *testing.T, limit *relayv2.RelayLimit) (host.Host, multiaddr.Multiaddr) {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrs(multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := relayv2.New(h, relayv2.WithLimit(limit))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rs.Close()
		_ = h.Close()
	})
	return h, hostAddr(t, h)
}

// TestStockRelayLimit: a stock relay cuts each relayed connection after
// 2 seconds or 16 KiB; a chat that goes on for longer reconnects each time
// and every message arrives once, in order.
func TestStockRelayLimit(t *testing.T) {
	_, ra := stockRelay(t, &relayv2.RelayLimit{Duration: 2 * time.Second, Data: 16 << 10})
	// Both are reachable through the relay only, as behind NATs: every
	// reconnection, either way, goes through the relay again.
	a := newRelayedNodeCfg(t, Config{Name: "alice", Relays: []multiaddr.Multiaddr{ra}, circuitsOnly: true})
	b := newRelayedNodeCfg(t, Config{Name: "bob", Relays: []multiaddr.Multiaddr{ra}, circuitsOnly: true})
	bc := b.circuitAddr(t, reserveBound)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := a.Connect(ctx, bc); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if up := a.ev.wait(t, "session up", isSessionUp(b.PeerID())).(SessionUp); up.Conn != ConnRelayed {
		t.Fatalf("session up over %q, want relayed", up.Conn)
	}
	b.ev.wait(t, "session up", isSessionUp(a.PeerID()))
	// 40 messages of 300 bytes each way over 4 seconds: more time and
	// more bytes than one relayed connection may carry.
	pad := strings.Repeat("x", 300)
	var rounds []string
	for i := range 40 {
		rounds = append(rounds, fmt.Sprintf("m%02d%s", i, pad))
	}
	for _, r := range rounds {
		exchange(t, a, b, r, 1)
		time.Sleep(100 * time.Millisecond)
	}
	defer func() {
		if t.Failed() {
			t.Logf("a's events: %s", summarize(a.ev.snapshot()))
		}
	}()
	checkInOrder(t, a, b, rounds, 1)
	checkInOrder(t, b, a, rounds, 1)
	var paths []string
	for _, e := range a.ev.snapshot() {
		if u, ok := e.(SessionUp); ok {
			paths = append(paths, u.Conn)
		}
	}
	t.Logf("a's sessions with b came up over %v", paths)
	if slices.Contains(paths, ConnDirect) {
		t.Fatalf("a session came up over a direct connection (%v): a and b have no direct address", paths)
	}
	if a.ev.count(func(e Event) bool { d, ok := e.(SessionDown); return ok && d.PeerID == b.PeerID() }) == 0 {
		t.Fatal("the relay never cut the session: the test proved nothing")
	}
}

// TestPathSwitch: a session up over a relay moves to a direct connection as
// soon as one appears, and no message is lost, repeated or reordered.
func TestPathSwitch(t *testing.T) {
	r := startRelayNode(t, hostKey(t), 0)
	ra := r.addr(t, "tcp")
	a, b := newRelayedNode(t, "alice", ra), newRelayedNode(t, "bob", ra)
	a.connectAt(t, b, b.circuitAddr(t, reserveBound))
	exchange(t, a, b, "before", 30)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	// Hole punching needs a NAT; on loopback a direct dial stands in.
	direct := peer.AddrInfo{ID: b.host.ID(), Addrs: []multiaddr.Multiaddr{b.addr(t, "quic-v1")}}
	direct.Addrs[0], _ = peer.SplitAddr(direct.Addrs[0])
	during := make(chan error, 1)
	go func() { during <- sendRound(a, b, "during", 30) }()
	if err := a.host.Connect(network.WithForceDirectDial(ctx, "test"), direct); err != nil {
		t.Fatalf("direct connect: %v", err)
	}
	isDirect := func(p string) func(Event) bool {
		return func(e Event) bool { c, ok := e.(PathChanged); return ok && c.PeerID == p && c.Conn == ConnDirect }
	}
	a.ev.wait(t, "path change", isDirect(b.PeerID()))
	b.ev.wait(t, "path change", isDirect(a.PeerID()))
	if err := <-during; err != nil {
		t.Fatal(err)
	}
	checkInOrder(t, a, b, []string{"before", "during"}, 30)
	exchange(t, a, b, "after", 30)
	checkInOrder(t, a, b, []string{"before", "during", "after"}, 30)
	checkInOrder(t, b, a, []string{"before", "during", "after"}, 30)
	for _, n := range []*testNode{a, b} {
		if k := n.ev.count(func(e Event) bool { _, ok := e.(SessionDown); return ok }); k != 0 {
			t.Fatalf("%s: %d SessionDown across the path change", n.name, k)
		}
	}
}

// TestRelayFlood: throwaway peer IDs from one machine ask a securechat
// relay for reservations and circuits; the caps hold and a chat already on
// the relay carries on.
func TestRelayFlood(t *testing.T) {
	const flooders = 16
	r := startRelayNode(t, hostKey(t), 0)
	ra := r.addr(t, "tcp")
	a, b := newRelayedNode(t, "alice", ra), newRelayedNode(t, "bob", ra)
	bc := b.circuitAddr(t, reserveBound)
	a.circuitAddr(t, reserveBound)
	a.connectAt(t, b, bc)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()

	relayInfo, err := peer.AddrInfoFromP2pAddr(ra)
	if err != nil {
		t.Fatal(err)
	}
	bInfo, err := peer.AddrInfoFromP2pAddr(bc)
	if err != nil {
		t.Fatal(err)
	}
	type result struct{ reserved, circuit bool }
	results := make(chan result, flooders)
	for range flooders {
		h, err := libp2p.New(libp2p.ListenAddrs(multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")), libp2p.DisableMetrics())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		go func() {
			var res result
			_, err := relayclient.Reserve(ctx, h, *relayInfo)
			res.reserved = err == nil
			cerr := h.Connect(ctx, *bInfo)
			res.circuit = cerr == nil
			results <- res
		}()
	}
	var reserved, circuits int
	for range flooders {
		res := <-results
		if res.reserved {
			reserved++
		}
		if res.circuit {
			circuits++
		}
	}
	t.Logf("%d of %d flooders reserved, %d opened a circuit to b", reserved, flooders, circuits)
	// a and b hold two of the reservations from 127.0.0.1, and the chat
	// one of b's circuits.
	if reserved > relay.MaxReservationsPerIP-2 {
		t.Fatalf("%d flooders reserved, cap leaves %d", reserved, relay.MaxReservationsPerIP-2)
	}
	if circuits > relay.MaxCircuitsPerPeer-1 {
		t.Fatalf("%d flooders reached b, cap leaves %d", circuits, relay.MaxCircuitsPerPeer-1)
	}
	if reserved == 0 || circuits == 0 {
		t.Fatalf("no flooder got anything (%d reservations, %d circuits): the test proved nothing", reserved, circuits)
	}
	exchange(t, a, b, "after-flood", 10)
	checkInOrder(t, a, b, []string{"after-flood"}, 10)
	checkInOrder(t, b, a, []string{"after-flood"}, 10)
	if !hasCircuit(b.Addrs()) || !hasCircuit(a.Addrs()) {
		t.Fatal("an honest reservation was lost to the flood")
	}
}
