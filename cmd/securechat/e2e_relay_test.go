package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/doctor"
	"github.com/securechat/securechat/p2p"
	"github.com/securechat/securechat/p2p/relay"
)

// relayWaitTest bounds the wait for a reservation on a loopback relay.
const relayWaitTest = 30 * time.Second

// anyCircuit reports whether an event's addrs list a circuit address.
func anyCircuit(v any) bool {
	list, _ := v.([]any)
	return slices.ContainsFunc(list, func(a any) bool { s, _ := a.(string); return strings.Contains(s, "/p2p-circuit/") })
}

// TestBinaryRelayInvite runs three binaries on loopback: a relay
// (--serve-relay), bob holding a reservation on it (--relay), and alice,
// who connects to bob's invite. bob's addrs event lists his circuit
// address; the invite carries it; connected, session_up and peers name the
// connection. Then invite and doctor, as subcommands, against the relay.
func TestBinaryRelayInvite(t *testing.T) {
	needBinary(t)
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	rel := startHeadless(t, "relay", binEnv(t), "--ephemeral", "--serve-relay")
	raddr := rel.addr()
	bob := startHeadless(t, "bob", binEnv(t), "--ephemeral", "--relay", raddr)
	ev, _ := bob.waitAt(relayWaitTest, "addrs with a circuit", func(ev map[string]any) bool {
		return ev["event"] == "addrs" && anyCircuit(ev["addrs"])
	})
	if r := ev["reachability"]; r != "public" && r != "private" && r != "unknown" {
		t.Errorf("addrs reachability %v", r)
	}

	bob.send(map[string]any{"cmd": "invite", "ref": "inv"})
	ans := bob.waitFor(10*time.Second, map[string]any{"event": "invite", "ref": "inv"})
	text, _ := ans["invite"].(string)
	inv, err := p2p.ParseInvite(text)
	if err != nil || inv.PeerID != bob.peerID() || inv.Fingerprint.String() != bob.fingerprint() {
		t.Fatalf("bob's invite %q: %v %+v", text, err, inv)
	}
	if !slices.ContainsFunc(inv.Addrs, func(a string) bool { return strings.Contains(a, "/p2p-circuit/") }) {
		t.Fatalf("bob's invite holds no circuit address: %v", inv.Addrs)
	}
	if !anyCircuit(ans["addrs"]) {
		t.Errorf("invite's addrs %v", ans["addrs"])
	}

	alice := startHeadless(t, "alice", binEnv(t), "--ephemeral")
	alice.send(map[string]any{"cmd": "connect", "addr": text, "ref": "c"})
	conn := alice.waitFor(30*time.Second, map[string]any{"event": "connected", "ref": "c", "peer_id": bob.peerID()})
	if c := conn["conn"]; c != "relayed" && c != "direct" {
		t.Fatalf("connected conn %v", c)
	}
	up, _ := alice.waitAt(10*time.Second, "session_up", func(ev map[string]any) bool {
		return ev["event"] == "session_up" && ev["peer_id"] == bob.peerID()
	})
	if c := up["conn"]; c != "relayed" && c != "direct" {
		t.Fatalf("session_up conn %v", c)
	}
	alice.send(map[string]any{"cmd": "peers", "ref": "p"})
	ps, _ := alice.waitFor(10*time.Second, map[string]any{"event": "peers", "ref": "p"})["peers"].([]any)
	found := false
	for _, p := range ps {
		m := p.(map[string]any)
		if m["peer_id"] == bob.peerID() {
			found = true
			if c := m["conn"]; c != "relayed" && c != "direct" || m["blocked"] != false || m["state"] != "online" {
				t.Errorf("alice's peers entry for bob: %v", m)
			}
		}
	}
	if !found {
		t.Fatalf("bob not in alice's peers: %v", ps)
	}
	// The invite pinned bob's fingerprint; a session under it came up.
	alice.send(map[string]any{"cmd": "send", "to": bob.peerID(), "text": "through the relay"})
	bob.waitFor(20*time.Second, map[string]any{"event": "message", "peer_id": alice.peerID(), "text": "through the relay"})

	lo := "/ip4/127.0.0.1/tcp/0"
	t.Run("invite subcommand", func(t *testing.T) {
		out, stderr, code := runBinary(t, binEnv(t), "invite", "--ephemeral", "--no-mdns", "--listen", lo, "--relay", raddr)
		if code != 0 || strings.Count(out, "\n") != 1 {
			t.Fatalf("exit %d, %q: %s", code, out, stderr)
		}
		inv, err := p2p.ParseInvite(out)
		if err != nil || !slices.ContainsFunc(inv.Addrs, func(a string) bool { return strings.Contains(a, "/p2p-circuit/") }) {
			t.Fatalf("invite %q: %v %+v", out, err, inv)
		}
	})
	t.Run("doctor json", func(t *testing.T) {
		out, stderr, code := runBinary(t, binEnv(t), "doctor", "--json", "--ephemeral", "--no-mdns", "--listen", lo, "--relay", raddr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var r doctor.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %q", err, out)
		}
		if len(r.Relays) != 1 || r.Relays[0].PeerID != rel.peerID() || !r.Relays[0].Reserved || !r.Relays[0].Reachable ||
			r.Relays[0].LimitSeconds != int64(relay.CircuitDuration/time.Second) || r.Relays[0].LimitBytes != relay.CircuitData {
			t.Fatalf("relays %+v", r.Relays)
		}
		if r.MDNS || len(r.Listen) == 0 || !slices.ContainsFunc(r.Addrs, func(a string) bool { return strings.Contains(a, "/p2p-circuit/") }) ||
			r.Observed == nil || r.HolePunches == nil || len(r.Advice) == 0 {
			t.Fatalf("report %+v", r)
		}
	})
	t.Run("doctor text", func(t *testing.T) {
		out, stderr, code := runBinary(t, binEnv(t), "doctor", "--ephemeral", "--no-mdns", "--listen", lo, "--relay", raddr)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		for _, want := range []string{"listening on:\n  /ip4/127.0.0.1/tcp/", "relays:\n  " + rel.peerID()[:6], "reachable, reserved",
			"limits 24 h and 64 MiB", "mDNS:          off", "Friends anywhere can reach you through your relay"} {
			if !strings.Contains(out, want) {
				t.Errorf("doctor output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("doctor without relay", func(t *testing.T) {
		out, _, code := runBinary(t, binEnv(t), "doctor", "--ephemeral", "--no-mdns", "--listen", lo)
		if code != 0 || !strings.Contains(out, "(none: --relay MULTIADDR)") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}
