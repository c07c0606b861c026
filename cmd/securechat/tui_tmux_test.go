package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The terminal UI end to end: the real binary in a real terminal (tmux on a
// private socket, 100x30) against a headless peer over 127.0.0.1.

// tmuxWidth and tmuxHeight are the fixed size of the test terminal, the
// size of the README's screenshot.
const tmuxWidth, tmuxHeight = 100, 30

// tmuxSession is one detached tmux session on its own server.
type tmuxSession struct {
	t      *testing.T
	tmux   string // the tmux binary
	socket string
	status string // file the shell writes the binary's exit status to
}

// needTmux skips the test when tmux is not installed.
func needTmux(t *testing.T) string {
	t.Helper()
	needBinary(t)
	path, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not found: the terminal UI end-to-end test needs it (.ci/run installs it)")
	}
	return path
}

// startTUI runs the binary with args in a new tmux server of its own, in a
// 100x30 window, and arranges for the server to be killed at cleanup.
func startTUI(t *testing.T, tmux string, args ...string) *tmuxSession {
	t.Helper()
	// A short directory: a Unix socket path must stay under ~100 bytes,
	// which t.TempDir's long names can exceed.
	dir, err := os.MkdirTemp("", "sc-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	tm := &tmuxSession{t: t, tmux: tmux, socket: filepath.Join(dir, "s"), status: filepath.Join(dir, "status")}
	t.Cleanup(func() {
		// The server may already be gone (the window closed when the
		// binary exited); kill-server then fails, which is fine.
		_ = exec.Command(tmux, "-S", tm.socket, "kill-server").Run()
		os.RemoveAll(dir)
	})
	quoted := []string{shellQuote(binPath)}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	script := strings.Join(quoted, " ") + "; echo $? > " + shellQuote(tm.status)
	cmd := exec.Command(tmux, "-S", tm.socket, "-f", "/dev/null", "new-session", "-d", "-s", "tui",
		"-x", fmt.Sprint(tmuxWidth), "-y", fmt.Sprint(tmuxHeight), script)
	// The server inherits this environment, and the binary the server's.
	cmd.Env = binEnv(t, "TERM=xterm-256color", "SHELL=/bin/sh")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	return tm
}

// shellQuote quotes s for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// keys sends tmux key names (Enter, Tab, y, ...).
func (tm *tmuxSession) keys(keys ...string) {
	tm.t.Helper()
	args := append([]string{"-S", tm.socket, "send-keys", "-t", "tui"}, keys...)
	if out, err := exec.Command(tm.tmux, args...).CombinedOutput(); err != nil {
		tm.t.Fatalf("tmux send-keys %q: %v\n%s", keys, err, out)
	}
}

// typeLine types text literally and presses Enter.
func (tm *tmuxSession) typeLine(text string) {
	tm.t.Helper()
	tm.keys("-l", text)
	tm.keys("Enter")
}

// capture returns the visible screen as text, or "" and false if the
// session is gone.
func (tm *tmuxSession) capture() (string, bool) {
	out, err := exec.Command(tm.tmux, "-S", tm.socket, "capture-pane", "-p", "-t", "tui").Output()
	if err != nil {
		return "", false
	}
	return string(out), true
}

// waitScreen polls the screen until it shows every string in want.
func (tm *tmuxSession) waitScreen(timeout time.Duration, want ...string) string {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		screen, alive := tm.capture()
		missing := ""
		for _, w := range want {
			if !strings.Contains(screen, w) {
				missing = w
				break
			}
		}
		switch {
		case missing == "":
			return screen
		case !alive:
			st, _ := os.ReadFile(tm.status)
			tm.t.Fatalf("the terminal closed waiting for %q (exit status %q)", missing, strings.TrimSpace(string(st)))
		case time.Now().After(deadline):
			tm.t.Fatalf("the screen did not show %q within %v:\n%s", missing, timeout, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExit waits for the binary to exit and returns its status.
func (tm *tmuxSession) waitExit(timeout time.Duration) string {
	tm.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(tm.status); err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			return strings.TrimSpace(string(b))
		}
		if time.Now().After(deadline) {
			screen, _ := tm.capture()
			tm.t.Fatalf("the binary did not exit within %v:\n%s", timeout, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// safetyGroup is one group of five digits of a safety number.
var safetyGroup = regexp.MustCompile(`\b[0-9]{5}\b`)

// logNoise is what log lines look like (slog's text handler, go-libp2p's
// loggers): none may reach the terminal while the UI is up.
var logNoise = regexp.MustCompile(`level=|msg=|\bWARN\b|\bERROR\b|goroutine \d+`)

// TestTUIInTmux types, sends, receives, verifies and quits in the terminal
// UI of the real binary, against a headless peer.
func TestTUIInTmux(t *testing.T) {
	tmux := needTmux(t)
	bob := startHeadless(t, "bob", binEnv(t), "--ephemeral")
	downloads := t.TempDir()
	tm := startTUI(t, tmux, "--ephemeral", "--no-mdns", "--name", "alice", "--downloads", downloads,
		"--listen", "/ip4/127.0.0.1/tcp/0", "--connect", bob.addr())

	up := bob.waitFor(20*time.Second, map[string]any{"event": "session_up", "name": "alice"})
	alice, _ := up["peer_id"].(string)
	// With a single peer online, the UI opens its conversation.
	tm.waitScreen(10*time.Second, "bob is online", "[bob]", "1 unverified")

	t.Run("send", func(t *testing.T) {
		tm.typeLine("hello bob, typed in a terminal")
		bob.waitFor(10*time.Second, map[string]any{"event": "message", "peer_id": alice, "text": "hello bob, typed in a terminal"})
		tm.waitScreen(10*time.Second, "alice: hello bob, typed in a terminal  ✓✓ delivered")
	})

	t.Run("receive", func(t *testing.T) {
		bob.send(map[string]any{"cmd": "send", "to": alice, "text": "hi alice \x1b[31mfrom bob\x07"})
		tm.waitScreen(10*time.Second, "bob: hi alice from bob")
	})

	t.Run("verify", func(t *testing.T) {
		tm.typeLine("/verify")
		screen := tm.waitScreen(5*time.Second, "Safety number:", "y: they match")
		if groups := safetyGroup.FindAllString(screen, -1); len(groups) != 12 {
			t.Errorf("safety number: %d groups of 5 digits, want 12:\n%s", len(groups), screen)
		}
		if fp := bob.fingerprint(); !strings.Contains(screen, fp[:4]+" "+fp[4:8]) {
			t.Errorf("the fingerprint of bob (%s) is not shown:\n%s", fp, screen)
		}
		tm.keys("y")
		tm.waitScreen(5*time.Second, "bob is now verified.", "●✓ bob")
		// Verifying is this side's decision: the peer's view is unchanged.
		bob.send(map[string]any{"cmd": "peers", "ref": "p"})
		peers := bob.waitFor(5*time.Second, map[string]any{"event": "peers", "ref": "p"})
		list, _ := peers["peers"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["trust"] == "verified" {
			t.Errorf("bob's peers after alice verified: %v", peers)
		}
	})

	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "report.txt")
		data := bytes.Repeat([]byte("a line of the report\n"), 5000) // 102.5 KiB
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		// Alice sends, the path completed by Tab.
		tm.keys("-l", "/send "+filepath.Join(dir, "rep"))
		tm.keys("Tab")
		tm.waitScreen(5*time.Second, "report.txt")
		tm.keys("Enter")
		offer := bob.waitFor(20*time.Second, map[string]any{"event": "file_offer", "peer_id": alice, "name": "report.txt"})
		bob.send(map[string]any{"cmd": "accept_file", "file_id": offer["file_id"]})
		done := bob.waitFor(30*time.Second, map[string]any{"event": "file_done", "peer_id": alice, "file_id": offer["file_id"]})
		if got, err := os.ReadFile(fmt.Sprint(done["path"])); err != nil || !bytes.Equal(got, data) {
			t.Errorf("bob saved %d bytes (%v), want the %d sent", len(got), err, len(data))
		}
		tm.waitScreen(10*time.Second, `bob received "report.txt"`)

		// Bob sends it back; alice accepts in the UI.
		bob.send(map[string]any{"cmd": "send_file", "to": alice, "path": path})
		tm.waitScreen(20*time.Second, "offers you a file")
		tm.typeLine("/accept")
		tm.waitScreen(30*time.Second, `Received "report.txt"`)
		if got, err := os.ReadFile(filepath.Join(downloads, "report.txt")); err != nil || !bytes.Equal(got, data) {
			t.Errorf("alice saved %d bytes (%v), want the %d sent", len(got), err, len(data))
		}
	})

	t.Run("connect to an invite", func(t *testing.T) {
		carol := startHeadless(t, "carol", binEnv(t), "--ephemeral")
		carol.send(map[string]any{"cmd": "invite", "ref": "i"})
		inv, _ := carol.waitFor(10*time.Second, map[string]any{"event": "invite", "ref": "i"})["invite"].(string)
		if !strings.HasPrefix(inv, "securechat:") {
			t.Fatalf("carol's invite %q", inv)
		}
		tm.typeLine("/connect " + inv)
		carol.waitFor(20*time.Second, map[string]any{"event": "session_up", "peer_id": alice, "name": "alice"})
		tm.waitScreen(10*time.Second, "from the invite", "Connected to carol", "2/2 online")
		carol.quit()
	})

	t.Run("no logs on screen", func(t *testing.T) {
		screen, _ := tm.capture()
		if m := logNoise.FindString(screen); m != "" {
			t.Errorf("log output %q reached the terminal:\n%s", m, screen)
		}
	})

	tm.typeLine("/quit")
	if st := tm.waitExit(5 * time.Second); st != "0" {
		t.Errorf("exit status %s after /quit, want 0", st)
	}
}

// TestTUIScreenshot renders the README's screenshot: the UI at 100x30 with
// three peers (one verified, one unverified with unread messages, one gone
// offline) and a short conversation. It runs only when
// SECURECHAT_TUI_SCREENSHOT names the file to write the text capture to.
func TestTUIScreenshot(t *testing.T) {
	out := os.Getenv("SECURECHAT_TUI_SCREENSHOT")
	if out == "" {
		t.Skip("set SECURECHAT_TUI_SCREENSHOT=FILE to render the README screenshot")
	}
	tmux := needTmux(t)
	bob := startHeadless(t, "bob", binEnv(t), "--ephemeral")
	carol := startHeadless(t, "carol", binEnv(t), "--ephemeral")
	dave := startHeadless(t, "dave", binEnv(t), "--ephemeral")
	tm := startTUI(t, tmux, "--ephemeral", "--no-mdns", "--name", "alice", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--connect", bob.addr())
	ids := map[*proc]string{}
	for i, p := range []*proc{bob, carol, dave} {
		if i > 0 {
			// One at a time, so the peer list has a fixed order, from
			// the status conversation (Alt+0).
			tm.keys("M-0")
			tm.typeLine("/connect " + p.addr())
		}
		up := p.waitFor(20*time.Second, map[string]any{"event": "session_up", "name": "alice"})
		ids[p], _ = up["peer_id"].(string)
		tm.waitScreen(10*time.Second, fmt.Sprintf("%d/%d online", i+1, i+1))
	}
	tm.typeLine("/msg bob")
	say := func(p *proc, text string) {
		t.Helper()
		p.send(map[string]any{"cmd": "send", "to": ids[p], "text": text})
		tm.waitScreen(10*time.Second, text)
	}
	say(bob, "hey alice, still on for the design review at three?")
	tm.typeLine("yes! first, safety numbers on the call")
	tm.waitScreen(10*time.Second, "on the call  ✓✓ delivered")
	tm.typeLine("/verify")
	tm.waitScreen(5*time.Second, "y: they match")
	tm.keys("y")
	tm.waitScreen(5*time.Second, "bob is now verified.")
	say(bob, "all 60 digits match here too. sending the draft after lunch")
	tm.typeLine("great, talk at three")
	tm.waitScreen(10*time.Second, "talk at three  ✓✓ delivered")
	carol.send(map[string]any{"cmd": "send", "to": ids[carol], "text": "are you around?"})
	carol.send(map[string]any{"cmd": "send", "to": ids[carol], "text": "ping me when you're free"})
	dave.send(map[string]any{"cmd": "quit"})
	screen := tm.waitScreen(10*time.Second, "2 ", "2/3 online")
	if err := os.WriteFile(out, []byte(screen), 0o644); err != nil {
		t.Fatal(err)
	}
	tm.typeLine("/quit")
	tm.waitExit(5 * time.Second)
}
