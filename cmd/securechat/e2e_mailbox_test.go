package main

import (
	"fmt"
	"testing"
	"time"
)

// TestBinaryMailbox is issue 14's scenario with three real processes on
// loopback: a mailbox M (--serve-mailbox --mailbox-owner bob), bob with
// --mailbox M, and alice. Alice writes to bob while he is offline
// (deposited after the 10 s rule) and quits; bob comes back alone and
// shows every message once, in order; alice comes back and sees delivered
// for each.
func TestBinaryMailbox(t *testing.T) {
	needBinary(t)
	const total = 3
	portA, portB, portM := closedPort(t), closedPort(t), closedPort(t)
	b := newFaultPeer(t, "bob", "--listen", "/ip4/127.0.0.1/tcp/"+portB)
	bID := b.p.peerID()
	b.p.quit()
	m := newFaultPeer(t, "mbox", "--listen", "/ip4/127.0.0.1/tcp/"+portM, "--serve-mailbox", "--mailbox-owner", bID)
	mAddr := "/ip4/127.0.0.1/tcp/" + portM + "/p2p/" + m.p.peerID()
	b.args = append(b.args, "--mailbox", mAddr)
	b.start()
	a := newFaultPeer(t, "alice", "--listen", "/ip4/127.0.0.1/tcp/"+portA)
	aID := a.p.peerID()

	// They become each other's contacts: bob dials, alice writes back,
	// bob answers; his MAILBOX went out right after his dial.
	b.p.send(map[string]any{"cmd": "connect", "addr": "/ip4/127.0.0.1/tcp/" + portA + "/p2p/" + aID, "ref": "c"})
	b.p.waitFor(30*time.Second, map[string]any{"event": "connected", "ref": "c"})
	a.p.send(map[string]any{"cmd": "send", "to": bID, "text": "hello"})
	b.p.waitFor(30*time.Second, map[string]any{"event": "message", "peer_id": aID})
	b.p.send(map[string]any{"cmd": "send", "to": aID, "text": "hi"})
	a.p.waitFor(30*time.Second, map[string]any{"event": "message", "peer_id": bID})
	// MAILBOX carries 8 freshly signed prekeys: no event says it went
	// out, so bob stays a moment on a loaded machine (a wait, not a
	// timing assertion).
	time.Sleep(2 * time.Second)
	b.p.quit()
	a.p.waitFor(30*time.Second, map[string]any{"event": "session_down", "peer_id": bID})

	a.sendMany(bID, total, "away")
	var sent []string
	if !a.p.collect(60*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "deposited" && ev["peer_id"] == bID {
			sent = append(sent, ev["id"].(string))
		}
		return len(sent) == total
	}) {
		t.Fatalf("alice: %d of %d deposited: %s", len(sent), total, a.p.stderr.String())
	}
	a.p.quit()

	b.start()
	var shown []string
	if !b.p.collect(60*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "message" && ev["peer_id"] == aID {
			if want := fmt.Sprintf("away %d", len(shown)); ev["text"] != want {
				t.Errorf("bob shows %q, want %q", ev["text"], want)
			}
			shown = append(shown, ev["id"].(string))
		}
		return len(shown) == total
	}) {
		t.Fatalf("bob showed %d of %d from the mailbox", len(shown), total)
	}
	if dups, inOrder := exactlyOnce(sent, shown); dups != 0 || !inOrder {
		t.Fatalf("%d duplicates, in order %v", dups, inOrder)
	}

	a.start()
	delivered := map[string]bool{}
	if !a.p.collect(60*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "delivered" && ev["peer_id"] == bID {
			delivered[ev["id"].(string)] = true
		}
		return len(delivered) == total
	}) {
		t.Fatalf("alice: %d of %d delivered", len(delivered), total)
	}
	if out := a.historyIDs(bID, true); len(out) != total+1 {
		t.Errorf("alice's history holds %d own messages, want %d", len(out), total+1)
	}
	if n := b.p.count(func(ev map[string]any) bool { return ev["event"] == "message" && ev["peer_id"] == aID }); n != total {
		t.Errorf("bob showed %d messages after alice's resend, want %d", n, total)
	}
}
