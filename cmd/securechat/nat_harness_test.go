package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/netns"
)

// The harness of the NAT tests with the real binary (nat_test.go,
// nat_invite_test.go, nat_bench_test.go): securechat nodes in the homes of
// the NAT testbed (internal/netns NATBed), a relay in pub (a securechat
// node with --serve-relay, or the stock go-libp2p relay of
// stockp2p_test.go), and an invite as the only way the two homes learn
// about each other.

// natWait bounds every wait of the NAT tests but the chats' own: a reservation,
// an invite's dial through the relay, a hole punch (DCUtR's three attempts
// each end within a direct dial timeout).
const natWait = 45 * time.Second

// natRelayPort is the port (TCP and UDP) a relay in pub listens on, the
// same again after a restart.
const natRelayPort = 4001

// natRelayListen are a relay's listen addresses in pub.
var natRelayListen = []string{
	fmt.Sprintf("/ip4/%s/tcp/%d", netns.PubIP, natRelayPort),
	fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", netns.PubIP, natRelayPort),
}

// natEnv is a clean environment for the binary (as binEnv), for a test or a
// benchmark, with the passphrase that a relay's home needs.
func natEnv(tb testing.TB) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SECURECHAT_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+tb.TempDir(), "SECURECHAT_PASSPHRASE="+testPassphrase)
}

// needNATBinary skips tb without the NAT testbed (root, nft) and fails it
// without the binary.
func needNATBinary(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("NAT process test skipped in -short mode")
	}
	netns.RequireNAT(tb)
	if binPath == "" {
		tb.Fatal(buildErr)
	}
}

// startSecurechatRelay starts a securechat node with --serve-relay in pub,
// on natRelayPort, with its identity in home: started again with the same
// home it has the same peer ID and addresses.
func startSecurechatRelay(tb testing.TB, b *netns.NATBed, name, home string, env []string) *proc {
	tb.Helper()
	args := []string{"--headless", "--no-mdns", "--name", name, "--home", home, "--serve-relay"}
	for _, a := range natRelayListen {
		args = append(args, "--listen", a)
	}
	return startProc(tb, name, b.Pub.Command, env, args...)
}

// startStockRelayAt starts the stock go-libp2p relay in pub on
// natRelayPort, with its identity from seed (fixed across restarts) and
// the given limits per relayed connection (zero: go-libp2p's defaults).
func startStockRelayAt(tb testing.TB, b *netns.NATBed, name, seed string, limit time.Duration, data int64) *proc {
	tb.Helper()
	cfg := stockRelayConfig{Listen: natRelayListen, KeySeed: seed, LimitDuration: limit, LimitData: data}
	return startStock(tb, name, b.Pub.Command, stockRelayEnv, cfg)
}

// relayFlags are the --relay flags for every address of relay.
func relayFlags(relay *proc) []string {
	var args []string
	for _, a := range readyAddrs(relay) {
		if !strings.Contains(a, "/p2p/") {
			a += "/p2p/" + relay.peerID()
		}
		args = append(args, "--relay", a)
	}
	return args
}

// startNATNode starts an ephemeral headless node in home h, mDNS off,
// listening on h's address over TCP and QUIC, with args (such as --relay).
func startNATNode(tb testing.TB, h *netns.Home, name string, env []string, args ...string) *proc {
	tb.Helper()
	full := []string{"--headless", "--no-mdns", "--ephemeral", "--name", name,
		"--listen", "/ip4/" + h.IP + "/tcp/0", "--listen", "/ip4/" + h.IP + "/udp/0/quic-v1"}
	return startProc(tb, name, h.Command, env, append(full, args...)...)
}

// hasCircuit reports whether the list of addresses v (an event's addrs)
// holds a circuit address of this node through relayID.
func hasCircuit(v any, relayID string) bool {
	list, _ := v.([]any)
	return slices.ContainsFunc(list, func(a any) bool {
		s, _ := a.(string)
		return strings.Contains(s, "/p2p/"+relayID+"/p2p-circuit/")
	})
}

// waitCircuit waits, from event index from on, until p's addrs event lists
// a circuit address through relayID, and returns that event's index + 1.
func waitCircuit(tb testing.TB, p *proc, relayID string, from int) int {
	tb.Helper()
	next, err := p.scan(from, natWait, func(ev map[string]any) bool {
		return ev["event"] == "addrs" && hasCircuit(ev["addrs"], relayID)
	})
	if err != nil {
		tb.Fatalf("%s: no addrs event with a circuit through the relay (%v); events: %v\nstderr: %s", p.name, err, p.events()[from:], p.stderr.String())
	}
	return next
}

// inviteOf asks p for its invite (the headless invite command) and returns
// it.
func inviteOf(tb testing.TB, p *proc, ref string) string {
	tb.Helper()
	p.send(map[string]any{"cmd": "invite", "ref": ref})
	ev, _ := p.waitAt(natWait, "invite "+ref, func(ev map[string]any) bool { return ev["ref"] == ref })
	inv, _ := ev["invite"].(string)
	if ev["event"] != "invite" || !strings.HasPrefix(inv, "securechat:") {
		tb.Fatalf("%s: answer to invite: %v", p.name, ev)
	}
	return inv
}

