package p2p

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/securechat/securechat/p2p/store"
)

// TestContactAdmittedUnderSlotFlood: 8 throwaway peer IDs keep every
// shared responder handshake slot taken with silent streams (2 each,
// reopened as soon as the node drops them). A pinned contact still
// connects in, through the slots only contacts can take, and its
// messages are delivered. The figures go to the test log.
func TestContactAdmittedUnderSlotFlood(t *testing.T) {
	t.Parallel()
	v, b := newTestNode(t, "victim"), newTestNode(t, "bob")
	// b is v's contact, pinned long ago and not due for a redial: it
	// must come in by itself.
	long := time.Now().Add(-2 * redialRecent)
	if err := v.store.PutContact(store.Contact{PeerID: b.PeerID(), Fingerprint: b.Fingerprint(), Name: "bob",
		Trust: TrustPinned, FirstSeen: long, LastSeen: long}); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	for range maxHandshakesInFlight / maxHandshakesPerPeer {
		att := newAttacker(t, v)
		for range maxHandshakesPerPeer {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					s := att.stream()
					if s == nil {
						time.Sleep(50 * time.Millisecond)
						continue
					}
					mu.Lock()
					opened++
					mu.Unlock()
					waitStop(s, stop)
				}
			}()
		}
	}
	defer func() { close(stop); wg.Wait() }()
	eventually(t, "shared slots full", func() bool {
		v.admission.mu.Lock()
		defer v.admission.mu.Unlock()
		return v.admission.inFlight >= maxHandshakesInFlight
	})

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := b.Connect(ctx, v.addr(t, "tcp")); err != nil {
		t.Fatalf("a contact could not connect in while the slots were flooded: %v", err)
	}
	up := time.Since(start)
	const k = 20
	ids := sendBurst(t, b.Node, v.PeerID(), k, "flood")
	got := v.ev.waitN(t, "messages", k, isMessage(b.PeerID()))
	for i, e := range got {
		if e.(MessageReceived).ID != ids[i] {
			t.Fatalf("message %d = %+v, want %s", i, e, ids[i])
		}
	}
	v.admission.mu.Lock()
	shared, refused := v.admission.inFlight, v.admission.refused
	v.admission.mu.Unlock()
	mu.Lock()
	t.Logf("under the flood (%d silent streams opened, %d refused, %d shared slots held): contact's session up in %v, %d/%d messages delivered in %v",
		opened, refused, shared, up.Round(time.Millisecond), len(got), k, time.Since(start).Round(time.Millisecond))
	mu.Unlock()
}

// waitStop waits until the node ends s (its first-message deadline) or
// stop closes, and resets s.
func waitStop(s network.Stream, stop chan struct{}) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		_, _ = s.Read(b[:])
	}()
	select {
	case <-done:
	case <-stop:
	}
	_ = s.Reset()
	<-done
}

// TestSilentStreamFirstMessageDeadline: a responder gives up on a stream
// whose initiator sends nothing within the first-message deadline, well
// before the whole handshake's deadline.
func TestSilentStreamFirstMessageDeadline(t *testing.T) {
	t.Parallel()
	set := testSettings(t, "victim")
	set.firstMessageTimeout = 300 * time.Millisecond // the handshake's stays 10 s
	v := newTestNodeWith(t, "victim", set)
	att := newAttacker(t, v)
	s := att.stream()
	if s == nil {
		t.Fatal("stream refused")
	}
	if !waitReset(s, set.handshakeTimeout/2) {
		t.Fatalf("a silent stream outlived half the handshake deadline (%v); first-message deadline %v",
			set.handshakeTimeout/2, set.firstMessageTimeout)
	}
	eventually(t, "slot released", func() bool {
		v.admission.mu.Lock()
		defer v.admission.mu.Unlock()
		return v.admission.inFlight == 0
	})
}
