package p2p

import (
	"bufio"
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/securechat/securechat/e2e"
)

// countingHandler counts log records by message, at every level.
type countingHandler struct{ redials, total atomic.Int64 }

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.total.Add(1)
	if r.Message == "redial failed" {
		h.redials.Add(1)
	}
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

// strangerHandshake makes a throwaway libp2p host (a fresh peer ID) that
// completes an end-to-end handshake with v under identity id, sends its
// HELLO, and goes away for good.
func strangerHandshake(t *testing.T, v peer.AddrInfo, id *e2e.Identity) {
	t.Helper()
	h := rawHost(t)
	defer func() { _ = h.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.Connect(ctx, v); err != nil {
		t.Fatal(err)
	}
	st, err := h.NewStream(ctx, v.ID, protocol.ID(e2e.ProtocolID))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Reset() }()
	b, err := e2e.NewBundle(id, []byte(h.ID()), hostSigner{h.Peerstore().PrivKey(h.ID())})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := e2e.NewInitiator(e2e.HandshakeConfig{Identity: id, Bundle: b,
		LocalPeerID: []byte(h.ID()), RemotePeerID: []byte(v.ID), VerifyHost: verifyHost})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.SetDeadline(time.Now().Add(waitTimeout))
	r := bufio.NewReader(st)
	sess, err := hs.Run(r, st)
	if err != nil {
		t.Fatalf("stranger handshake: %v", err)
	}
	rec, err := sess.Seal(encodeHello("stranger"))
	if err != nil {
		t.Fatal(err)
	}
	if err := e2e.WriteFrame(st, rec); err != nil {
		t.Fatal(err)
	}
	// One message, and its receipt says the victim stored it: the session
	// was up there.
	var mid [messageIDLen]byte
	copy(mid[:], h.ID())
	if rec, err = sess.Seal(encodeChat(mid, time.Now(), "hi")); err != nil {
		t.Fatal(err)
	}
	if err := e2e.WriteFrame(st, rec); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := e2e.ReadFrame(r, e2e.MaxFrameSize)
		if err != nil {
			t.Fatalf("victim's receipt: %v", err)
		}
		typ, pt, err := sess.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		if typ != e2e.RecordData {
			continue
		}
		if p, err := parsePayload(pt); err == nil && p.typ == payloadReceipt {
			return
		}
	}
}

// cpuTime is the process's user and system CPU time.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestStrangerChurn makes throwaway peer IDs complete a handshake with a
// node and vanish (SECURITY.md: strangers are never redialled and cannot
// make the node dial or decrypt in proportion to their number). It logs
// the CPU the process spent during the churn and in the quiet period
// after it, and the redials the node attempted; it fails if any stranger
// became a contact or was redialled. SECURECHAT_CHURN_N sets the number of
// strangers (default 24; README.md reports a run with 200).
func TestStrangerChurn(t *testing.T) {
	t.Parallel()
	k := 24
	if s := os.Getenv("SECURECHAT_CHURN_N"); s != "" {
		var err error
		if k, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	quiet := 5 * time.Second
	h := &countingHandler{}
	set := testSettings(t, "victim")
	n, err := newNode(context.Background(), Config{Ephemeral: true, ListenAddrs: loopback, Name: "victim", Logger: slog.New(h)}, set)
	if err != nil {
		t.Fatal(err)
	}
	v := wrap(t, n)
	info, err := peer.AddrInfoFromP2pAddr(v.addr(t, "tcp"))
	if err != nil {
		t.Fatal(err)
	}
	id := mustFixtureIdentity(t, "stranger")
	cpu0, t0 := cpuTime(t), time.Now()
	for i := range k {
		strangerHandshake(t, *info, id)
		if i%10 == 9 {
			// The admission rate (ratelimit.go) is 20 handshakes a
			// second after a burst: stay under it.
			time.Sleep(400 * time.Millisecond)
		}
	}
	cpu1, t1 := cpuTime(t), time.Now()
	time.Sleep(quiet)
	cpu2 := cpuTime(t)
	contacts, _ := v.store.Contacts()
	t.Logf("%d strangers: churn %v wall, %v CPU; quiet %v: %v CPU, %d redials failed; %d contacts stored; %d peers listed",
		k, t1.Sub(t0).Round(time.Millisecond), (cpu1 - cpu0).Round(time.Millisecond), quiet,
		(cpu2 - cpu1).Round(time.Millisecond), h.redials.Load(), len(contacts), len(v.Peers()))
	if len(contacts) != 0 {
		t.Errorf("%d strangers stored as contacts", len(contacts))
	}
	if r := h.redials.Load(); r != 0 {
		t.Errorf("%d redials of strangers", r)
	}
}
