package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/securechat/securechat/p2p"
)

// dialAnswerWithin is how long a connect may take before it is answered with
// "dial_failed": docs/INTERFACE.md promises an answer within 20 s, so we answer a
// little before, whatever the node does.
const dialAnswerWithin = p2p.DialTimeout - time.Second

// dialer runs dials in the background, so the API keeps answering commands
// while a dial waits for a slow or absent peer, and answers each dial
// exactly once: with connected when Connect returns the session (at once
// for a peer already in session), else with an error.
//
// A failure can surface twice: as Connect's error and as a DialFailed
// event. Whichever comes first answers (with the command's ref); the other
// is swallowed. A DialFailed that matches no dial of ours (the node's own
// redials) is reported without a ref.
type dialer struct {
	node   chatNode
	report func(any)       // a connectedEvent or an errorEvent
	ctx    context.Context // cancelled at shutdown
	wg     sync.WaitGroup

	mu       sync.Mutex
	reqs     map[*dialReq]struct{}
	answered map[string]time.Time // addr -> when a failure of ours was reported
}

type dialReq struct {
	addr     string
	ref      string
	answered bool
	started  time.Time
}

func newDialer(ctx context.Context, n chatNode, report func(any)) *dialer {
	return &dialer{
		node:     n,
		report:   report,
		ctx:      ctx,
		reqs:     make(map[*dialReq]struct{}),
		answered: make(map[string]time.Time),
	}
}

// start dials t (an address or an invite) in the background; ref is the
// connect command's.
func (d *dialer) start(t dialTarget, ref string) {
	req := &dialReq{addr: t.String(), ref: ref, started: time.Now()}
	d.mu.Lock()
	d.reqs[req] = struct{}{}
	d.mu.Unlock()

	ctx, cancel := context.WithTimeout(d.ctx, dialAnswerWithin)
	type result struct {
		c   p2p.Connected
		err error
	}
	done := make(chan result, 1)
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				done <- result{err: p2p.ErrDialFailed}
			}
		}()
		c, err := connectTarget(ctx, d.node, t)
		done <- result{c, err}
	}()
	go func() {
		defer d.wg.Done()
		defer cancel()
		var r result
		select {
		case r = <-done:
		case <-ctx.Done():
			// The node overran its own bound: answer anyway.
			r.err = ctx.Err()
		}
		if d.ctx.Err() != nil {
			return // shutting down: nobody is listening
		}
		d.finish(req, r.c, r.err)
	}()
}

// finish answers req with the end of its Connect, unless a DialFailed
// answered it already.
func (d *dialer) finish(req *dialReq, c p2p.Connected, err error) {
	d.mu.Lock()
	delete(d.reqs, req)
	d.expireLocked()
	if req.answered {
		d.mu.Unlock()
		return
	}
	req.answered = true
	if err == nil {
		d.mu.Unlock()
		d.report(connectedEvent{Event: "connected", PeerID: c.PeerID, Conn: c.Conn, Ref: req.ref})
		return
	}
	d.answered[req.addr] = time.Now()
	d.mu.Unlock()
	code := errorCode(err)
	switch code {
	case codeBadAddress, codeFingerprintMismatch, codeNoAddress, codeUnknownPeer, "ambiguous_peer", "key_changed":
		// The target itself was wrong; said as such.
	default:
		code = codeDialFailed // timeouts and other failures are all failed dials
	}
	// The message is the one human line; go-libp2p's own text (every
	// address and its cause) is in the node's debug log.
	d.report(errorEvent{Event: "error", Code: code, Message: p2p.DescribeDialError(err), Ref: req.ref, Addr: p2p.SanitizeName(req.addr)})
}

// dialFailed handles the node's DialFailed event.
func (d *dialer) dialFailed(e p2p.DialFailed) {
	d.mu.Lock()
	d.expireLocked()
	var match *dialReq
	for r := range d.reqs {
		if r.addr == e.Addr && !r.answered && (match == nil || r.started.Before(match.started)) {
			match = r
		}
	}
	ref := ""
	if match != nil {
		// Connect's own error, if it comes, is swallowed by finish.
		match.answered = true
		ref = match.ref
	} else if _, dup := d.answered[e.Addr]; dup {
		// Already answered from Connect's error.
		delete(d.answered, e.Addr)
		d.mu.Unlock()
		return
	}
	d.mu.Unlock()
	d.report(errorEvent{Event: "error", Code: codeDialFailed, Message: dialReason(e), Ref: ref, Addr: p2p.SanitizeName(e.Addr)})
}

// dialReason is a DialFailed's human line: the node's Reason, or its raw
// text made safe and short when it gave none.
func dialReason(e p2p.DialFailed) string {
	if e.Reason != "" {
		return p2p.SanitizeName(e.Reason)
	}
	return p2p.DescribeDialError(errors.New(e.Err))
}

// expireLocked forgets dials older than any dial can last.
func (d *dialer) expireLocked() {
	cutoff := time.Now().Add(-p2p.DialTimeout - 5*time.Second)
	for r := range d.reqs {
		if r.started.Before(cutoff) {
			delete(d.reqs, r)
		}
	}
	for a, t := range d.answered {
		if t.Before(cutoff) {
			delete(d.answered, a)
		}
	}
}

// wait waits for the dial goroutines, at most timeout (a Connect that
// ignores its cancelled context must not hold up the exit).
func (d *dialer) wait(timeout time.Duration) {
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}
