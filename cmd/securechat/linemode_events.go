package main

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/alertlimit"
	"github.com/securechat/securechat/p2p"
)

// alertFlushEvery is how often the line interface and the headless API
// look whether a minute of rate-limited handshake failures is over, so the
// summary of a flood that stopped does not wait for the next failure.
const alertFlushEvery = 5 * time.Second

// pump prints the node's events until the node closes the channel. It
// never stops early: a front-end that stops reading blocks every session
// of the node once the event buffer is full. A panic while handling one
// event is logged with its stack (the log file; never the terminal), told
// in one line, and the pump goes on with the next event.
func (lm *lineMode) pump(events <-chan p2p.Event) {
	pumpEvents(events, lm.safeEvent, func() { lm.summarize(lm.hsLimit.Flush(time.Now())) })
}

// pumpEvents hands each event to handle until the node closes the
// channel, and calls flush every [alertFlushEvery] meanwhile: the line
// interface and the headless API both read their events so.
func pumpEvents(events <-chan p2p.Event, handle func(p2p.Event), flush func()) {
	tick := time.NewTicker(alertFlushEvery)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			handle(ev)
		case <-tick.C:
			flush()
		}
	}
}

// safeEvent handles one event, surviving a panic in doing so.
func (lm *lineMode) safeEvent(ev p2p.Event) {
	defer func() {
		if r := recover(); r != nil {
			logPanic(lm.log, "line interface: event handler", r, debug.Stack())
			lm.printf("*** internal error while showing an event (%T); details in the log\n", ev)
		}
	}()
	lm.event(ev)
}

// logPanic logs a recovered panic with its stack, at error level, so it
// reaches the log whatever the level.
func logPanic(log interface {
	Error(msg string, args ...any)
}, where string, r any, stack []byte) {
	log.Error(where+" panicked", "panic", fmt.Sprint(r), "stack", string(stack))
}

// handshakeFailed prints a failed handshake, rate-limited: anyone can fail
// handshakes by the thousand, and a line each would push the conversation
// off the screen. [alertlimit.BurstHuman] a minute are printed, the rest
// summed up in one line when the minute is over. Only the peer ID is
// shown: looking the peer up would cost a store read per failure.
func (lm *lineMode) handshakeFailed(e p2p.Alert) {
	show, sum := lm.hsLimit.Allow(e.PeerID, time.Now())
	lm.summarize(sum)
	if show {
		lm.printf("!!! SECURITY: handshake_failed for %s: %s\n", e.PeerID, e.Message)
	}
}

func (lm *lineMode) summarize(sum alertlimit.Summary) {
	if sum.Failures > 0 {
		lm.printf("!!! SECURITY: %s\n", lm.hsLimit.Describe(sum))
	}
}
