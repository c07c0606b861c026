package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// writePass writes a passphrase file, mode 0600, and returns its name.
func writePass(t *testing.T, pass string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(name, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

// quit ends a headless process cleanly.
func quit(t *testing.T, p *proc) {
	t.Helper()
	p.send(map[string]any{"cmd": "quit"})
	if code := p.waitExit(10 * time.Second); code != 0 {
		t.Fatalf("%s exited %d", p.name, code)
	}
}

// peersOf asks p for its peers, keyed by peer ID.
func peersOf(t *testing.T, p *proc, ref string) map[string]map[string]any {
	t.Helper()
	p.send(map[string]any{"cmd": "peers", "ref": ref})
	ev := p.waitFor(10*time.Second, map[string]any{"event": "peers", "ref": ref})
	out := map[string]map[string]any{}
	list, _ := ev["peers"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		out[m["peer_id"].(string)] = m
	}
	return out
}

// TestBinaryIdentity covers the identity's life on disk with the real
// binary: the home lock, passwd, export and import.
func TestBinaryIdentity(t *testing.T) {
	needBinary(t)
	homeA, homeB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	oldPass, newPass, backupPass := writePass(t, testPassphrase), writePass(t, "the new passphrase of alice"), writePass(t, "backup passphrase")
	env := binEnv(t)

	// Alice knows Bob (verified) and has history with him.
	a := startHeadless(t, "alice", env, "--home", homeA, "--passphrase-file", oldPass)
	b := startHeadless(t, "bob", env, "--home", homeB, "--passphrase-file", oldPass)
	a.send(map[string]any{"cmd": "connect", "addr": b.addr(), "ref": "c1"})
	a.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": b.peerID()})
	a.send(map[string]any{"cmd": "send", "to": b.peerID(), "text": "kept across passwd", "ref": "s1"})
	a.waitFor(10*time.Second, map[string]any{"event": "delivered", "peer_id": b.peerID()})
	a.send(map[string]any{"cmd": "verify", "peer_id": b.peerID(), "fingerprint": b.fingerprint(), "ref": "v1"})
	a.waitFor(10*time.Second, map[string]any{"event": "verified", "ref": "v1"})
	aID, bID, bFP := a.peerID(), b.peerID(), b.fingerprint()

	t.Run("second process on the home refused", func(t *testing.T) {
		for _, args := range [][]string{
			{"--headless", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"},
			{"id", "--no-mdns"},
			{"passwd", "--new-passphrase-file", newPass},
			{"export", filepath.Join(t.TempDir(), "x.backup"), "--new-passphrase-file", backupPass},
		} {
			_, stderr, code := runBinary(t, env, append(args, "--home", homeA, "--passphrase-file", oldPass)...)
			if code != exitFail || !strings.Contains(stderr, "another securechat (process ") {
				t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
			}
			checkOneError(t, stderr)
		}
	})
	quit(t, a)
	quit(t, b)

	// idOut is the identity part of id's output: its first two lines (peer
	// ID and fingerprint); the addresses and invite after them name this
	// run's ports.
	idOut := func(t *testing.T, home, pass string) (string, int) {
		out, stderr, code := runBinary(t, env, "id", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--home", home, "--passphrase-file", pass)
		if code != 0 {
			return stderr, code
		}
		lines := strings.SplitAfterN(out, "\n", 3)
		if len(lines) < 2 {
			return out, code
		}
		return lines[0] + lines[1], code
	}
	idA, code := idOut(t, homeA, oldPass)
	if code != 0 || !strings.Contains(idA, aID) {
		t.Fatalf("id: %d %q", code, idA)
	}

	t.Run("passwd", func(t *testing.T) {
		out, stderr, code := runBinary(t, env, "passwd", "--home", homeA, "--passphrase-file", oldPass, "--new-passphrase-file", newPass)
		if code != 0 || !strings.Contains(out, "passphrase changed") {
			t.Fatalf("passwd: exit %d, %q %q", code, out, stderr)
		}
		if out, code := idOut(t, homeA, oldPass); code != exitFail || !strings.Contains(out, "wrong passphrase") {
			t.Errorf("old passphrase after passwd: exit %d, %q", code, out)
		}
		if out, code := idOut(t, homeA, newPass); code != 0 || out != idA {
			t.Errorf("new passphrase: exit %d, %q, want %q", code, out, idA)
		}
		// Contacts and history open as before: the store was not touched.
		a := startHeadless(t, "alice", env, "--home", homeA, "--passphrase-file", newPass)
		if p := peersOf(t, a, "p1")[bID]; p == nil || p["trust"] != "verified" || p["fingerprint"] != bFP || p["name"] != "bob" {
			t.Errorf("bob after passwd: %v", p)
		}
		a.send(map[string]any{"cmd": "history", "peer_id": bID, "ref": "h1"})
		hist := a.waitFor(10*time.Second, map[string]any{"event": "history", "ref": "h1"})
		if ms, _ := hist["messages"].([]any); len(ms) != 1 || ms[0].(map[string]any)["text"] != "kept across passwd" {
			t.Errorf("history after passwd: %v", hist)
		}
		quit(t, a)
	})

	t.Run("export and import", func(t *testing.T) {
		backup := filepath.Join(t.TempDir(), "alice.backup")
		out, stderr, code := runBinary(t, env, "export", backup, "--home", homeA, "--passphrase-file", newPass, "--new-passphrase-file", backupPass)
		if code != 0 || !strings.Contains(out, aID) || !strings.Contains(out, "contacts:    1") {
			t.Fatalf("export: exit %d, %q %q", code, out, stderr)
		}
		if fi, err := os.Stat(backup); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
			t.Errorf("backup file: %v, %v", fi, err)
		}
		if _, stderr, code := runBinary(t, env, "export", backup, "--home", homeA, "--passphrase-file", newPass, "--new-passphrase-file", backupPass); code != exitFail || !strings.Contains(stderr, "exists") {
			t.Errorf("export over a file: exit %d, %q", code, stderr)
		}

		homeC := filepath.Join(t.TempDir(), "c")
		if _, stderr, code := runBinary(t, env, "import", backup, "--home", homeC, "--passphrase-file", newPass); code != exitFail ||
			!strings.Contains(stderr, "wrong passphrase or damaged backup file") {
			t.Errorf("import with the wrong passphrase: exit %d, %q", code, stderr)
		}
		out, stderr, code = runBinary(t, env, "import", backup, "--home", homeC, "--passphrase-file", backupPass)
		if code != 0 || !strings.Contains(out, aID) {
			t.Fatalf("import: exit %d, %q %q", code, out, stderr)
		}
		if out, code := idOut(t, homeC, backupPass); code != 0 || out != idA {
			t.Errorf("id of the imported home: exit %d, %q, want %q", code, out, idA)
		}
		c := startHeadless(t, "alice", env, "--home", homeC, "--passphrase-file", backupPass)
		if c.peerID() != aID {
			t.Errorf("imported peer ID %s, want %s", c.peerID(), aID)
		}
		if p := peersOf(t, c, "p1")[bID]; p == nil || p["trust"] != "verified" || p["fingerprint"] != bFP || p["name"] != "bob" {
			t.Errorf("bob after import: %v", p)
		}
		quit(t, c)

		// On the terminal (in process, with the fake prompter): three wrong
		// passphrases end id with exit 1 before any node starts; passwd
		// takes a wrong one, then the right one, then a new one twice.
		fp := &fakePrompter{answers: []string{"wrong 1", "wrong 2", "wrong 3", "never asked"}}
		usePrompter(t, fp, nil)
		var stdout, errOut strings.Builder
		if code := mainExit([]string{"id", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--home", homeC}, mapEnv{}, strings.NewReader(""), &stdout, &errOut); code != exitFail || fp.asked != 3 {
			t.Errorf("id with 3 wrong: exit %d after %d prompts, %q", code, fp.asked, errOut.String())
		}
		checkOneError(t, errOut.String())
		const third = "a third passphrase for alice"
		usePrompter(t, &fakePrompter{answers: []string{"wrong", "backup passphrase", third, third}}, nil)
		errOut.Reset()
		if code := mainExit([]string{"passwd", "--home", homeC}, mapEnv{}, strings.NewReader(""), &stdout, &errOut); code != 0 {
			t.Errorf("passwd on the terminal: exit %d, %q", code, errOut.String())
		}
		if out, code := idOut(t, homeC, writePass(t, third)); code != 0 || out != idA {
			t.Errorf("id after passwd on the terminal: exit %d, %q", code, out)
		}

		// Never over an identity.
		for _, home := range []string{homeA, homeC} {
			_, stderr, code := runBinary(t, env, "import", backup, "--home", home, "--passphrase-file", backupPass)
			if code != exitFail || !strings.Contains(stderr, "already holds an identity") {
				t.Errorf("import into %s: exit %d, %q", home, code, stderr)
			}
			checkOneError(t, stderr)
		}
	})

	t.Run("loose passphrase file", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("no permission bits on Windows")
		}
		loose := writePass(t, "the new passphrase of alice")
		os.Chmod(loose, 0o644)
		_, stderr, code := runBinary(t, env, "id", "--no-mdns", "--home", homeA, "--passphrase-file", loose)
		if code != exitFail || !strings.Contains(stderr, "chmod 600 "+loose) {
			t.Errorf("0644 passphrase file: exit %d, %q", code, stderr)
		}
		checkOneError(t, stderr)
	})
}
