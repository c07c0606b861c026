package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Fault tests with real processes on 127.0.0.1: kill -9 at awkward moments,
// then restart on the same home. The figures they log go into the issue
// note (design/readme-outbox.md).

// faultPeer is a restartable headless process on a fixed home.
type faultPeer struct {
	t    *testing.T
	name string
	home string
	args []string
	p    *proc
}

func newFaultPeer(t *testing.T, name string, args ...string) *faultPeer {
	fp := &faultPeer{t: t, name: name, home: filepath.Join(t.TempDir(), name), args: args}
	fp.start()
	return fp
}

func (fp *faultPeer) start() {
	fp.t.Helper()
	args := append([]string{"--home", fp.home}, fp.args...)
	fp.p = startHeadless(fp.t, fp.name, binEnv(fp.t, "SECURECHAT_PASSPHRASE="+testPassphrase), args...)
}

// kill sends SIGKILL and waits for the process to be gone.
func (fp *faultPeer) kill() {
	fp.t.Helper()
	if err := fp.p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		fp.t.Fatalf("kill %s: %v", fp.name, err)
	}
	select {
	case <-fp.p.exited:
	case <-time.After(10 * time.Second):
		fp.t.Fatalf("%s survived SIGKILL", fp.name)
	}
}

// sendMany writes k send commands to fp's stdin in one go, from a
// goroutine (the pipe may fill up while the node works).
func (fp *faultPeer) sendMany(to string, k int, tag string) {
	var b strings.Builder
	for i := range k {
		fmt.Fprintf(&b, `{"cmd":"send","to":%q,"text":"%s %d","ref":"%s-%d"}`+"\n", to, tag, i, tag, i)
	}
	stdin := fp.p.stdin
	go func() { _, _ = io.WriteString(stdin, b.String()) }()
}

// historyIDs asks for the conversation with peer and returns the IDs of
// its incoming (fromMe false) or outgoing messages, in order.
func (fp *faultPeer) historyIDs(peer string, fromMe bool) []string {
	fp.t.Helper()
	fp.p.send(map[string]any{"cmd": "history", "peer_id": peer, "limit": 10000, "ref": "hist"})
	ev := fp.p.waitFor(20*time.Second, map[string]any{"event": "history", "ref": "hist"})
	var ids []string
	ms, _ := ev["messages"].([]any)
	for _, m := range ms {
		m := m.(map[string]any)
		if m["from_me"] == fromMe {
			ids = append(ids, m["id"].(string))
		}
	}
	return ids
}

// exactlyOnce compares a shown sequence with the sent one.
func exactlyOnce(sent, shown []string) (dups int, inOrder bool) {
	seen := map[string]bool{}
	for _, id := range shown {
		if seen[id] {
			dups++
		}
		seen[id] = true
	}
	inOrder = len(sent) == len(shown)
	for i := range min(len(sent), len(shown)) {
		inOrder = inOrder && sent[i] == shown[i]
	}
	return dups, inOrder
}

// isSubsequence reports whether sub appears in seq in order.
func isSubsequence(sub, seq []string) bool {
	j := 0
	for _, s := range seq {
		if j < len(sub) && sub[j] == s {
			j++
		}
	}
	return j == len(sub)
}

