package mailbox

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestStreamsPerPeer: a peer holding maxStreamsPerPeer streams open (with
// half a request each) gets "unavailable" on the next, and the others'
// streams are still served.
func TestStreamsPerPeer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{})
	ctx, mb := testCtx(t), w.mbox.ID()
	var held []network.Stream
	defer func() {
		for _, s := range held {
			_ = s.Reset()
		}
	}()
	for i := 0; i < maxStreamsPerPeer; i++ {
		st, err := w.sender.NewStream(ctx, mb, ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, st)
		if _, err := st.Write([]byte{10, opDeposit}); err != nil { // 1 of 10 bytes
			t.Fatal(err)
		}
	}
	waitStreams(t, w.srv, func() int { return w.srv.perPeer[w.sender.ID()] }, maxStreamsPerPeer)
	if code := rawRequest(t, w.sender, mb, []byte{opStatus}); code != codeUnavailable {
		t.Fatalf("stream over the limit: code %d, want %d", code, codeUnavailable)
	}
	if _, err := w.oc.Status(ctx, mb); err != nil {
		t.Fatalf("another peer: %v", err)
	}
}

// TestOwnerNotLockedOut: with every stream slot of non-owners held by
// silent streams from several peers, another non-owner is told
// "unavailable" and the owner is served.
func TestOwnerNotLockedOut(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{})
	ctx, mb := testCtx(t), w.mbox.ID()
	var held []network.Stream
	defer func() {
		for _, s := range held {
			_ = s.Reset()
		}
	}()
	for i := 0; i < maxStreams/maxStreamsPerPeer; i++ {
		h := newHost(t)
		know(h, w.mbox)
		for j := 0; j < maxStreamsPerPeer; j++ {
			st, err := h.NewStream(ctx, mb, ProtocolID)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, st)
			if _, err := st.Write([]byte{10, opDeposit}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitStreams(t, w.srv, func() int { return w.srv.streams }, maxStreams)
	if code := rawRequest(t, w.sender, mb, []byte{opStatus}); code != codeUnavailable {
		t.Fatalf("a non-owner over the total: code %d, want %d", code, codeUnavailable)
	}
	if _, err := w.oc.Status(ctx, mb); err != nil {
		t.Fatalf("the owner: %v", err)
	}
}

// waitStreams waits until count() (read under the server's lock) is want.
func waitStreams(t *testing.T, s *Server, count func() int, want int) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		s.mu.Lock()
		n := count()
		s.mu.Unlock()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d streams admitted, want %d", n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRate: the token bucket of one peer, on a clock of its own.
func TestRate(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: ServerConfig{RequestsPerSecond: 10}, rate: map[peer.ID]*bucket{}}
	t0 := time.Unix(1000, 0)
	for i := 0; i < 40; i++ {
		if !s.allow("a", false, t0) {
			t.Fatalf("request %d of a burst of 40 refused", i)
		}
	}
	if s.allow("a", false, t0) {
		t.Fatal("request 41 of a burst allowed")
	}
	if !s.allow("b", false, t0) {
		t.Fatal("another peer refused")
	}
	if !s.allow("a", false, t0.Add(100*time.Millisecond)) || s.allow("a", false, t0.Add(100*time.Millisecond)) {
		t.Fatal("one token per 100 ms at 10 per second")
	}
	s.pruneRate(t0.Add(time.Hour))
	if len(s.rate) != 0 {
		t.Fatalf("%d idle buckets kept", len(s.rate))
	}
}

// TestRateRefusal: over its rate, a peer is told "unavailable".
func TestRateRefusal(t *testing.T) {
	t.Parallel()
	w := newWorld(t, ServerConfig{RequestsPerSecond: 1})
	ctx, mb := testCtx(t), w.mbox.ID()
	start, refused := time.Now(), false
	for i := 0; i < 12 && !refused; i++ {
		err := w.sc.Deposit(ctx, mb, newCap(t), fakeEnvelope(t, 1<<10))
		switch {
		case errors.Is(err, ErrUnavailable):
			refused = true
		case !errors.Is(err, ErrCapability):
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// 12 requests within 8 s (a burst of 4 and one a second) must meet a
	// refusal; a machine slower than that proves nothing either way.
	if !refused && time.Since(start) < 8*time.Second {
		t.Fatal("12 requests at 1 per second with a burst of 4: none refused")
	}
}

// FuzzParseRequest: the parsers of the protocol never panic, and what
// they accept has exactly one encoding (re-encoding gives the input).
func FuzzParseRequest(f *testing.F) {
	env := make([]byte, 1<<10)
	env[0] = 1
	var cp Capability
	for _, r := range []request{
		{op: opRegister}, {op: opStatus}, {op: opWatch},
		{op: opGrant, cap: cp}, {op: opRevoke, cap: cp},
		{op: opDeposit, cap: cp, envelope: env},
		{op: opFetch, max: 3}, {op: opDelete, keys: make([][16]byte, 2)},
	} {
		f.Add(encodeRequest(r))
	}
	f.Add(appendItem(nil, Stored{Received: time.UnixMilli(1), Data: env}))
	f.Add(appendStatus(nil, Status{Waiting: 1, Bytes: 2, QuotaBytes: 3, FreeBytes: 1}))
	f.Add([]byte{0, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := parseRequest(b); err == nil {
			if got := encodeRequest(r); !bytes.Equal(got, b) {
				t.Fatalf("request %x re-encodes as %x", b, got)
			}
		}
		if st, err := parseItem(b); err == nil {
			if got := appendItem(nil, st); !bytes.Equal(got, b) {
				t.Fatalf("item %x re-encodes as %x", b, got)
			}
		}
		if st, err := parseStatus(b); err == nil {
			if got := appendStatus(nil, st); !bytes.Equal(got, b) {
				t.Fatalf("status %x re-encodes as %x", b, got)
			}
		}
		if n, err := parseFetchCount(b); err == nil && (len(b) != 2 || n > MaxFetch) {
			t.Fatalf("fetch count %x accepted as %d", b, n)
		}
	})
}
