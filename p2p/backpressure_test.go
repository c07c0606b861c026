package p2p

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p/store"
)

// switchable is a liveness the test turns on and off.
type switchable struct {
	mu      sync.Mutex
	up      bool
	changed chan struct{}
}

func newSwitchable(up bool) *switchable {
	return &switchable{up: up, changed: make(chan struct{})}
}

func (s *switchable) live() (bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up, s.changed
}

func (s *switchable) set(up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.up = up
	close(s.changed)
	s.changed = make(chan struct{})
}

// addResult is the outcome of an add run in a goroutine.
type addResult struct {
	m   outMsg
	err error
}

func addAsync(ctx context.Context, stop <-chan struct{}, q *outQueue, p string, m outMsg, lim queueLimits, live liveness) <-chan addResult {
	ch := make(chan addResult, 1)
	go func() {
		m, err := q.add(ctx, stop, p, m, lim, live)
		ch <- addResult{m, err}
	}()
	return ch
}

// stillWaiting fails the test if the add has returned. An add that waits
// as it should passes on any machine; one that does not wait returns at
// once and is caught (the pause only gives it the chance).
func stillWaiting(t *testing.T, ch <-chan addResult, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s returned (%v) instead of waiting", what, r.err)
	case <-time.After(50 * time.Millisecond):
	}
}

// inWait waits until an add for p waits for room in q (it holds the
// peer's turn and made the room channel), so that an add started after it
// queues behind it.
func inWait(t *testing.T, q *outQueue, p string) {
	t.Helper()
	pq, err := q.queue(p)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "an add waiting for room", func() bool {
		pq.mu.Lock()
		defer pq.mu.Unlock()
		return pq.room != nil && len(pq.turn) == 1
	})
}

func result(t *testing.T, ch <-chan addResult, what string) addResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitTimeout):
		t.Fatalf("%s still waiting", what)
		return addResult{}
	}
}

// TestOutQueueBackpressure: while the session is up, an add past the
// window waits (it is never refused) and proceeds when a receipt makes
// room; a wait ends with its context, with the node, or when the session
// goes, and then the offline cap decides; adds queued behind a waiting add
// keep their order.
func TestOutQueueBackpressure(t *testing.T) {
	t.Parallel()
	st := store.OpenMemory([32]byte{4})
	t.Cleanup(func() { _ = st.Close() })
	q := newOutQueue(storeOutbox{st})
	const p = "peer"
	lim := queueLimits{windowMsgs: 3, windowBytes: 1 << 20, maxMsgs: 5, maxBytes: 1 << 20}
	sw := newSwitchable(true)
	bg := context.Background()
	var added []outMsg
	for i := range 3 {
		m, err := q.add(bg, nil, p, testMsg(i), lim, sw.live)
		if err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
		added = append(added, m)
	}

	fourth := addAsync(bg, nil, q, p, testMsg(3), lim, sw.live)
	inWait(t, q, p)
	stillWaiting(t, fourth, "add past the window")
	// A second add queues behind the first, in order.
	fifth := addAsync(bg, nil, q, p, testMsg(4), lim, sw.live)
	stillWaiting(t, fifth, "add behind a waiting one")
	if n, _ := q.count(p); n != 3 {
		t.Fatalf("count = %d while waiting, want 3", n)
	}
	if ok, err := q.remove(p, added[0].id); !ok || err != nil {
		t.Fatalf("remove: %v, %v", ok, err)
	}
	r4 := result(t, fourth, "add after a receipt")
	if r4.err != nil || r4.m.seq <= added[2].seq {
		t.Fatalf("add after a receipt: seq %d, %v", r4.m.seq, r4.err)
	}
	stillWaiting(t, fifth, "add with the window full again")
	if ok, err := q.remove(p, added[1].id); !ok || err != nil {
		t.Fatalf("remove: %v, %v", ok, err)
	}
	r5 := result(t, fifth, "second add after a receipt")
	if r5.err != nil || r5.m.seq <= r4.m.seq {
		t.Fatalf("second add: seq %d after %d, %v", r5.m.seq, r4.m.seq, r5.err)
	}

	// Its context ends a wait: the answer is the context's error, never
	// ErrQueueFull, and nothing was queued.
	ctx, cancel := context.WithCancel(bg)
	sixth := addAsync(ctx, nil, q, p, testMsg(5), lim, sw.live)
	stillWaiting(t, sixth, "add with the window full")
	cancel()
	if r := result(t, sixth, "cancelled add"); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled add: %v, want context.Canceled", r.err)
	}
	// So does the node's end.
	stop := make(chan struct{})
	closing := addAsync(bg, stop, q, p, testMsg(6), lim, sw.live)
	stillWaiting(t, closing, "add with the window full")
	close(stop)
	if r := result(t, closing, "add at close"); !errors.Is(r.err, ErrClosed) {
		t.Fatalf("add at close: %v, want ErrClosed", r.err)
	}
	if n, _ := q.count(p); n != 3 {
		t.Fatalf("count = %d after the abandoned adds, want 3", n)
	}

	// The session goes while an add waits: the add is kept in the
	// outbox, up to the offline cap, past which adds are refused.
	waiting := addAsync(bg, nil, q, p, testMsg(7), lim, sw.live)
	stillWaiting(t, waiting, "add with the window full")
	sw.set(false)
	if r := result(t, waiting, "add after the session went"); r.err != nil {
		t.Fatalf("add after the session went: %v", r.err)
	}
	if _, err := q.add(bg, nil, p, testMsg(8), lim, sw.live); err != nil {
		t.Fatalf("offline add under the cap: %v", err)
	}
	if _, err := q.add(bg, nil, p, testMsg(9), lim, sw.live); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("offline add at the cap: %v, want ErrQueueFull", err)
	}
	// A session that comes up makes the next add wait again (5 queued,
	// window 3), not refuse.
	sw.set(true)
	again := addAsync(bg, nil, q, p, testMsg(10), lim, sw.live)
	stillWaiting(t, again, "add with the session back and the outbox over the window")
	ms, _, _, _ := q.next(p, 0)
	for _, m := range ms[:3] {
		if _, err := q.remove(p, m.id); err != nil {
			t.Fatal(err)
		}
	}
	if r := result(t, again, "add after the backlog drained"); r.err != nil {
		t.Fatalf("add after the backlog drained: %v", r.err)
	}
}

