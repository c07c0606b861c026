// Package alertlimit folds a flood of handshake failures into a summary.
//
// Anyone who can reach a node can fail a handshake with it, as often as the
// node's admission limits let them (20 a second), and each failure raises
// an alert. Shown one by one, 2000 of them push every real message out of
// view. A [Limiter] lets the first few failures of a minute through and
// counts the rest, which a front-end shows as one summary line ("12 more
// handshake failures from 9 peers in the last minute") when the minute is
// over. Memory stays bounded whatever the flood: distinct peers are counted
// up to [maxPeers].
package alertlimit

import (
	"fmt"
	"time"
)

// Window is the period the limit counts over.
const Window = time.Minute

// Bursts: the failures a minute shown one by one, in the terminal
// interfaces (a person reads them) and in the headless API (a script may
// act on each, so it gets more; README documents the number).
const (
	BurstHuman    = 3
	BurstHeadless = 10
)

// maxPeers bounds the set of distinct peers a window remembers; beyond it
// the summary says "at least".
const maxPeers = 4096

// Limiter is the rate limit of one front-end. It is not safe for
// concurrent use; each front-end calls it from its event loop.
type Limiter struct {
	burst      int
	start      time.Time // start of the current window; zero: none open
	shown      int       // failures shown one by one in the window
	suppressed int
	peers      map[string]struct{} // distinct peers among the suppressed
	capped     bool                // peers hit maxPeers
}

// New returns a limiter that shows burst failures a window one by one.
func New(burst int) *Limiter {
	return &Limiter{burst: max(burst, 0), peers: make(map[string]struct{})}
}

// Summary describes the failures a window suppressed. Zero Failures means
// there is nothing to say.
type Summary struct {
	Failures int
	Peers    int
	AtLeast  bool // more distinct peers than were counted
}

// Allow records one failure from peerID at now and reports whether to
// show it on its own. If a window with suppressed failures ended before
// now, sum describes them and should be shown first.
func (l *Limiter) Allow(peerID string, now time.Time) (show bool, sum Summary) {
	sum = l.Flush(now)
	if l.start.IsZero() {
		l.start = now
	}
	if l.shown < l.burst {
		l.shown++
		return true, sum
	}
	l.suppressed++
	if _, ok := l.peers[peerID]; !ok {
		if len(l.peers) < maxPeers {
			l.peers[peerID] = struct{}{}
		} else {
			l.capped = true
		}
	}
	return false, sum
}

// Flush ends the current window if it is over by now and returns what it
// suppressed. Front-ends call it now and then (on a timer, or on any event)
// so the summary of a flood that stopped still shows.
func (l *Limiter) Flush(now time.Time) Summary {
	if l.start.IsZero() || now.Sub(l.start) < Window {
		return Summary{}
	}
	sum := Summary{Failures: l.suppressed, Peers: len(l.peers), AtLeast: l.capped}
	l.start, l.shown, l.suppressed, l.capped = time.Time{}, 0, 0, false
	clear(l.peers)
	return sum
}

// Suppressed is how many failures the current window has held back so
// far, for a status bar.
func (l *Limiter) Suppressed() int { return l.suppressed }

// Describe words sum, naming this limiter's burst.
func (l *Limiter) Describe(sum Summary) string {
	failures := "handshake failures"
	if sum.Failures == 1 {
		failures = "handshake failure"
	}
	peers := fmt.Sprintf("%d peers", sum.Peers)
	if sum.Peers == 1 {
		peers = "1 peer"
	}
	if sum.AtLeast {
		peers = "at least " + peers
	}
	return fmt.Sprintf("%d more %s from %s in the last minute (only %d a minute are shown one by one)",
		sum.Failures, failures, peers, l.burst)
}