// meetByInvite has b's invite, taken once b holds a reservation on relay,
// connected to by a; it waits for the connected answer and for session_up
// on both sides, and returns both session_up events.
func meetByInvite(tb testing.TB, a, b *proc, relayID, ref string) (aUp, bUp map[string]any) {
	tb.Helper()
	waitCircuit(tb, b, relayID, 0)
	inv := inviteOf(tb, b, ref+"-inv")
	a.send(map[string]any{"cmd": "connect", "addr": inv, "ref": ref})
	ans, _ := a.waitAt(natWait, "answer to connect "+ref, func(ev map[string]any) bool { return ev["ref"] == ref })
	if ans["event"] != "connected" || ans["peer_id"] != b.peerID() {
		tb.Fatalf("%s: connect to %s's invite: %v\n%s stderr: %s", a.name, b.name, ans, b.name, b.stderr.String())
	}
	aUp, _ = a.waitAt(natWait, "session_up with "+b.name, event("session_up", "peer_id", b.peerID()))
	bUp, _ = b.waitAt(natWait, "session_up with "+a.name, event("session_up", "peer_id", a.peerID()))
	return aUp, bUp
}

// trySend writes a send command without failing the test, for a sender
// goroutine: a write that fails (the process died) ends the stream.
func trySend(p *proc, to, text, ref string) error {
	_, err := io.WriteString(p.stdin, fmt.Sprintf(`{"cmd":"send","to":%q,"text":%q,"ref":%q}`+"\n", to, text, ref))
	return err
}

// A stream is one direction of a chat: from sends texts "<tag> <i>" to to,
// with refs "<tag>-<i>".
type stream struct {
	from, to *proc
	tag      string
}

func (s stream) text(i int) string { return fmt.Sprintf("%s %d", s.tag, i) }
func (s stream) ref(i int) string  { return fmt.Sprintf("%s-%d", s.tag, i) }

// run sends n messages, one every gap, and calls between(i) before each
// (if not nil). It returns the first write error. It runs on its own
// goroutine, owned by the test that waits for it.
func (s stream) run(ctx context.Context, n int, gap time.Duration) error {
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for i := range n {
		if err := trySend(s.from, s.to.peerID(), s.text(i), s.ref(i)); err != nil {
			return fmt.Errorf("%s: send %d: %w", s.from.name, i, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// check verifies that the n messages of s arrived exactly once each and in
// order, with the ids their sent events gave, and were all delivered; it
// waits at most wait for the last of them.
func (s stream) check(tb testing.TB, n int, wait time.Duration) {
	tb.Helper()
	ids := make([]string, n)
	refIdx := make(map[string]int, n)
	for i := range n {
		refIdx[s.ref(i)] = i
	}
	s.from.waitCount("sent "+s.tag, wait, n, func(ev map[string]any) bool {
		if ev["event"] != "sent" {
			return false
		}
		i, ok := refIdx[fmt.Sprint(ev["ref"])]
		if ok {
			ids[i], _ = ev["id"].(string)
		}
		return ok
	})
	prefix := s.tag + " "
	isMine := func(ev map[string]any) bool {
		text, _ := ev["text"].(string)
		return ev["event"] == "message" && ev["peer_id"] == s.from.peerID() && strings.HasPrefix(text, prefix)
	}
	s.to.waitCount("messages "+s.tag, wait, n, isMine)
	var got []map[string]any
	for _, ev := range s.to.events() {
		if isMine(ev) {
			got = append(got, ev)
		}
	}
	if len(got) != n {
		tb.Errorf("%s: %d messages %q, want %d", s.to.name, len(got), s.tag, n)
	}
	for i := range min(len(got), n) {
		if got[i]["text"] != s.text(i) || got[i]["id"] != ids[i] {
			tb.Errorf("%s: message %d of %q is %v %v, want %q id %s", s.to.name, i, s.tag, got[i]["text"], got[i]["id"], s.text(i), ids[i])
			break
		}
	}
	want := make(map[string]bool, n)
	for _, id := range ids {
		want[id] = true
	}
	s.from.waitCount("delivered "+s.tag, wait, n, func(ev map[string]any) bool {
		if ev["event"] != "delivered" || ev["peer_id"] != s.to.peerID() || !want[fmt.Sprint(ev["id"])] {
			return false
		}
		delete(want, fmt.Sprint(ev["id"])) // count each id once
		return true
	})
}

// chatBothWays runs a stream each way between a and b at once, n messages
// each, one every gap, calling during (if not nil) on the test's goroutine
// while they run; then it checks both.
func chatBothWays(tb testing.TB, a, b *proc, n int, gap, wait time.Duration, during func()) {
	tb.Helper()
	ab, ba := stream{a, b, a.name + ">" + b.name}, stream{b, a, b.name + ">" + a.name}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, 2)
	for _, s := range []stream{ab, ba} {
		go func() { errs <- s.run(ctx, n, gap) }()
	}
	if during != nil {
		during()
	}
	for range 2 {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
	ab.check(tb, n, wait)
	ba.check(tb, n, wait)
}
