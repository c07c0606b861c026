package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// liveStepOwed reports whether tn's live session with p owes a ratchet
// step (ok is false without a live session).
func (tn *testNode) liveStepOwed(p string) (owed, ok bool) {
	id, err := peer.Decode(p)
	if err != nil {
		return false, false
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	ps := tn.peers[id]
	if ps == nil || ps.current == nil {
		return false, false
	}
	return ps.current.sec.StepOwed(), true
}

// TestReceiptsDoNotStep: a receipt takes no ratchet step, so the receiver
// of a message still owes one after its receipt went out; the heartbeat
// timer, which receipts do not reset, then takes it.
func TestReceiptsDoNotStep(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		interval time.Duration
	}{
		{"no heartbeat yet", time.Hour},
		{"heartbeat timer", 200 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			node := func(name string) *testNode {
				s := testSettings(t, name)
				s.heartbeatInterval = c.interval
				return newTestNodeWith(t, name, s)
			}
			a, b := node("alice"), node("bob")
			a.connect(t, b)
			// a has b's HELLO, so its message steps onto a fresh key.
			if _, err := a.Send(context.Background(), b.PeerID(), "one"); err != nil {
				t.Fatal(err)
			}
			a.ev.wait(t, "delivered", isDeliveredTo(b.PeerID()))
			if c.interval == time.Hour {
				if owed, ok := b.liveStepOwed(a.PeerID()); !ok || !owed {
					t.Fatalf("after its receipt b owes no step (live %v): the receipt stepped", ok)
				}
				return
			}
			eventually(t, "b's heartbeat took the owed step", func() bool {
				owed, ok := b.liveStepOwed(a.PeerID())
				return ok && !owed
			})
			// The session works on: a steps onto b's new key.
			if _, err := a.Send(context.Background(), b.PeerID(), "two"); err != nil {
				t.Fatal(err)
			}
			a.ev.waitN(t, "second delivered", 2, isDeliveredTo(b.PeerID()))
		})
	}
}
