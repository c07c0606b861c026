package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/alertlimit"
	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// readyWait is how long the headless API waits for the node's Ready event
// before it builds ready itself from the node's accessors.
const readyWait = 3 * time.Second

// sendTimeout bounds a Send, which only queues but may touch the store.
const sendTimeout = 10 * time.Second

// headless is the JSON Lines API of docs/INTERFACE.md: commands from stdin, one
// per line, answered in order; node events to stdout, one per line.
type headless struct {
	node  chatNode
	out   *eventWriter // stdout; closed at the end
	log   *slog.Logger
	dials *dialer
	order eventOrder // sent before the delivered of its message
	// hsLimit rate-limits handshake_failed alerts (headless_alerts.go);
	// the pump's alone.
	hsLimit *alertlimit.Limiter
	now     func() time.Time
	// answered drops the node's file_failed of a reject_file that was
	// answered already (headless_files.go).
	answered answeredFiles
}

// eventWriterClose bounds the last flush of the events to stdout, for a
// reader of stdout that has stopped reading; with closeTimeout and the
// waits of shutdown it keeps the exit within 5 s.
const eventWriterClose = 500 * time.Millisecond

func newHeadless(ctx context.Context, n chatNode, stdout io.Writer, log *slog.Logger) *headless {
	w := newEventWriter(stdout)
	h := &headless{node: n, out: w, log: log, hsLimit: alertlimit.New(alertlimit.BurstHeadless), now: time.Now}
	h.dials = newDialer(ctx, n, func(e any) { h.out.emit(e) })
	return h
}

// runHeadless runs the API until quit, end of stdin, ctx (a signal), or the
// node's event stream ends; then closes the node, all within 5 s.
func runHeadless(ctx context.Context, n chatNode, cfg *config, stdin io.Reader, stdout io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := newHeadless(ctx, n, stdout, log)

	ready := make(chan struct{})
	pumpDone := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				// The API ends with exit 1 and one line; the stack
				// goes to the log. The node is not left blocked on
				// a full event buffer while it closes.
				logPanic(h.log, "headless: event pump", r, debug.Stack())
				pumpDone <- fmt.Errorf("internal error: %v", r)
				for range n.Events() {
				}
			}
		}()
		h.pump(ready, h.node.Name())
		pumpDone <- nil
	}()
	// Nothing may precede ready on stdout, not even the answer to a bad
	// first line: wait for it before reading commands.
	select {
	case <-ready:
	case <-ctx.Done():
	case err := <-pumpDone:
		pumpDone <- err // no ready will come; the loop ends on this
	}
	for _, a := range cfg.connect {
		h.dials.start(a, "")
	}

	lines := make(chan []lineResult)
	go readLineBatches(ctx, stdin, lines)

	err := h.loop(ctx, lines, pumpDone)
	if cerr := shutdown(cancel, n, pumpDone, h.dials, h.log); err == nil {
		err = cerr
	}
	h.out.close(eventWriterClose)
	return err
}

// loop answers commands until one of the ways out.
func (h *headless) loop(ctx context.Context, lines <-chan []lineResult, pumpDone <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return nil // SIGINT or SIGTERM: a clean quit
		case err := <-pumpDone:
			if err == nil {
				err = errors.New("the node stopped")
			}
			return err
		case batch, ok := <-lines:
			if !ok {
				return nil // end of stdin
			}
			for _, lr := range batch {
				if ctx.Err() != nil {
					return nil
				}
				if lr.err != nil {
					h.out.emit(errorEvent{Event: "error", Code: codeTooLarge, Message: fmt.Sprintf("input line over %d bytes", maxInputLine)})
					continue
				}
				if h.handleLine(ctx, lr.line) {
					return nil
				}
				if err := h.out.failed(); err != nil {
					return fmt.Errorf("write events: %w", err)
				}
			}
		}
	}
}

// lineResult is one line from stdin, or why there is none.
type lineResult struct {
	line []byte
	err  error
}

// readLines feeds stdin's lines to the loop and closes out at the end.
// A read blocked on stdin cannot be cancelled; the process exit ends it.
func readLines(ctx context.Context, r io.Reader, out chan<- lineResult) {
	defer close(out)
	lr := newLineReader(r, maxInputLine)
	for {
		line, err := lr.next()
		if err != nil && !errors.Is(err, errLineTooLong) {
			return
		}
		select {
		case out <- lineResult{line, err}:
		case <-ctx.Done():
			return
		}
	}
}

