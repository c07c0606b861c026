package main

import (
	"bytes"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// secretText is a message whose plaintext must never reach the disk.
const secretText = "the owl flies at midnight 7f3a9c"

// TestBinaryChat runs two headless nodes through a whole conversation and
// then checks that nothing secret was left unencrypted in their homes.
func TestBinaryChat(t *testing.T) {
	needBinary(t)
	// Homes that do not exist yet, so the binary creates them (0700).
	homeA, homeB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(testPassphrase+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startHeadless(t, "alice", binEnv(t, "SECURECHAT_PASSPHRASE="+testPassphrase), "--home", homeA)
	// Bob's node is sized for two sessions, the smallest useful size: the
	// chat below must work the same.
	b := startHeadless(t, "bob", binEnv(t), "--home", homeB, "--passphrase-file", passFile, "--max-sessions", "2")

	for _, p := range []*proc{a, b} {
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(p.fingerprint()) || p.ready["name"] != p.name {
			t.Errorf("%s ready %v", p.name, p.ready)
		}
		for _, ad := range p.ready["addrs"].([]any) {
			if s := ad.(string); !strings.HasPrefix(s, "/ip4/127.0.0.1/tcp/") || !strings.HasSuffix(s, "/p2p/"+p.peerID()) {
				t.Errorf("%s: addr %q", p.name, s)
			}
		}
	}

	a.send(map[string]any{"cmd": "connect", "addr": b.addr(), "ref": "c1"})
	upA := a.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": b.peerID()})
	upB := b.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": a.peerID()})
	if upA["fingerprint"] != b.fingerprint() || upB["fingerprint"] != a.fingerprint() || upA["name"] != "bob" || upA["trust"] != "new" {
		t.Errorf("session_up: %v / %v", upA, upB)
	}
	// The connect is answered (before or after session_up), and so is one
	// to a peer already in session.
	a.waitAt(10*time.Second, "connected c1", func(ev map[string]any) bool {
		return matches(ev, map[string]any{"event": "connected", "peer_id": b.peerID(), "conn": "direct", "ref": "c1"})
	})
	a.send(map[string]any{"cmd": "connect", "addr": b.addr(), "ref": "c2"})
	a.waitFor(10*time.Second, map[string]any{"event": "connected", "peer_id": b.peerID(), "conn": "direct", "ref": "c2"})

	a.send(map[string]any{"cmd": "send", "to": b.peerID(), "text": secretText, "ref": "s1"})
	sent := a.waitFor(10*time.Second, map[string]any{"event": "sent", "ref": "s1", "peer_id": b.peerID()})
	id, _ := sent["id"].(string)
	if id == "" {
		t.Fatalf("sent without id: %v", sent)
	}
	msg := b.waitFor(10*time.Second, map[string]any{"event": "message", "id": id})
	if msg["text"] != secretText || msg["peer_id"] != a.peerID() {
		t.Errorf("message %v", msg)
	}
	if at, err := time.Parse(time.RFC3339, msg["sent_at"].(string)); err != nil || time.Since(at) > time.Minute {
		t.Errorf("sent_at %v: %v", msg["sent_at"], err)
	}
	a.waitFor(10*time.Second, map[string]any{"event": "delivered", "id": id, "peer_id": b.peerID()})

	// The other way, addressed by fingerprint.
	b.send(map[string]any{"cmd": "send", "to": a.fingerprint(), "text": "reply", "ref": "s2"})
	b.waitFor(10*time.Second, map[string]any{"event": "sent", "ref": "s2", "peer_id": a.peerID()})
	a.waitFor(10*time.Second, map[string]any{"event": "message", "text": "reply"})

	a.send(map[string]any{"cmd": "peers", "ref": "p1"})
	peers := a.waitFor(10*time.Second, map[string]any{"event": "peers", "ref": "p1"})
	list, _ := peers["peers"].([]any)
	if len(list) != 1 || !matches(list[0].(map[string]any), map[string]any{
		"peer_id": b.peerID(), "fingerprint": b.fingerprint(), "name": "bob", "state": "online", "trust": "new",
	}) {
		t.Errorf("peers %v", peers)
	}

	a.send(map[string]any{"cmd": "verify", "peer_id": b.peerID(), "fingerprint": a.fingerprint(), "ref": "v1"})
	a.waitFor(10*time.Second, map[string]any{"event": "error", "code": "fingerprint_mismatch", "ref": "v1"})
	a.send(map[string]any{"cmd": "verify", "peer_id": b.peerID(), "fingerprint": b.fingerprint(), "ref": "v2"})
	a.waitFor(10*time.Second, map[string]any{"event": "verified", "ref": "v2", "peer_id": b.peerID()})
	a.send(map[string]any{"cmd": "peers", "ref": "p2"})
	peers = a.waitFor(10*time.Second, map[string]any{"event": "peers", "ref": "p2"})
	if list, _ := peers["peers"].([]any); len(list) != 1 || list[0].(map[string]any)["trust"] != "verified" {
		t.Errorf("after verify: %v", peers)
	}

	// Errors, each answered in order with its ref, the node carrying on.
	a.sendRaw(`this is not json`)
	a.waitFor(5*time.Second, map[string]any{"event": "error", "code": "bad_json"})
	a.send(map[string]any{"cmd": "dance", "ref": "e1"})
	a.waitFor(5*time.Second, map[string]any{"event": "error", "code": "unknown_command", "ref": "e1"})
	a.send(map[string]any{"cmd": "send", "to": "12D3KooWNobodyNobodyNobody", "text": "x", "ref": "e2"})
	a.waitFor(5*time.Second, map[string]any{"event": "error", "code": "unknown_peer", "ref": "e2"})
	a.send(map[string]any{"cmd": "send", "to": b.peerID(), "text": strings.Repeat("x", 64<<10+1), "ref": "e3"})
	a.waitFor(5*time.Second, map[string]any{"event": "error", "code": "too_large", "ref": "e3"})
	a.sendRaw(`{"cmd":"peers","pad":"` + strings.Repeat("p", 1<<20) + `"}`)
	a.waitFor(5*time.Second, map[string]any{"event": "error", "code": "too_large"})
	a.send(map[string]any{"cmd": "connect", "addr": "/ip4/127.0.0.1/tcp/1", "ref": "e4"})
	a.waitFor(5*time.Second, map[string]any{"event": "error", "code": "bad_address", "ref": "e4"})
	a.send(map[string]any{"cmd": "connect", "addr": "/ip4/127.0.0.1/tcp/" + closedPort(t) + "/p2p/" + validPeerID, "ref": "e5"})
	a.waitFor(21*time.Second, map[string]any{"event": "error", "code": "dial_failed", "ref": "e5"})
	a.send(map[string]any{"cmd": "peers", "ref": "alive"})
	a.waitFor(5*time.Second, map[string]any{"event": "peers", "ref": "alive"})

	b.send(map[string]any{"cmd": "history", "peer_id": a.peerID(), "ref": "h1"})
	hist := b.waitFor(5*time.Second, map[string]any{"event": "history", "peer_id": a.peerID(), "ref": "h1"})
	if ms, _ := hist["messages"].([]any); len(ms) != 2 ||
		!matches(ms[0].(map[string]any), map[string]any{"id": id, "from_me": false, "text": secretText, "state": "delivered"}) ||
		!matches(ms[1].(map[string]any), map[string]any{"from_me": true, "text": "reply"}) {
		t.Errorf("history %v", hist)
	}
	// By name this time, as the UI's /msg takes it.
	b.send(map[string]any{"cmd": "history", "peer_id": "alice", "limit": 1, "ref": "h2"})
	if ms, _ := b.waitFor(5*time.Second, map[string]any{"event": "history", "peer_id": a.peerID(), "ref": "h2"})["messages"].([]any); len(ms) != 1 {
		t.Errorf("history limit 1: %v", ms)
	}
	b.send(map[string]any{"cmd": "block", "peer_id": a.peerID(), "ref": "b1"})
	b.waitFor(5*time.Second, map[string]any{"event": "blocked", "peer_id": a.peerID(), "ref": "b1"})

	// quit and end of input both exit 0 within 5 s.
	a.send(map[string]any{"cmd": "quit"})
	if code := a.waitExit(5 * time.Second); code != 0 {
		t.Errorf("alice: quit exit %d", code)
	}
	b.stdin.Close()
	if code := b.waitExit(5 * time.Second); code != 0 {
		t.Errorf("bob: EOF exit %d", code)
	}
	for _, p := range []*proc{a, b} {
		if s := p.stderr.String(); strings.Contains(s, "goroutine ") || strings.Contains(s, "panic") {
			t.Errorf("%s stderr: %s", p.name, s)
		}
	}
	checkHomeAtRest(t, homeA, secretText, testPassphrase)
	checkHomeAtRest(t, homeB, secretText, testPassphrase)
}

// closedPort returns a TCP port on 127.0.0.1 that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

// unencryptedKeyMarkers are byte strings that only an unencrypted private
// key would put on disk: PEM armour, the PKCS#8 header of an RSA key, the
// start of a PKCS#1 RSA-3072 key, and libp2p's protobuf Ed25519 private key.
var unencryptedKeyMarkers = [][]byte{
	[]byte("-----BEGIN"),
	[]byte("PRIVATE KEY"),
	{0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00},
	{0x02, 0x01, 0x00, 0x02, 0x82, 0x01, 0x81, 0x00},
	{0x08, 0x01, 0x12, 0x40},
}

// checkHomeAtRest greps every file under home for secrets in the clear and
// checks the modes docs/INTERFACE.md promises.
func checkHomeAtRest(t *testing.T, home string, secrets ...string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if perm := info.Mode().Perm(); perm != 0o700 {
				t.Errorf("%s: mode %v, want 0700", path, perm)
			}
			return nil
		}
		files++
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %v, want 0600", path, perm)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contains %q in the clear", path, s)
			}
		}
		for _, m := range unencryptedKeyMarkers {
			if bytes.Contains(b, m) {
				t.Errorf("%s contains an unencrypted key marker % x", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Errorf("%s: no files; expected at least the key file", home)
	}
}

// TestBinarySignals checks that SIGTERM and SIGINT are a clean quit.
func TestBinarySignals(t *testing.T) {
	needBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startHeadless(t, "sig", binEnv(t), "--ephemeral")
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.waitExit(5 * time.Second); code != 0 {
				t.Errorf("exit %d after %v: %s", code, sig, p.stderr.String())
			}
		})
	}
}
