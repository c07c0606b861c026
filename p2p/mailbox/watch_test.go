package mailbox

import (
	"context"
	"errors"
	"testing"
	"time"
)

// recvTick waits for a tick on ch.
func recvTick(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: watch closed", what)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("%s: no tick", what)
	}
}

// waitClosed waits for ch to close, taking ticks on the way.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("%s: watch not closed", what)
		}
	}
}

// TestWatch: a deposit ticks the owner's watch (and not another owner's);
// the channel closes when the context ends and when the mailbox closes.
func TestWatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{})
	ctx, mb := testCtx(t), w.mbox.ID()
	cp := newCap(t)
	if err := w.oc.Grant(ctx, mb, cp); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	ch, err := w.oc.Watch(wctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := w.sc.Deposit(ctx, mb, cp, fakeEnvelope(t, 1<<10)); err != nil {
			t.Fatal(err)
		}
		recvTick(t, ch, "deposit")
	}
	// A duplicate stores nothing and ticks nothing; a fresh one ticks.
	env := fakeEnvelope(t, 1<<10)
	for i := 0; i < 2; i++ {
		if err := w.sc.Deposit(ctx, mb, cp, env); err != nil {
			t.Fatal(err)
		}
	}
	recvTick(t, ch, "first of a duplicate pair")
	select {
	case <-ch:
		t.Fatal("a duplicate deposit ticked")
	case <-time.After(200 * time.Millisecond):
	}
	cancel()
	waitClosed(t, ch, "context cancelled")

	// At most maxWatchesPerOwner at once; the mailbox closing ends them.
	var chans []<-chan struct{}
	for i := 0; i < maxWatchesPerOwner; i++ {
		c, err := w.oc.Watch(ctx, mb)
		if err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
		chans = append(chans, c)
	}
	if _, err := w.oc.Watch(ctx, mb); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("watch over the limit: %v, want ErrUnavailable", err)
	}
	// Watches do not take request slots.
	if _, err := w.oc.Status(ctx, mb); err != nil {
		t.Fatalf("status while watching: %v", err)
	}
	if err := w.srv.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range chans {
		waitClosed(t, c, "mailbox closed")
	}
}

// TestWatchKeepalive: keepalives are no ticks, and a mailbox whose host
// goes away ends the watch.
func TestWatchKeepalive(t *testing.T) {
	// Not parallel: it shortens the package's keepalive interval (and
	// not the client's patience, so a slow machine fails nothing).
	old := keepaliveInterval
	keepaliveInterval, watchIdleOverride = 20*time.Millisecond, waitTimeout
	t.Cleanup(func() { keepaliveInterval, watchIdleOverride = old, 0 })
	w := newWorld(t, ServerConfig{})
	ctx, mb := testCtx(t), w.mbox.ID()
	ch, err := w.oc.Watch(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("a keepalive ticked, or the watch died")
	case <-time.After(25 * keepaliveInterval):
	}
	if err := w.mbox.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, ch, "mailbox host closed")
}