// Bounds of a batch of lines handed from the stdin reader to the loop.
const (
	batchLines = 64
	batchBytes = 64 << 10
)

// readLineBatches feeds stdin's lines to the headless loop and closes out
// at the end. The lines that stdin has already delivered go over together,
// in batches of at most batchLines lines and (but for one long line)
// batchBytes bytes, so that a script pushing commands does not pay a
// goroutine switch per line; a line is never held back waiting for the
// next. Besides lines, a batch carries only errLineTooLong results. A read
// blocked on stdin cannot be cancelled; the process exit ends it.
func readLineBatches(ctx context.Context, r io.Reader, out chan<- []lineResult) {
	defer close(out)
	lr := newLineReader(r, maxInputLine)
	send := func(batch []lineResult) bool {
		select {
		case out <- batch:
			return true
		case <-ctx.Done():
			return false
		}
	}
	var batch []lineResult
	size := 0
	for {
		line, err := lr.next()
		if err != nil && !errors.Is(err, errLineTooLong) {
			if len(batch) > 0 {
				send(batch)
			}
			return
		}
		batch = append(batch, lineResult{line, err})
		size += len(line)
		if len(batch) < batchLines && size < batchBytes && lineBuffered(lr.r) {
			continue // the next line is here already: reading it will not block
		}
		if !send(batch) {
			return
		}
		batch, size = nil, 0
	}
}

// lineBuffered reports whether r holds a whole line that can be read
// without waiting for input.
func lineBuffered(r *bufio.Reader) bool {
	n := r.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

// pump copies node events to stdout, ready first, until the node closes
// its event channel.
func (h *headless) pump(ready chan<- struct{}, name string) {
	events := h.node.Events()
	timer := time.NewTimer(readyWait)
	defer timer.Stop()
	var early []p2p.Event
	sent := false
	sendReady := func(r readyEvent) {
		h.out.emit(r)
		sent = true
		close(ready)
	}
	for !sent {
		select {
		case ev, ok := <-events:
			switch r, isReady := ev.(p2p.Ready); {
			case !ok:
				events = nil // no more events; build ready ourselves
				sendReady(readyJSON(h.node.PeerID(), h.node.Fingerprint().String(), name, h.node.Addrs()))
			case isReady:
				sendReady(readyJSON(r.PeerID, r.Fingerprint.String(), r.Name, r.Addrs))
			default:
				// Bounded: a node that never says Ready still gets
				// its timer.
				early = append(early, ev)
			}
		case <-timer.C:
			sendReady(readyJSON(h.node.PeerID(), h.node.Fingerprint().String(), name, h.node.Addrs()))
		}
	}
	for _, ev := range early {
		h.event(ev)
	}
	if events == nil {
		return
	}
	h.drainEvents(events) // headless_alerts.go
}

// event shows one node event.
func (h *headless) event(ev p2p.Event) {
	if df, ok := ev.(p2p.DialFailed); ok {
		h.dials.dialFailed(df)
		return
	}
	if f, ok := ev.(p2p.FileFailed); ok && h.answered.take(f.FileID) {
		return // reject_file wrote it, with its ref
	}
	if a, ok := ev.(p2p.Alert); ok && a.Kind == p2p.AlertHandshakeFailed && !h.handshakeFailed(a) {
		return // rate-limited (headless_alerts.go)
	}
	if j := eventJSON(ev); j != nil {
		h.emitNodeEvent(j)
	}
}

// emitNodeEvent writes the event of a node event, or holds it while a
// Send runs (eventOrder).
func (h *headless) emitNodeEvent(j any) {
	h.order.mu.Lock()
	defer h.order.mu.Unlock()
	if h.order.sending {
		h.order.held = append(h.order.held, j)
		return
	}
	h.out.emit(j)
}

// eventOrder keeps the answer to a send ahead of what the node raises
// while its Send runs: the message can be delivered, and its delivered
// event reach the pump, before Send has returned the id that sent
// announces. Node events are held while a Send runs (for as long as the
// Send, not waiting for anything else) and written right after its answer.
type eventOrder struct {
	mu      sync.Mutex
	sending bool
	held    []any
}

// begin starts holding node events.
func (o *eventOrder) begin() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sending = true
}

