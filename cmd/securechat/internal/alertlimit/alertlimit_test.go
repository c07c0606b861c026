package alertlimit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestFlood: 2000 failures in a minute show the burst and one summary.
func TestFlood(t *testing.T) {
	l := New(3)
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	shown := 0
	for i := range 2000 {
		show, sum := l.Allow(fmt.Sprintf("peer%d", i%900), t0.Add(time.Duration(i)*time.Millisecond))
		if show {
			shown++
		}
		if sum.Failures != 0 {
			t.Fatalf("summary %+v inside the window", sum)
		}
	}
	if shown != 3 || l.Suppressed() != 1997 {
		t.Fatalf("shown %d, suppressed %d; want 3 and 1997", shown, l.Suppressed())
	}
	if sum := l.Flush(t0.Add(30 * time.Second)); sum.Failures != 0 {
		t.Fatalf("flushed %+v before the window ended", sum)
	}
	sum := l.Flush(t0.Add(Window))
	if sum != (Summary{Failures: 1997, Peers: 900}) {
		t.Fatalf("summary %+v", sum)
	}
	if got := l.Describe(sum); !strings.HasPrefix(got, "1997 more handshake failures from 900 peers in the last minute") {
		t.Fatalf("described as %q", got)
	}
	// A new window shows the burst again, and a summary due is handed
	// over with the next failure when nobody flushed.
	for range 5 {
		l.Allow("x", t0.Add(2*Window))
	}
	show, sum := l.Allow("y", t0.Add(3*Window+time.Second))
	if !show || sum != (Summary{Failures: 2, Peers: 1}) {
		t.Fatalf("after a quiet window: show %v, summary %+v", show, sum)
	}
}

// TestPeersBounded: the distinct peers a window remembers are capped.
func TestPeersBounded(t *testing.T) {
	l := New(0)
	t0 := time.Now()
	for i := range maxPeers + 10 {
		l.Allow(fmt.Sprint(i), t0)
	}
	if len(l.peers) != maxPeers {
		t.Fatalf("%d peers remembered", len(l.peers))
	}
	sum := l.Flush(t0.Add(Window))
	if !sum.AtLeast || sum.Failures != maxPeers+10 {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(l.Describe(sum), "at least 4096 peers") {
		t.Fatal(l.Describe(sum))
	}
}
