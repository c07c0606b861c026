package main

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/netns"
)

// TestNATMailbox is the mailbox scenario in the NAT testbed: a node in the
// public segment is both relay and mailbox; alice and bob sit behind
// symmetric NATs. They meet once through the relay; then alice writes
// while bob is away and quits, bob comes back and reads everything from his
// mailbox (dialled out through his NAT), and alice, back too, sees each
// message delivered.
func TestNATMailbox(t *testing.T) {
	needNATBinary(t)
	t.Parallel()
	const total = 3
	env := natEnv(t)
	b := netns.NewNATBed(t)
	h1, h2 := b.AddHome(t, netns.Symmetric), b.AddHome(t, netns.Symmetric)
	dir := t.TempDir()
	homeA, homeB := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	start := func(h *netns.Home, name, home string, args ...string) *proc {
		full := []string{"--headless", "--no-mdns", "--name", name, "--home", home,
			"--listen", "/ip4/" + h.IP + "/tcp/0", "--listen", "/ip4/" + h.IP + "/udp/0/quic-v1", "--holepunch-private"}
		return startProc(t, name, h.Command, env, append(full, args...)...)
	}
	a := start(h1, "alice", homeA)
	aID := a.peerID()
	a.quit()
	bob := start(h2, "bob", homeB)
	bID := bob.peerID()
	bob.quit()

	margs := []string{"--headless", "--no-mdns", "--name", "mbox", "--home", filepath.Join(dir, "mbox"),
		"--serve-relay", "--serve-mailbox", "--mailbox-owner", aID, "--mailbox-owner", bID}
	for _, l := range natRelayListen {
		margs = append(margs, "--listen", l)
	}
	m := startProc(t, "mbox", b.Pub.Command, env, margs...)
	flags := append(relayFlags(m), "--mailbox", fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", netns.PubIP, natRelayPort, m.peerID()))
	a = start(h1, "alice", homeA, flags...)
	bob = start(h2, "bob", homeB, flags...)
	// meetByInvite, but bob's circuit may already be in his ready event
	// (a home keeps its ports, so the reservation can come before it).
	if _, err := bob.scan(0, natWait, func(ev map[string]any) bool {
		return (ev["event"] == "addrs" || ev["event"] == "ready") && hasCircuit(ev["addrs"], m.peerID())
	}); err != nil {
		t.Fatalf("bob: no circuit address: %v", err)
	}
	a.send(map[string]any{"cmd": "connect", "addr": inviteOf(t, bob, "inv"), "ref": "meet"})
	a.waitFor(natWait, map[string]any{"event": "connected", "ref": "meet", "peer_id": bID})
	bob.waitFor(natWait, map[string]any{"event": "session_up", "peer_id": aID})
	// Bob writes back: alice is his contact now, and each knows the
	// other's mailbox.
	bob.send(map[string]any{"cmd": "send", "to": aID, "text": "hi"})
	a.waitFor(natWait, map[string]any{"event": "message", "peer_id": bID})
	a.send(map[string]any{"cmd": "send", "to": bID, "text": "hello"})
	bob.waitFor(natWait, map[string]any{"event": "message", "peer_id": aID})
	// MAILBOX carries 8 freshly signed prekeys, made after the
	// promotion on a loaded machine: no event says it went out, so bob
	// stays a moment (a wait, not a timing assertion).
	time.Sleep(3 * time.Second)
	bob.quit()
	a.waitFor(natWait, map[string]any{"event": "session_down", "peer_id": bID})

	for i := range total {
		a.send(map[string]any{"cmd": "send", "to": bID, "text": fmt.Sprintf("away %d", i)})
	}
	var sent []string
	if !a.collect(60*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "deposited" && ev["peer_id"] == bID {
			sent = append(sent, ev["id"].(string))
		}
		return len(sent) == total
	}) {
		t.Fatalf("alice: %d of %d deposited\n%s", len(sent), total, a.stderr.String())
	}
	a.quit()

	bob = start(h2, "bob", homeB, flags...)
	var shown []string
	if !bob.collect(60*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "message" && ev["peer_id"] == aID {
			shown = append(shown, ev["id"].(string))
		}
		return len(shown) == total
	}) {
		t.Fatalf("bob showed %d of %d from his mailbox\n%s", len(shown), total, bob.stderr.String())
	}
	if dups, inOrder := exactlyOnce(sent, shown); dups != 0 || !inOrder {
		t.Fatalf("%d duplicates, in order %v", dups, inOrder)
	}

	a = start(h1, "alice", homeA, flags...)
	delivered := map[string]bool{}
	if !a.collect(90*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "delivered" && ev["peer_id"] == bID {
			delivered[ev["id"].(string)] = true
		}
		return len(delivered) == total
	}) {
		t.Fatalf("alice: %d of %d delivered", len(delivered), total)
	}
	a.quit()
	bob.quit()
	m.quit()
}
