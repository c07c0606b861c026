package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/cmd/securechat/internal/netns"
	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// TestNATInviteAttacks: behind NATs, with bob reachable only through the
// relay, the invites a stranger could hand alice in place of bob's, through
// the binary: a tampered one is refused as a bad address before anything is
// dialled; a well-signed one that names bob's peer ID and addresses under
// another identity (a forger's, or bob's old one after he changed it: the
// same on the wire) reaches bob but gives an alert and no session on either
// side. bob's real invite then works, and `securechat doctor --json` in
// alice's home shows the relay reserved and the NAT's outside address.
func TestNATInviteAttacks(t *testing.T) {
	needNATBinary(t)
	t.Parallel()
	env := natEnv(t)
	b := netns.NewNATBed(t)
	h1, h2 := b.AddHome(t, netns.PortPreserving), b.AddHome(t, netns.PortPreserving)
	relay := startSecurechatRelay(t, b, "relay", t.TempDir()+"/relay", env)
	alice := startNATNode(t, h1, "alice", env, relayFlags(relay)...)
	bob := startNATNode(t, h2, "bob", env, relayFlags(relay)...)
	waitCircuit(t, bob, relay.peerID(), 0)
	genuine := inviteOf(t, bob, "inv")

	// Tampered: one character changed in the signed part, or cut short.
	body := len("securechat:") + (len(genuine)-len("securechat:"))/2
	flip := byte('A')
	if genuine[body] == flip {
		flip = 'B'
	}
	tampered := map[string]string{
		"one character": genuine[:body] + string(flip) + genuine[body+1:],
		"cut short":     genuine[:len(genuine)-12],
	}
	for what, inv := range tampered {
		ref := "bad-" + strings.ReplaceAll(what, " ", "-")
		alice.send(map[string]any{"cmd": "connect", "addr": inv, "ref": ref})
		if ev := answer(t, alice, ref, "error"); ev["code"] != "bad_address" {
			t.Errorf("invite with %s: %v, want error bad_address", what, ev)
		}
	}
	// Nothing was dialled or kept: bob is no contact of alice's.
	alice.send(map[string]any{"cmd": "peers", "ref": "peers-0"})
	if ps, _ := answer(t, alice, "peers-0", "peers")["peers"].([]any); len(ps) != 0 {
		t.Errorf("after tampered invites alice knows %v", ps)
	}

	// Forged: bob's peer ID and addresses, signed by another identity.
	forged := forgeInvite(t, genuine)
	if n := bob.count(func(ev map[string]any) bool { return ev["peer_id"] == alice.peerID() }); n != 0 {
		t.Errorf("bob saw alice %d times after tampered invites only", n)
	}
	alice.send(map[string]any{"cmd": "connect", "addr": forged, "ref": "forged"})
	if ev := answer(t, alice, "forged", "error"); ev["code"] != "fingerprint_mismatch" && ev["code"] != "dial_failed" {
		t.Errorf("forged invite: %v, want error fingerprint_mismatch or dial_failed", ev)
	}
	alert := alice.wait("alert", event("alert", "peer_id", bob.peerID()))
	if alert["kind"] != "fingerprint_mismatch" {
		t.Errorf("forged invite: alert %v, want fingerprint_mismatch", alert)
	}

	// The real one: exactly one session on each side, the forged attempt
	// made none.
	alice.send(map[string]any{"cmd": "connect", "addr": genuine, "ref": "genuine"})
	answer(t, alice, "genuine", "connected")
	sessionUp(alice, bob)
	chat(alice, bob, "the real bob")
	for _, p := range []*proc{alice, bob} {
		peer := map[*proc]*proc{alice: bob, bob: alice}[p]
		if n := p.count(event("session_up", "peer_id", peer.peerID())); n != 1 {
			t.Errorf("%s: %d session_up with %s, want 1 (the genuine invite's)", p.name, n, peer.name)
		}
	}

	t.Run("doctor", func(t *testing.T) {
		r := natDoctor(t, h1, env, relayFlags(relay)...)
		if len(r.Relays) != 1 || r.Relays[0].PeerID != relay.peerID() || !r.Relays[0].Reserved || !r.Relays[0].Reachable {
			t.Errorf("doctor relays %+v, want %s reachable and reserved", r.Relays, relay.peerID())
		}
		if !slices.ContainsFunc(r.Addrs, func(a string) bool { return strings.Contains(a, "/p2p/"+relay.peerID()+"/p2p-circuit") }) {
			t.Errorf("doctor addrs %v: no circuit through the relay", r.Addrs)
		}
		// The relay saw the NAT's outside address.
		if !slices.ContainsFunc(r.Observed, func(a string) bool { return strings.HasPrefix(a, "/ip4/"+h1.NAT.IP+"/") }) {
			t.Errorf("doctor observed %v, want nat1's %s", r.Observed, h1.NAT.IP)
		}
		t.Logf("doctor: reachability %s, observed %v, advice %q", r.Reachability, r.Observed, r.Advice)
	})
	alice.quit()
	bob.quit()
	relay.quit()
}

// forgeInvite returns an invite with the peer ID, name and addresses of
// the genuine one, well signed by a new identity.
func forgeInvite(t *testing.T, genuine string) string {
	t.Helper()
	inv, err := p2p.ParseInvite(genuine)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.Decode(inv.PeerID)
	if err != nil {
		t.Fatal(err)
	}
	var raw [][]byte
	for _, a := range inv.Addrs {
		m, err := multiaddr.NewMultiaddr(a)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, m.Bytes())
	}
	id, err := e2e.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	f, err := e2e.NewInvite(id, []byte(pid), inv.Name, raw)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := p2p.ParseInvite(f.Encode()); err != nil || back.PeerID != inv.PeerID || back.Fingerprint == inv.Fingerprint {
		t.Fatalf("forged invite %+v: %v", back, err)
	}
	return f.Encode()
}

// doctorJSON is what the NAT tests read of `securechat doctor --json`, as a
// script would.
type doctorJSON struct {
	Addrs        []string `json:"addrs"`
	Observed     []string `json:"observed"`
	Reachability string   `json:"reachability"`
	Relays       []struct {
		PeerID    string `json:"peer_id"`
		Reachable bool   `json:"reachable"`
		Reserved  bool   `json:"reserved"`
	} `json:"relays"`
	Advice []string `json:"advice"`
}

// natDoctor runs `securechat doctor --json` in home h with args and returns
// its report.
func natDoctor(t *testing.T, h *netns.Home, env []string, args ...string) doctorJSON {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	full := append([]string{"doctor", "--json", "--ephemeral", "--no-mdns",
		"--listen", "/ip4/" + h.IP + "/tcp/0", "--listen", "/ip4/" + h.IP + "/udp/0/quic-v1"}, args...)
	cmd := binCommand(ctx, h.Command, env, full...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("doctor: %v: %s", err, errb.String())
	}
	var r doctorJSON
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("doctor --json: %v: %q", err, out.String())
	}
	if strings.Count(strings.TrimSpace(out.String()), "\n") != 0 {
		t.Errorf("doctor --json printed %d lines, want one JSON object", strings.Count(out.String(), "\n"))
	}
	return r
}
