package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

// TestHeadlessHandshakeFlood: of 2000 failed handshakes in a minute a
// script gets the first 10 as alerts, and when the minute is over one
// alert of the same kind that counts the rest; the events around them
// are untouched.
func TestHeadlessHandshakeFlood(t *testing.T) {
	n := newFakeNode()
	var out syncBuffer
	h := newHeadless(context.Background(), n, &out, slog.New(slog.DiscardHandler))
	clock := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	h.now = func() time.Time { return clock }
	h.event(p2p.MessageReceived{PeerID: fakePeerA, ID: "1", Text: "before", SentAt: clock})
	for i := range 2000 {
		h.event(p2p.Alert{Kind: p2p.AlertHandshakeFailed, PeerID: fmt.Sprintf("12D3KooWStranger%d", i%700), Message: "end-to-end handshake failed"})
	}
	h.event(p2p.MessageReceived{PeerID: fakePeerA, ID: "2", Text: "after", SentAt: clock})
	clock = clock.Add(time.Minute)
	h.summarize(h.hsLimit.Flush(h.now()))
	h.out.close(time.Second)

	var alerts []map[string]any
	var texts []string
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatal(err)
		}
		switch ev["event"] {
		case "alert":
			alerts = append(alerts, ev)
		case "message":
			texts = append(texts, ev["text"].(string))
		}
	}
	if strings.Join(texts, ",") != "before,after" {
		t.Errorf("messages %q", texts)
	}
	if len(alerts) != 11 {
		t.Fatalf("%d alerts, want 10 and a summary", len(alerts))
	}
	sum := alerts[10]
	if sum["kind"] != "handshake_failed" || sum["peer_id"] != "" ||
		!strings.HasPrefix(sum["message"].(string), "1990 more handshake failures from 700 peers in the last minute") {
		t.Errorf("summary %v", sum)
	}
}

// TestHeadlessCommandPanic: a panic inside one command answers it with an
// internal error, logs the stack, and the API carries on.
func TestHeadlessCommandPanic(t *testing.T) {
	n := newFakeNode()
	n.panics = map[string]int{"SendTo": 1}
	var log syncBuffer
	h := newHeadless(context.Background(), n, io.Discard, slog.New(slog.NewTextHandler(&log, nil)))
	defer h.out.close(time.Second)
	if h.handleLine(context.Background(), []byte(`{"cmd":"send","to":"x","text":"hi"}`)) {
		t.Fatal("a panicking command quit the API")
	}
	if l := log.String(); !strings.Contains(l, "injected panic in SendTo") || !strings.Contains(l, "goroutine") {
		t.Errorf("the log lacks the panic's stack:\n%s", l)
	}
}

// TestHeadlessPumpPanic: a panic in the event pump, even before ready,
// ends the API with an internal error (exit 1, one line from mainExit)
// instead of hanging, with the stack in the log.
func TestHeadlessPumpPanic(t *testing.T) {
	n := &fakeNode{events: make(chan p2p.Event, 64), panics: map[string]int{"Addrs": 1}}
	inR, inW := io.Pipe()
	defer inW.Close()
	var log syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runHeadless(context.Background(), n, &config{name: "me"}, inR, io.Discard, slog.New(slog.NewTextHandler(&log, nil)))
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "internal error: injected panic in Addrs") {
			t.Fatalf("runHeadless: %v", err)
		}
	case <-time.After(readyWait + 10*time.Second):
		t.Fatal("runHeadless hangs after its event pump panicked")
	}
	if l := log.String(); !strings.Contains(l, "event pump panicked") || !strings.Contains(l, "goroutine") {
		t.Errorf("the log lacks the panic's stack:\n%s", l)
	}
	var stderr bytes.Buffer
	if code := report(&stderr, fmt.Errorf("internal error: %v", "injected panic in Addrs")); code != exitFail || strings.Count(stderr.String(), "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
