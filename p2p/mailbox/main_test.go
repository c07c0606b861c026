package mailbox

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/securechat/securechat/e2e"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide workers of go-libp2p's dependencies that start on
		// first use and never stop; none belongs to a mailbox.
		goleak.IgnoreTopFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"),
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// waitTimeout bounds every wait in these tests.
const waitTimeout = 20 * time.Second

// newHost is a plain libp2p host on 127.0.0.1 (TCP only, no relay, no
// mDNS), closed at the end of the test.
func newHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrs(multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")),
		libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// know tells h where to find the others.
func know(h host.Host, others ...host.Host) {
	for _, o := range others {
		h.Peerstore().AddAddrs(o.ID(), o.Addrs(), peerstore.PermanentAddrTTL)
	}
}

// testCtx is a context bounded by waitTimeout.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// fakeEnvelope is size bytes that pass e2e.EnvelopeHeader: version 1, a
// random envelope ID and random bytes after it. The mailbox never opens
// envelopes, so it cannot tell them from sealed ones.
func fakeEnvelope(t testing.TB, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	b[0] = 1
	return b
}

// newCap is a fresh capability.
func newCap(t testing.TB) Capability {
	t.Helper()
	c, err := NewCapability()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clock is a settable ServerConfig.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rawRequest sends body as one request frame from h to mbox and returns
// the answer's code (the first byte of its first frame).
func rawRequest(t testing.TB, h host.Host, mbox peer.ID, body []byte) byte {
	t.Helper()
	ctx := testCtx(t)
	st, err := h.NewStream(ctx, mbox, ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	// Written raw (AppendFrame would refuse the oversized bodies some
	// tests send) and aside: the mailbox may answer and stop reading
	// before the body is through.
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		_, _ = st.Write(append(binary.AppendUvarint(nil, uint64(len(body))), body...))
	}()
	defer func() { <-wrote }()
	defer func() { _ = st.Reset() }()
	f, err := e2e.ReadFrame(bufio.NewReader(st), maxResponseSize)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return f[0]
}

// testIdentity loads one of e2e's fixture identities (a or b).
func testIdentity(t testing.TB, name string) *e2e.Identity {
	t.Helper()
	b, err := os.ReadFile("../../e2e/testdata/handshake_identity_" + name + ".hex")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.Join(strings.Fields(string(b)), ""))
	if err != nil {
		t.Fatal(err)
	}
	id, err := e2e.ParseIdentity(raw)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
