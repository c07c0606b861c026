package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

// syncBuffer is a bytes.Buffer safe for the line interface's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lineHarness drives runLineMode over pipes.
type lineHarness struct {
	t     *testing.T
	stdin *io.PipeWriter
	out   *syncBuffer
	done  chan error
	seen  int // output already matched
}

func startLineMode(t *testing.T, n *fakeNode) *lineHarness {
	t.Helper()
	return startLineModeLog(t, n, slog.New(slog.DiscardHandler))
}

// startLineModeLog is startLineMode logging to log.
func startLineModeLog(t *testing.T, n *fakeNode, log *slog.Logger) *lineHarness {
	t.Helper()
	return startLineModeWith(t, n, log, &config{name: "me"})
}

// startLineModeWith is startLineMode with a log and a configuration.
func startLineModeWith(t *testing.T, n *fakeNode, log *slog.Logger, cfg *config) *lineHarness {
	t.Helper()
	inR, inW := io.Pipe()
	h := &lineHarness{t: t, stdin: inW, out: &syncBuffer{}, done: make(chan error, 1)}
	go func() {
		h.done <- runLineMode(context.Background(), n, cfg, inR, h.out, log)
		inR.Close()
	}()
	t.Cleanup(func() {
		inW.Close()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			t.Error("runLineMode did not return")
		}
	})
	return h
}

func (h *lineHarness) typeLine(s string) {
	h.t.Helper()
	if _, err := io.WriteString(h.stdin, s+"\n"); err != nil {
		h.t.Fatal(err)
	}
}

// expect waits for want in the output after what was matched before.
func (h *lineHarness) expect(want string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out := h.out.String()
		if i := strings.Index(out[h.seen:], want); i >= 0 {
			h.seen += i + len(want)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	h.t.Fatalf("output lacks %q after offset %d:\n%s", want, h.seen, h.out.String())
}

func TestLineMode(t *testing.T) {
	n := newFakeNode()
	h := startLineMode(t, n)
	h.expect("you are me")
	h.expect("12D3KooWSelf")
	h.expect("/ip4/127.0.0.1/tcp/1/p2p/12D3KooWSelf")

	h.typeLine("hello?")
	h.expect("no peers yet")

	n.mu.Lock()
	n.peers = twoPeers()
	n.mu.Unlock()
	h.typeLine("hello?")
	h.expect("several peers")

	h.typeLine("/msg alice hi there")
	h.expect("now talking to alice (" + fakeFPA.Short() + ")")
	h.typeLine("and more")
	h.typeLine("/peers")
	h.expect("> alice")
	h.expect("KEY CHANGED")
	n.mu.Lock()
	if len(n.sentTo) != 2 || n.sentTo[0] != fakePeerA || n.sentTo[1] != fakePeerA {
		t.Errorf("sent to %v", n.sentTo)
	}
	n.mu.Unlock()

	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	n.events <- p2p.MessageReceived{PeerID: fakePeerA, ID: "m1", Text: "hi\x1b[2J there", SentAt: at}
	h.expect("[03:04] alice (" + fakeFPA.Short() + "): hi there")
	n.events <- p2p.Alert{Kind: p2p.AlertKeyChanged, PeerID: fakePeerB, Message: "new key"}
	h.expect("!!! SECURITY: key changed for bob")

	h.typeLine("/verify alice")
	h.expect("Their fingerprint: " + fakeFPA.String())
	h.expect("/verify " + fakePeerA + " " + fakeFPA.String())
	h.typeLine("/verify alice " + fakeFPB.String())
	h.expect("NOT alice")
	h.typeLine("/verify alice " + fakeFPA.String())
	h.expect("is now verified")
	h.typeLine("/trust-new-key bob")
	h.expect("/trust-new-key " + fakePeerB + " NEW-FINGERPRINT")
	h.typeLine("/trust-new-key bob " + fakeFPB.String())
	h.expect("accepted the new key of bob")
	h.typeLine("/connect /ip4/127.0.0.1/tcp/1")
	h.expect("/p2p/")
	h.typeLine("/msg nobody")
	h.expect(`no peer matches "nobody"`)
	h.typeLine("/bogus")
	h.expect("unknown command /bogus")
	h.typeLine("/help")
	h.expect("/trust-new-key")

	h.typeLine("/quit")
	select {
	case err := <-h.done:
		h.done <- err
		if err != nil {
			t.Errorf("quit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after /quit")
	}
	if !n.isClosed() {
		t.Error("node not closed")
	}
}