// end writes out the events held since begin, in order, and stops holding.
func (o *eventOrder) end(out *eventWriter) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sending = false
	for _, j := range o.held {
		out.emit(j)
	}
	clear(o.held)
	o.held = o.held[:0]
}

// handleLine decodes and executes one command line. It reports whether
// the command was quit.
func (h *headless) handleLine(ctx context.Context, line []byte) (quit bool) {
	defer func() {
		// Whatever goes wrong inside one command stays inside it: the
		// line is answered with an error and the API carries on.
		if r := recover(); r != nil {
			logPanic(h.log, "headless: command", r, debug.Stack())
			h.fail("", "internal", "internal error")
			quit = false
		}
	}()
	if len(bytes.TrimSpace(line)) == 0 {
		return false // a blank line is no command; scripts often end with one
	}
	c, bad := parseCommand(line)
	if bad != nil {
		h.fail(c.Ref, bad.code, bad.msg)
		return false
	}
	return h.execute(ctx, c)
}

// execute runs a decoded command; every outcome is an event.
func (h *headless) execute(ctx context.Context, c command) (quit bool) {
	switch c.Cmd {
	case "quit":
		return true
	case "peers":
		h.out.emit(peersEvent{Event: "peers", Peers: toJSONPeers(h.node.Peers()), Ref: c.Ref})
	case "connect":
		t, err := parseConnectArg(c.Addr)
		if err != nil {
			h.fail(c.Ref, codeBadAddress, err.Error())
			return false
		}
		h.dials.start(t, c.Ref)
	case "invite":
		h.invite(c) // invite.go
	case "send":
		h.send(ctx, c)
	case "verify", "trust_new_key":
		h.trust(c)
	case "block":
		h.block(c)
	case "history":
		h.history(c)
	case "send_file", "accept_file", "reject_file":
		h.files(ctx, c) // headless_files.go
	default:
		h.contacts(c) // headless_contacts.go
	}
	return false
}

func (h *headless) send(ctx context.Context, c command) {
	if len(c.Text) > p2p.MaxMessageText {
		h.fail(c.Ref, codeTooLarge, fmt.Sprintf("text over %d bytes", p2p.MaxMessageText))
		return
	}
	if c.Text == "" {
		h.fail(c.Ref, codeBadRequest, "empty text")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	h.order.begin()
	defer h.order.end(h.out) // after the answer below
	to, id, err := h.node.SendTo(ctx, c.To, c.Text)
	if err != nil {
		h.fail(c.Ref, errorCode(err), oneLine(err.Error()))
		return
	}
	h.out.emit(msgIDEvent{Event: "sent", PeerID: to, ID: id, Ref: c.Ref})
}

// trust runs verify and trust_new_key.
func (h *headless) trust(c command) {
	fp, err := parseFingerprintLoose(c.Fingerprint)
	if err != nil {
		h.fail(c.Ref, codeBadRequest, "fingerprint must be 64 hex digits")
		return
	}
	event := "verified"
	if c.Cmd == "verify" {
		err = h.node.Verify(c.PeerID, fp)
	} else {
		event = "key_trusted"
		err = h.node.TrustNewKey(c.PeerID, fp)
	}
	if err != nil {
		h.fail(c.Ref, errorCode(err), oneLine(err.Error()))
		return
	}
	h.out.emit(trustEvent{Event: event, PeerID: c.PeerID, Fingerprint: fp.String(), Ref: c.Ref})
}

// block blocks a peer and answers with the extension event "blocked".
func (h *headless) block(c command) {
	if err := h.node.Block(c.PeerID); err != nil {
		h.fail(c.Ref, errorCode(err), oneLine(err.Error()))
		return
	}
	h.out.emit(blockedEvent{Event: "blocked", PeerID: c.PeerID, Ref: c.Ref})
}

func (h *headless) fail(ref, code, msg string) {
	h.out.emit(errorEvent{Event: "error", Code: code, Message: msg, Ref: ref})
}

// parseFingerprintLoose accepts a fingerprint as people copy it: either
// case, with spaces or colons between the digits.
func parseFingerprintLoose(s string) (e2e.Fingerprint, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == ':' {
			return -1
		}
		return r
	}, s)
	return e2e.ParseFingerprint(s)
}
