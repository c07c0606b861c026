package p2p

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestRedialBackoff: the first attempt comes within redialFirst; each
// failure waits a jittered delay in [d/2, d], d doubling from redialMin up
// to redialMax and staying there.
func TestRedialBackoff(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	b := newBackoff(now)
	if w := b.next.Sub(now); w < redialFirst/2 || w > redialFirst {
		t.Fatalf("first attempt in %v, want within [%v, %v]", w, redialFirst/2, redialFirst)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 30 * time.Second, 30 * time.Second, 30 * time.Second}
	if want[0] != redialMin || want[len(want)-1] != redialMax {
		t.Fatalf("test assumes redialMin %v and redialMax %v", redialMin, redialMax)
	}
	for i, d := range want {
		if b.delay != d {
			t.Fatalf("failure %d: delay %v, want %v", i, b.delay, d)
		}
		now = now.Add(time.Minute)
		b.failed(now)
		if w := b.next.Sub(now); w < d/2 || w > d {
			t.Fatalf("failure %d: next attempt in %v, want within [%v, %v]", i, w, d/2, d)
		}
	}
}

// TestJitter: jitter stays in [d/2, d] and does spread (two nodes that
// lost each other must not redial in lock step).
func TestJitter(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, 1, redialFirst, redialMin, redialMax} {
		seen := map[time.Duration]bool{}
		for range 200 {
			j := jitter(d)
			if j < d/2 || j > d {
				t.Fatalf("jitter(%v) = %v, outside [%v, %v]", d, j, d/2, d)
			}
			seen[j] = true
		}
		if d >= time.Millisecond && len(seen) < 10 {
			t.Errorf("jitter(%v) took only %d values in 200 draws", d, len(seen))
		}
	}
}

// TestRedialerReset: a session coming up forgets the peer's backoff and
// wakes the loop, but never under an attempt in flight (whose end updates
// the backoff).
func TestRedialerReset(t *testing.T) {
	t.Parallel()
	r := &redialer{backoff: make(map[peer.ID]*backoff), wake: make(chan struct{}, 1)}
	now := time.Now()
	idle, busy := peer.ID("idle"), peer.ID("busy")
	r.backoff[idle] = newBackoff(now)
	r.backoff[idle].failed(now)
	r.backoff[busy] = &backoff{inflight: true, delay: redialMax}
	r.reset(idle)
	r.reset(busy)
	if _, ok := r.backoff[idle]; ok {
		t.Error("reset kept the backoff of an idle peer")
	}
	if b := r.backoff[busy]; b == nil || b.delay != redialMax {
		t.Error("reset dropped the backoff of a peer with an attempt in flight")
	}
	select {
	case <-r.wake:
	default:
		t.Error("reset did not wake the redial loop")
	}
}
