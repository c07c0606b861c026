package main

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestBinaryNamesAndContacts runs two real nodes over 127.0.0.1: a name set
// with nick reaches the peer in session and sticks across a restart
// without --name; label, safety_number and trust_new_key (nothing to
// accept) answer; block then refuses a send with code blocked and unblock
// undoes it; forget removes the contact and its history.
func TestBinaryNamesAndContacts(t *testing.T) {
	needBinary(t)
	homeA, homeB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	env := binEnv(t, "SECURECHAT_PASSPHRASE="+testPassphrase)
	a := startHeadless(t, "alice", env, "--home", homeA)
	b := startHeadless(t, "bob", env, "--home", homeB)
	bID := b.peerID()

	a.send(map[string]any{"cmd": "connect", "addr": b.addr(), "ref": "c"})
	a.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": bID, "name": "bob"})
	b.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": a.peerID()})

	b.send(map[string]any{"cmd": "nick", "name": "bobby", "ref": "n"})
	b.waitFor(5*time.Second, map[string]any{"event": "name_set", "name": "bobby", "ref": "n"})
	a.waitFor(10*time.Second, map[string]any{"event": "name_changed", "peer_id": bID, "name": "bobby"})

	a.send(map[string]any{"cmd": "label", "peer_id": "bobby", "label": "Robert", "ref": "l"})
	a.waitFor(5*time.Second, map[string]any{"event": "labelled", "peer_id": bID, "label": "Robert", "ref": "l"})
	a.send(map[string]any{"cmd": "peers", "ref": "p1"})
	if ps := a.waitFor(5*time.Second, map[string]any{"event": "peers", "ref": "p1"})["peers"].([]any); len(ps) != 1 ||
		!matches(ps[0].(map[string]any), map[string]any{"peer_id": bID, "name": "bobby", "label": "Robert", "blocked": false}) {
		t.Errorf("peers %v", ps)
	}
	a.send(map[string]any{"cmd": "safety_number", "peer_id": bID, "ref": "sn"})
	sn := a.waitFor(5*time.Second, map[string]any{"event": "safety_number", "peer_id": bID, "ref": "sn"})
	if s, _ := sn["safety_number"].(string); !regexp.MustCompile(`^\d{5}( \d{5}){11}$`).MatchString(s) {
		t.Errorf("safety_number %q", s)
	}
	a.send(map[string]any{"cmd": "trust_new_key", "peer_id": bID, "fingerprint": b.fingerprint(), "ref": "k"})
	a.waitFor(5*time.Second, map[string]any{"event": "error", "code": "nothing_to_accept", "ref": "k"})

	a.send(map[string]any{"cmd": "block", "peer_id": bID, "ref": "b"})
	a.waitFor(5*time.Second, map[string]any{"event": "blocked", "peer_id": bID, "ref": "b"})
	a.send(map[string]any{"cmd": "send", "to": bID, "text": "hi", "ref": "s1"})
	a.waitFor(5*time.Second, map[string]any{"event": "error", "code": "blocked", "ref": "s1"})
	a.send(map[string]any{"cmd": "unblock", "peer_id": "robert", "ref": "u"})
	a.waitFor(5*time.Second, map[string]any{"event": "unblocked", "peer_id": bID, "ref": "u"})
	a.send(map[string]any{"cmd": "peers", "ref": "p2"})
	if ps := a.waitFor(5*time.Second, map[string]any{"event": "peers", "ref": "p2"})["peers"].([]any); len(ps) != 1 ||
		!matches(ps[0].(map[string]any), map[string]any{"peer_id": bID, "blocked": false}) {
		t.Errorf("peers after unblock %v", ps)
	}

	// bob restarts without --name: the saved name comes back.
	b.send(map[string]any{"cmd": "quit"})
	if code := b.waitExit(5 * time.Second); code != 0 {
		t.Fatalf("bob: quit exit %d", code)
	}
	b2 := startProc(t, "bob2", exec.CommandContext, env, "--headless", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--home", homeB)
	if b2.ready["name"] != "bobby" || b2.peerID() != bID {
		t.Errorf("bob after a restart without --name: %v", b2.ready)
	}

	a.send(map[string]any{"cmd": "forget", "peer_id": bID, "ref": "f"})
	a.waitFor(5*time.Second, map[string]any{"event": "forgotten", "peer_id": bID, "ref": "f"})
	a.send(map[string]any{"cmd": "peers", "ref": "p3"})
	if ps := a.waitFor(5*time.Second, map[string]any{"event": "peers", "ref": "p3"})["peers"].([]any); len(ps) != 0 {
		t.Errorf("peers after forget %v", ps)
	}
	a.send(map[string]any{"cmd": "history", "peer_id": bID, "ref": "h"})
	a.waitFor(5*time.Second, map[string]any{"event": "error", "code": "unknown_peer", "ref": "h"})

	for _, p := range []*proc{a, b2} {
		p.send(map[string]any{"cmd": "quit"})
		if code := p.waitExit(5 * time.Second); code != 0 {
			t.Errorf("%s: quit exit %d", p.name, code)
		}
	}
}
