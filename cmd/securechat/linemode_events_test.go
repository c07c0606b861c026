package main

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

// feed sends events to the fake node's channel, failing the test if the
// front-end stops reading them.
func feed(t *testing.T, n *fakeNode, evs ...p2p.Event) {
	t.Helper()
	for i, ev := range evs {
		select {
		case n.events <- ev:
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d of %d (%T) not read within 10 s: the front-end stopped draining", i, len(evs), ev)
		}
	}
}

// TestLineModeHandshakeFlood: 2000 failed handshakes from strangers add a
// bounded number of lines; the conversation before them stays in view
// and what comes after still shows.
func TestLineModeHandshakeFlood(t *testing.T) {
	n := newFakeNode()
	n.peers = []p2p.PeerInfo{{PeerID: fakePeerA, Fingerprint: fakeFPA, Name: "alice", State: "online", Trust: p2p.TrustPinned}}
	h := startLineMode(t, n)
	h.expect("Type /help")
	feed(t, n, p2p.MessageReceived{PeerID: fakePeerA, ID: "1", Text: "before the flood", SentAt: time.Now()})
	h.expect("alice (" + fakeFPA.Short() + "): before the flood")
	start := len(h.out.String())
	var flood []p2p.Event
	for i := range 2000 {
		flood = append(flood, p2p.Alert{Kind: p2p.AlertHandshakeFailed, PeerID: fmt.Sprintf("12D3KooWStranger%d", i%700), Message: "end-to-end handshake failed"})
	}
	feed(t, n, flood...)
	feed(t, n, p2p.MessageReceived{PeerID: fakePeerA, ID: "2", Text: "after the flood", SentAt: time.Now()})
	h.expect("after the flood")
	added := strings.Split(strings.TrimSpace(h.out.String()[start:]), "\n")
	if len(added) > 5 { // 3 failures, perhaps a summary, the message
		t.Fatalf("the flood added %d lines:\n%s", len(added), strings.Join(added[:min(len(added), 20)], "\n"))
	}
	if got := strings.Count(h.out.String(), "handshake_failed"); got != 3 {
		t.Errorf("%d failures shown one by one, want 3", got)
	}
}

// TestLineModeEventPanic: a panic while showing one event is logged with
// its stack (not printed), told in one line, and the line interface keeps
// reading the node's events: more than the channel holds get through.
func TestLineModeEventPanic(t *testing.T) {
	n := newFakeNode()
	n.peers = []p2p.PeerInfo{{PeerID: fakePeerA, Fingerprint: fakeFPA, Name: "alice", State: "online", Trust: p2p.TrustPinned}}
	n.panics = map[string]int{"Peers": 1}
	var log syncBuffer
	h := startLineModeLog(t, n, slog.New(slog.NewTextHandler(&log, nil)))
	h.expect("Type /help")
	feed(t, n, p2p.MessageReceived{PeerID: fakePeerA, ID: "1", Text: "boom", SentAt: time.Now()})
	h.expect("*** internal error while showing an event (p2p.MessageReceived); details in the log")
	var more []p2p.Event
	for i := range 3 * cap(n.events) {
		more = append(more, p2p.Delivered{PeerID: fakePeerA, ID: fmt.Sprint(i)})
	}
	feed(t, n, more...)
	feed(t, n, p2p.MessageReceived{PeerID: fakePeerA, ID: "2", Text: "still here", SentAt: time.Now()})
	h.expect("still here")
	out := h.out.String()
	if strings.Count(out, "internal error") != 1 || strings.Contains(out, "goroutine") || strings.Contains(out, "injected") {
		t.Errorf("the terminal shows more than one line about the panic:\n%s", out)
	}
	if l := log.String(); !strings.Contains(l, "injected panic in Peers") || !strings.Contains(l, "goroutine") || !strings.Contains(l, "safeEvent") {
		t.Errorf("the log lacks the panic and its stack:\n%s", l)
	}
}

// TestClosePanic: a panic in the node's Close is no longer swallowed: the
// interface returns an internal error (exit 1, one line) and the stack is
// in the log.
func TestClosePanic(t *testing.T) {
	n := newFakeNode()
	n.panics = map[string]int{"Close": 1}
	var log syncBuffer
	h := startLineModeLog(t, n, slog.New(slog.NewTextHandler(&log, nil)))
	h.expect("Type /help")
	h.typeLine("/quit")
	select {
	case err := <-h.done:
		h.done <- err // for the harness's cleanup
		if err == nil || err.Error() != "internal error while closing: injected panic in Close" {
			t.Fatalf("runLineMode: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("runLineMode did not return after /quit")
	}
	if l := log.String(); !strings.Contains(l, "closing the node panicked") || !strings.Contains(l, "goroutine") {
		t.Errorf("the log lacks the panic's stack:\n%s", l)
	}
	if strings.Contains(h.out.String(), "goroutine") {
		t.Errorf("the terminal shows the stack:\n%s", h.out.String())
	}
}
