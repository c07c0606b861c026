package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	// Test-only: a plain go-libp2p client checks the stock relay.
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
)

// loopbackListen is where the loopback tests' programs listen.
var loopbackListen = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}

// relayInfo is the stock relay's identity and addresses from its ready
// event.
func relayInfo(t testing.TB, relay *proc) peer.AddrInfo {
	t.Helper()
	ai, err := addrInfo(relay.peerID(), readyAddrs(relay))
	if err != nil {
		t.Fatalf("%s ready event: %v", relay.name, err)
	}
	return ai
}

// readyAddrs returns the addresses of p's ready event.
func readyAddrs(p *proc) []string {
	var s []string
	for _, a := range p.ready["addrs"].([]any) {
		s = append(s, a.(string))
	}
	return s
}

// circuitAddrs are the addresses of a peer holding a reservation on relay.
func circuitAddrs(relay *proc) []string {
	var s []string
	for _, a := range readyAddrs(relay) {
		s = append(s, a+"/p2p/"+relay.peerID()+"/p2p-circuit")
	}
	return s
}

// TestStockRelay: the stock relay runs with the identity and limits the
// test sets, a plain go-libp2p client reserves a slot over TCP and over
// QUIC and is told those limits, and the relay stops cleanly on stdin's end
// and on SIGTERM.
func TestStockRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	const seed = "5ec0c4a75ec0c4a75ec0c4a75ec0c4a75ec0c4a75ec0c4a75ec0c4a75ec0c4a7"
	key, err := keyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	want, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := stockRelayConfig{Listen: loopbackListen, LimitDuration: 45 * time.Second, LimitData: 96 << 10, KeySeed: seed}
	relay := startStock(t, "relay", exec.CommandContext, stockRelayEnv, cfg)
	if relay.peerID() != want.String() {
		t.Fatalf("relay peer ID %s, want %s from the seed", relay.peerID(), want)
	}
	ai := relayInfo(t, relay)
	for _, transport := range []string{"/tcp/", "/quic-v1"} {
		t.Run(strings.Trim(transport, "/"), func(t *testing.T) {
			one := peer.AddrInfo{ID: ai.ID}
			for _, a := range ai.Addrs {
				if strings.Contains(a.String(), transport) {
					one.Addrs = append(one.Addrs, a)
				}
			}
			if len(one.Addrs) != 1 {
				t.Fatalf("relay addresses %v: want one with %s", ai.Addrs, transport)
			}
			// A host of its own: it knows the relay by this address only.
			h := newClientHost(t)
			ctx, cancel := context.WithTimeout(context.Background(), lanWait)
			defer cancel()
			r, err := client.Reserve(ctx, h, one)
			if err != nil {
				t.Fatalf("reserve over %s: %v", one.Addrs[0], err)
			}
			if r.LimitDuration != cfg.LimitDuration || r.LimitData != uint64(cfg.LimitData) {
				t.Errorf("reservation limits %v, %d B; want %v, %d B", r.LimitDuration, r.LimitData, cfg.LimitDuration, cfg.LimitData)
			}
			if !r.Expiration.After(time.Now()) {
				t.Errorf("reservation expires %v, in the past", r.Expiration)
			}
			// A stock relay vouches for public addresses only.
			if len(r.Addrs) != 0 {
				t.Errorf("reservation vouches for %v; a stock relay on 127.0.0.1 vouches for none", r.Addrs)
			}
			if c := h.Network().ConnsToPeer(ai.ID); len(c) == 0 || !strings.Contains(c[0].RemoteMultiaddr().String(), transport) {
				t.Errorf("connections to the relay: %v, want one over %s", c, transport)
			}
		})
	}
	relay.stop()

	// Defaults, any reservation address, and SIGTERM.
	relay = startStock(t, "relay2", exec.CommandContext, stockRelayEnv, stockRelayConfig{Listen: loopbackListen, AnyReservationAddrs: true})
	if relay.peerID() == want.String() {
		t.Error("a relay without key_seed has the seeded identity")
	}
	if d, n := relay.ready["limit_duration_ms"], relay.ready["limit_data"]; d != float64(120000) || n != float64(128<<10) {
		t.Errorf("default limits %v ms, %v B; want go-libp2p's 2 min, 128 KiB", d, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), lanWait)
	defer cancel()
	r, err := client.Reserve(ctx, newClientHost(t), relayInfo(t, relay))
	if err != nil {
		t.Fatal(err)
	}
	vouched := addrStrings(r.Addrs)
	for _, a := range readyAddrs(relay) {
		if !slices.ContainsFunc(vouched, func(v string) bool { return strings.HasPrefix(v, a) }) {
			t.Errorf("reservation vouches for %v, not for the relay's %s", vouched, a)
		}
	}
	if err := relay.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := relay.waitExit(30 * time.Second); code != 0 {
		t.Errorf("relay exited with %d after SIGTERM: %s", code, relay.stderr.String())
	}
}

