package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/p2p"
)

// hostileReply is what the hostile listener answers in place of a protocol
// name: a window title, a screen clear, a red fake alert, the 8-bit CSI
// and OSC introducers, a bidi override and a bell.
const hostileReply = "\x1b]0;pwned\x07\x1b[2J\x1b[31mALERT: your keys are compromised\x1b[0m" +
	" \u009b2J \u009d0;pwned8\u009c \u202eevil\u202c \a done"

// hostileListener accepts TCP connections on 127.0.0.1 and answers each
// with a multistream header and then hostileReply as the "protocol" the
// other side asked for; go-multistream quotes that reply in its error. It
// returns the listener's port; it stops when the test ends.
func hostileListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	msg := func(s string) []byte { // a multistream message: uvarint length, text, newline
		b := binary.AppendUvarint(nil, uint64(len(s)+1))
		return append(append(b, s...), '\n')
	}
	answer := append(msg("/multistream/1.0.0"), msg(hostileReply)...)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_, _ = c.Write(answer)
				// Read what the dialer sends until it gives up.
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// randomPeerID is a valid peer ID that nobody listens as.
func randomPeerID(t *testing.T) string {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// controlBytes describes every C0 control other than \n and \t, DEL and
// C1 control (as UTF-8, or as a raw 8-bit byte) in b.
func controlBytes(b []byte) []string {
	var bad []string
	for i, c := range b {
		switch {
		case c < 0x20 && c != '\n' && c != '\t', c == 0x7f:
			bad = append(bad, fmt.Sprintf("%#02x at %d", c, i))
		case c == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f:
			bad = append(bad, fmt.Sprintf("U+%04X at %d", b[i+1], i))
		}
	}
	return bad
}

// TestBinaryLineModeHostileListener: a listener that answers a dial with
// escape sequences (the window title, a screen clear, a fake alert) must
// not reach the terminal through the dial error, neither for --connect at
// start nor for a typed /connect. Every byte the real binary writes to
// stdout and stderr, and to its log file, is checked.
func TestBinaryLineModeHostileListener(t *testing.T) {
	needBinary(t)
	port := hostileListener(t)
	addr := func() string { return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, randomPeerID(t)) }

	home := t.TempDir()
	env := binEnv(t, envPassphrase+"="+testPassphrase, envDebug+"=1")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := binCommand(ctx, exec.CommandContext, env, "--no-mdns", "--home", home, "--name", "victim",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--connect", addr())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			t.Logf("stdout:\n%q\nstderr:\n%q", stdout.String(), stderr.String())
		}
	}()

	waitCount := func(want string, n int) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for strings.Count(stdout.String(), want) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %d× %q in the output", n, want)
			}
			select {
			case err := <-exited:
				t.Fatalf("exited early: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	waitCount("could not connect", 1) // --connect
	if _, err := io.WriteString(stdin, "/connect "+addr()+"\n"); err != nil {
		t.Fatal(err)
	}
	waitCount("could not connect", 2) // /connect
	if _, err := io.WriteString(stdin, "/quit\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after /quit")
	}

	// The reply reached the output (sanitized), so the check below checks
	// something.
	if !strings.Contains(stdout.String(), "ALERT: your keys are compromised") {
		t.Fatalf("the dial errors do not show the listener's reply; the test proves nothing:\n%s", stdout.String())
	}
	for _, out := range []struct {
		name string
		b    []byte
	}{{"stdout", []byte(stdout.String())}, {"stderr", []byte(stderr.String())}} {
		if bad := controlBytes(out.b); len(bad) > 0 {
			t.Errorf("%s carries control characters: %v", out.name, bad)
		}
		for _, s := range []string{"pwned", "\u202e", "[2J"} {
			if strings.Contains(string(out.b), s) {
				t.Errorf("%s carries %q", out.name, s)
			}
		}
	}
	// The log file (debug level: the dial errors are in it) escapes them.
	log, err := os.ReadFile(filepath.Join(home, logFileName))
	if err != nil {
		t.Fatal(err)
	}
	if bad := controlBytes(log); len(bad) > 0 {
		t.Errorf("the log file carries control characters: %v", bad)
	}
}

// TestHeadlessHostileDialError: the error events that answer a connect
// and report the node's own failed dials carry their message on one clean
// line, so a script that prints it does not hand the listener's escapes to
// its terminal.
func TestHeadlessHostileDialError(t *testing.T) {
	n := newFakeNode()
	n.connectErr = fmt.Errorf("%w: unrecognized response: %s", p2p.ErrDialFailed, hostileReply)
	h := startAPI(t, n, nil)
	h.write(`{"cmd":"connect","addr":"/ip4/127.0.0.1/tcp/9/p2p/` + fakePeerA + `","ref":"c1"}`)
	n.events <- p2p.DialFailed{Addr: "/dns4/evil\x1b[2J.example/tcp/1", Err: "got " + hostileReply}
	want := map[string]bool{
		p2p.DescribeDialError(n.connectErr):                      true,
		p2p.DescribeDialError(errors.New("got " + hostileReply)): true,
	}
	for range 2 {
		ev := h.next()
		if ev["event"] != "error" {
			t.Fatalf("got %v, want an error event", ev)
		}
		for _, f := range []string{"message", "addr"} {
			s, _ := ev[f].(string)
			if bad := controlBytes([]byte(s)); len(bad) > 0 || strings.Contains(s, "pwned") || strings.Contains(s, "\u202e") {
				t.Errorf("%s %q carries remote escapes: %v", f, s, bad)
			}
		}
		// The message is the one human line of DescribeDialError, made
		// from the error the node gave: for text it does not recognise,
		// the peer's words cleaned and cut short. The two answers may come
		// in either order.
		msg, _ := ev["message"].(string)
		if !want[msg] {
			t.Errorf("message %q, want one of %v", msg, want)
		}
		delete(want, msg)
	}
}
