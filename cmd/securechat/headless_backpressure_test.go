package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

// TestHeadlessBackpressure: while a send waits for room (the node's
// WaitSend blocks), the API reads no more of stdin, so a script writing
// more commands waits on its pipe; node events still reach stdout
// meanwhile; once the send goes, it is answered by sent and every later
// command by its own answer, in order.
func TestHeadlessBackpressure(t *testing.T) {
	n := newFakeNode()
	withPeers(n)
	release := make(chan struct{})
	waiting := make(chan struct{})
	n.waitSend = func(ctx context.Context) error {
		n.mu.Lock()
		n.waitSend = nil // only the first send waits
		n.mu.Unlock()
		close(waiting)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h := startAPI(t, n, nil)
	h.write(`{"cmd":"send","to":"` + fakePeerA + `","text":"first","ref":"s1"}`)
	<-waiting

	// Far more than the API buffers (its line reader, one batch in
	// hand, one handed over): the writer must block until the send goes.
	const lines = 64
	pad := strings.Repeat("p", 60<<10)
	var script strings.Builder
	for i := range lines {
		script.WriteString(`{"cmd":"peers","ref":"` + string(rune('a'+i%26)) + `","pad":"` + pad + "\"}\n")
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := io.WriteString(h.stdin, script.String())
		wrote <- err
	}()
	// A node event raised during the wait is not held back.
	n.events <- p2p.MessageReceived{PeerID: fakePeerA, ID: "in-1", Text: "hello", SentAt: time.Unix(1, 0)}
	if ev := h.next(); ev["event"] != "message" || ev["id"] != "in-1" {
		t.Fatalf("during the wait: %v, want the message event", ev)
	}
	select {
	case err := <-wrote:
		t.Fatalf("stdin was read to the end (%v) while the send waited", err)
	case <-time.After(100 * time.Millisecond):
	}

	close(release)
	checkFields(t, h.next(), map[string]any{"event": "sent", "ref": "s1", "peer_id": fakePeerA})
	for i := range lines {
		checkFields(t, h.next(), map[string]any{"event": "peers", "ref": string(rune('a' + i%26))})
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the script's write never finished")
	}
}

// TestHeadlessSendWaitEnds: a send whose wait ends without room (the node
// closing) is answered by an error, and the API goes on.
func TestHeadlessSendWaitEnds(t *testing.T) {
	n := newFakeNode()
	withPeers(n)
	n.waitSend = func(context.Context) error {
		n.mu.Lock()
		n.waitSend = nil
		n.mu.Unlock()
		return p2p.ErrClosed
	}
	h := startAPI(t, n, nil)
	h.write(`{"cmd":"send","to":"` + fakePeerA + `","text":"x","ref":"s1"}`)
	checkFields(t, h.next(), map[string]any{"event": "error", "ref": "s1"})
	h.write(`{"cmd":"send","to":"` + fakePeerA + `","text":"y","ref":"s2"}`)
	checkFields(t, h.next(), map[string]any{"event": "sent", "ref": "s2"})
}

// TestLineModeSending: a line to a peer whose send window is full is not
// refused: line mode says that it is sending, and the message goes once
// there is room.
func TestLineModeSending(t *testing.T) {
	n := newFakeNode()
	withPeers(n) // alice online
	release := make(chan struct{})
	n.waitSend = func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h := startLineMode(t, n)
	h.typeLine("/msg alice")
	h.typeLine("hello there")
	h.expect("*** sending to alice")
	n.mu.Lock()
	sent := len(n.sentTo)
	n.mu.Unlock()
	if sent != 0 {
		t.Fatalf("%d sent before the window had room", sent)
	}
	close(release)
	h.typeLine("/peers") // answered only after the send
	h.expect("alice")
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.sentTo) != 1 || n.sentTo[0] != fakePeerA {
		t.Fatalf("sent to %v, want alice once", n.sentTo)
	}
	if out := h.out.String(); strings.Contains(out, "not sent") {
		t.Errorf("a refusal in the output:\n%s", out)
	}
}