// TestFaultKillReceiverMidBurst: the receiver is SIGKILLed in the middle of
// a burst of 500 messages and restarted on its home (at a new port: it
// redials the sender, a recent contact: it wrote to it first, since a peer
// that only connected is a stranger and never redialled). Every message ends up in its
// history exactly once and in order, none is shown twice, and the sender
// gets 500 receipts.
func TestFaultKillReceiverMidBurst(t *testing.T) {
	needBinary(t)
	const total, killAt = 500, 120
	a, b := newFaultPeer(t, "alice"), newFaultPeer(t, "bob")
	aID, bID := a.p.peerID(), b.p.peerID()
	a.p.send(map[string]any{"cmd": "connect", "addr": b.p.addr()})
	b.p.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": aID})
	b.p.send(map[string]any{"cmd": "send", "to": aID, "text": "hello"}) // alice is bob's contact now
	b.p.waitFor(30*time.Second, map[string]any{"event": "delivered", "peer_id": aID})

	a.sendMany(bID, total, "m")
	var shown []string
	if !b.p.collect(60*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "message" {
			shown = append(shown, ev["id"].(string))
		}
		return len(shown) >= killAt
	}) {
		t.Fatalf("bob showed %d messages before the kill", len(shown))
	}
	b.kill()
	killed := time.Now()
	// Drain what bob printed before he died.
	for _, ev := range b.p.drain() {
		if ev["event"] == "message" {
			shown = append(shown, ev["id"].(string))
		}
	}
	shownBefore := len(shown)
	b.start()

	var sent []string
	delivered := map[string]bool{}
	if !a.p.collect(90*time.Second, func(ev map[string]any) bool {
		switch ev["event"] {
		case "sent":
			sent = append(sent, ev["id"].(string))
		case "delivered":
			delivered[ev["id"].(string)] = true
		}
		return len(delivered) == total
	}) {
		t.Fatalf("sender: %d sent, %d delivered", len(sent), len(delivered))
	}
	redeliver := time.Since(killed)
	// Every receipt is in: bob raised every message he will raise.
	b.p.collect(5*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "message" {
			shown = append(shown, ev["id"].(string))
		}
		return len(shown) >= total
	})
	hist := b.historyIDs(aID, false)
	hDups, hOrder := exactlyOnce(sent, hist)
	sDups, _ := exactlyOnce(sent, shown)
	if len(sent) != total || hDups != 0 || !hOrder {
		t.Errorf("history: sent %d, stored %d, %d duplicates, in order %v", len(sent), len(hist), hDups, hOrder)
	}
	if sDups != 0 || !isSubsequence(shown, sent) {
		t.Errorf("shown: %d events, %d duplicates, in order %v", len(shown), sDups, isSubsequence(shown, sent))
	}
	t.Logf("kill -9 receiver after %d shown (%d printed before death): sent %d, delivered %d, stored %d, shown %d, duplicates %d, stored-but-not-shown %d, all delivered %v after the kill",
		killAt, shownBefore, len(sent), len(delivered), len(hist), len(shown), sDups, total-len(shown), redeliver.Round(time.Millisecond))
}

// TestFaultBothRestartQueued: messages queued while the receiver is down;
// the sender is SIGKILLed right after its last "sent" event (so each
// accepted message must already be on disk); both restart on their old
// ports, and the queued messages arrive by redial alone, once, in order.
func TestFaultBothRestartQueued(t *testing.T) {
	needBinary(t)
	const total = 50
	portA, portB := closedPort(t), closedPort(t)
	a := newFaultPeer(t, "alice", "--listen", "/ip4/127.0.0.1/tcp/"+portA)
	b := newFaultPeer(t, "bob", "--listen", "/ip4/127.0.0.1/tcp/"+portB)
	aID, bID := a.p.peerID(), b.p.peerID()
	a.p.send(map[string]any{"cmd": "connect", "addr": "/ip4/127.0.0.1/tcp/" + portB + "/p2p/" + bID})
	b.p.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": aID})
	b.kill()

	a.sendMany(bID, total, "q")
	var sent []string
	if !a.p.collect(30*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "sent" {
			sent = append(sent, ev["id"].(string))
		}
		return len(sent) == total
	}) {
		t.Fatalf("alice: %d sent", len(sent))
	}
	a.kill()

	t0 := time.Now()
	a.start()
	b.start()
	var shown []string
	if !b.p.collect(60*time.Second, func(ev map[string]any) bool {
		if ev["event"] == "message" && ev["peer_id"] == aID {
			shown = append(shown, ev["id"].(string))
		}
		return len(shown) >= total
	}) {
		t.Fatalf("bob showed %d of %d after both restarted", len(shown), total)
	}
	took := time.Since(t0)
	dups, inOrder := exactlyOnce(sent, shown)
	if dups != 0 || !inOrder {
		t.Errorf("shown %d, %d duplicates, in order %v", len(shown), dups, inOrder)
	}
	if out := a.historyIDs(bID, true); len(out) != total {
		t.Errorf("alice's history holds %d outgoing messages, want %d", len(out), total)
	}
	t.Logf("both killed with %d queued: delivered %d, duplicates %d, %v after both restarted", total, len(shown), dups, took.Round(time.Millisecond))
}