// newClientHost makes a plain go-libp2p host on 127.0.0.1, closed when t
// ends.
func newClientHost(t *testing.T) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings(loopbackListen[0]), libp2p.ForceReachabilityPrivate())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// relayEcho checks a relay path between two echo peers: e2 reserves a slot
// on relay, e1 dials e2's circuit address and echoes text over the limited
// connection, e2 echoes back over the same connection; then, with
// overLimit > 0, an echo of that many bytes breaks the relay's data limit
// and fails.
func relayEcho(t *testing.T, relay, e1, e2 *proc, overLimit int) {
	t.Helper()
	e2.send(map[string]any{"cmd": "reserve", "ref": "rsv", "peer_id": relay.peerID(), "addrs": readyAddrs(relay)})
	rsv := answer(t, e2, "rsv", "reserved")
	t.Logf("%s reserved on the relay: %v", e2.name, rsv)
	e1.send(map[string]any{"cmd": "echo", "ref": "e1", "peer_id": e2.peerID(), "addrs": circuitAddrs(relay), "text": "hello over the relay"})
	ev := answer(t, e1, "e1", "echoed")
	if ev["limited"] != true || !strings.Contains(fmt.Sprint(ev["addr"]), "/p2p-circuit") {
		t.Errorf("%s echoed over %v (limited %v), want the relayed connection", e1.name, ev["addr"], ev["limited"])
	}
	// Back over the connection e2 received: no addresses needed.
	e2.send(map[string]any{"cmd": "echo", "ref": "e2", "peer_id": e1.peerID(), "text": "and back"})
	if ev := answer(t, e2, "e2", "echoed"); ev["limited"] != true {
		t.Errorf("%s echoed back over %v, want the relayed connection", e2.name, ev["addr"])
	}
	if overLimit > 0 {
		e1.send(map[string]any{"cmd": "echo", "ref": "big", "peer_id": e2.peerID(), "addrs": circuitAddrs(relay), "size": overLimit})
		ev := answer(t, e1, "big", "")
		if ev["event"] != "error" {
			t.Errorf("an echo of %d B through the relay's data limit: %v, want an error", overLimit, ev)
		}
	}
}

// answer waits for p's answer to the command ref and fails unless it is
// kind (any kind if empty).
func answer(t *testing.T, p *proc, ref, kind string) map[string]any {
	t.Helper()
	ev := p.wait("answer to "+ref, func(ev map[string]any) bool { return ev["ref"] == ref })
	if kind != "" && ev["event"] != kind {
		t.Fatalf("%s: answer to %s: %v, want %s", p.name, ref, ev, kind)
	}
	return ev
}

// TestStockRelayEcho: two stock echo peers on 127.0.0.1 talk through the
// stock relay, within its limits and not beyond.
func TestStockRelayEcho(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	relay := startStock(t, "relay", exec.CommandContext, stockRelayEnv, stockRelayConfig{Listen: loopbackListen, LimitData: 64 << 10})
	e1 := startStock(t, "peer1", exec.CommandContext, stockPeerEnv, stockPeerConfig{Listen: loopbackListen})
	e2 := startStock(t, "peer2", exec.CommandContext, stockPeerEnv, stockPeerConfig{Listen: loopbackListen})
	relayEcho(t, relay, e1, e2, 256<<10)
	for _, p := range []*proc{e1, e2, relay} {
		p.stop()
	}
}