// TestOutQueueByteBounds: the byte bounds count the texts, also of
// messages whose text the mirror dropped or never loaded; a single message
// fits an empty queue whatever its size.
func TestOutQueueByteBounds(t *testing.T) {
	t.Parallel()
	st := store.OpenMemory([32]byte{5})
	t.Cleanup(func() { _ = st.Close() })
	q := newOutQueue(storeOutbox{st})
	const p = "peer"
	lim := queueLimits{windowMsgs: 100, windowBytes: 10, maxMsgs: 100, maxBytes: 20}
	bg := context.Background()
	msg := func(i int, text string) outMsg { m := testMsg(i); m.text = text; return m }

	big, err := q.add(bg, nil, p, msg(0, strings.Repeat("x", 30)), lim, offline)
	if err != nil {
		t.Fatalf("one message over the byte cap into an empty queue: %v", err)
	}
	if _, err := q.add(bg, nil, p, msg(1, "y"), lim, offline); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("add past the byte cap: %v, want ErrQueueFull", err)
	}
	if _, err := q.remove(p, big.id); err != nil {
		t.Fatal(err)
	}
	first, err := q.add(bg, nil, p, msg(2, "0123456789"), lim, offline)
	if err != nil {
		t.Fatal(err)
	}
	q.written(p, first.seq) // the mirror drops the text, not its size
	if _, err := q.add(bg, nil, p, msg(3, "0123456789"), lim, offline); err != nil {
		t.Fatalf("add up to the byte cap: %v", err)
	}
	if _, err := q.add(bg, nil, p, msg(4, "z"), lim, offline); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("add past the byte cap after written: %v, want ErrQueueFull", err)
	}
	// A mirror loaded from the store (a restart) counts the same bytes.
	restarted := newOutQueue(storeOutbox{st})
	if _, err := restarted.add(bg, nil, p, msg(5, "z"), lim, offline); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("reloaded: add past the byte cap: %v, want ErrQueueFull", err)
	}
	// With a session up the byte window makes an add wait instead.
	sw := newSwitchable(true)
	w := addAsync(bg, nil, restarted, p, msg(6, "z"), lim, sw.live)
	stillWaiting(t, w, "add past the byte window")
	if _, err := restarted.remove(p, first.id); err != nil {
		t.Fatal(err)
	}
	stillWaiting(t, w, "add still past the byte window") // 10 + 1 > 10
	ms, _, _, _ := restarted.next(p, 0)
	if _, err := restarted.remove(p, ms[0].id); err != nil {
		t.Fatal(err)
	}
	if r := result(t, w, "add after the bytes drained"); r.err != nil {
		t.Fatal(r.err)
	}
}

// TestSendBackpressure: between two nodes, a Send past the window while
// the session is up waits (and gives up with its context, never with
// ErrQueueFull); it goes on when the session goes; after the reconnect
// everything is delivered once; then a burst far larger than the window
// goes through with Send pacing itself on the receipts.
func TestSendBackpressure(t *testing.T) {
	t.Parallel()
	aliceSet, bobSet := testSettings(t, "alice"), testSettings(t, "bob")
	aliceSet.queue = queueLimits{windowMsgs: 5, windowBytes: 1 << 20, maxMsgs: 50, maxBytes: 1 << 20}
	bobSet.noReceipts = new(atomic.Bool)
	bobSet.noReceipts.Store(true)
	a, b := newTestNodeWith(t, "alice", aliceSet), newTestNodeWith(t, "bob", bobSet)
	a.connect(t, b)
	ids := sendBurst(t, a.Node, b.PeerID(), 5, "window")
	b.ev.waitN(t, "shown", 5, isMsgFrom(a.PeerID()))

	sixth := make(chan addResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		id, err := a.Send(ctx, b.PeerID(), "sixth")
		sixth <- addResult{m: outMsg{text: id}, err: err}
	}()
	stillWaiting(t, sixth, "Send past the window with the session up")
	waitSend := make(chan addResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		waitSend <- addResult{err: a.WaitSend(ctx, b.PeerID(), 1)}
	}()
	stillWaiting(t, waitSend, "WaitSend with the window full")
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := a.Send(ctx, b.PeerID(), "never")
		cancelled <- err
	}()
	cancel()
	if err := <-cancelled; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Send: %v, want context.Canceled", err)
	}

	// Bob confirms from now on; the cut ends the wait (the message is
	// kept offline), the redial brings all six, each shown once.
	bobSet.noReceipts.Store(false)
	if err := b.host.Network().ClosePeer(a.host.ID()); err != nil {
		t.Fatal(err)
	}
	r := result(t, sixth, "Send after the cut")
	if r.err != nil {
		t.Fatalf("Send after the cut: %v", r.err)
	}
	ids = append(ids, r.m.text)
	if r := result(t, waitSend, "WaitSend after the cut"); r.err != nil {
		t.Fatalf("WaitSend after the cut: %v", r.err)
	}
	eventually(t, "session back", func() bool {
		for _, p := range a.Peers() {
			if p.PeerID == b.PeerID() && p.State == PeerOnline {
				return true
			}
		}
		return false
	})
	a.ev.waitN(t, "delivered after reconnect", 6, isDeliveredTo(b.PeerID()))

	// A burst 60 times the window: each Send waits for room, none is
	// refused, all arrive once and in order.
	const burst = 300
	ids = append(ids, sendBurst(t, a.Node, b.PeerID(), burst, "burst")...)
	a.ev.waitN(t, "burst delivered", 6+burst, isDeliveredTo(b.PeerID()))
	b.ev.waitN(t, "burst shown", 6+burst, isMsgFrom(a.PeerID()))
	checkExactlyOnce(t, ids, shownIDs(b.ev, a.PeerID()))
}

// TestSendOfflineCap: to a contact with no session, Send keeps messages
// up to the cap and then refuses with ErrQueueFull, by count and by bytes.
func TestSendOfflineCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		lim  queueLimits
		text string
		fits int
	}{
		{"messages", queueLimits{windowMsgs: 2, windowBytes: 1 << 20, maxMsgs: 4, maxBytes: 1 << 20}, "m", 4},
		{"bytes", queueLimits{windowMsgs: 2, windowBytes: 1 << 20, maxMsgs: 100, maxBytes: 1000}, strings.Repeat("b", 300), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			set := testSettings(t, "alice")
			set.queue = tc.lim
			a, b := newTestNodeWith(t, "alice", set), newTestNode(t, "bob")
			a.connect(t, b)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			a.ev.wait(t, "session down", func(e Event) bool { d, ok := e.(SessionDown); return ok && d.PeerID == b.PeerID() })
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			if err := a.WaitSend(ctx, b.PeerID(), len(tc.text)); err != nil {
				t.Fatalf("WaitSend to a peer with no session: %v", err)
			}
			for i := range tc.fits {
				if _, err := a.Send(ctx, b.PeerID(), tc.text); err != nil {
					t.Fatalf("Send %d of %d: %v", i+1, tc.fits, err)
				}
			}
			if _, err := a.Send(ctx, b.PeerID(), tc.text); !errors.Is(err, ErrQueueFull) {
				t.Fatalf("Send past the cap: %v, want ErrQueueFull", err)
			}
			if err := a.WaitSend(ctx, b.PeerID(), len(tc.text)); err != nil {
				t.Fatalf("WaitSend with a full offline outbox: %v (Send answers that)", err)
			}
			if pending, _ := a.outbox.Pending(b.PeerID(), 0); len(pending) != tc.fits {
				t.Errorf("outbox holds %d, want %d", len(pending), tc.fits)
			}
		})
	}
}
