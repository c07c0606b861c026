package p2p

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

func TestMain(m *testing.M) {
	// go-libp2p's logs go to the nodes' loggers (none in most tests: then
	// nowhere), as in the command.
	RouteLibraryLogs()
	goleak.VerifyTestMain(m,
		// Process-wide workers of go-libp2p's dependencies that start on
		// first use and never stop; none belongs to a node.
		goleak.IgnoreTopFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"),
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

// waitTimeout bounds every wait in these tests.
const waitTimeout = 20 * time.Second

var loopback = []multiaddr.Multiaddr{
	multiaddr.StringCast("/ip4/127.0.0.1/tcp/0"),
	multiaddr.StringCast("/ip4/127.0.0.1/udp/0/quic-v1"),
}

// testNode is a node with its events collected.
type testNode struct {
	*Node
	ev *collector
}

// testSettings are a test node's settings: the production timings, and
// the test's fixture identity (fixtures_test.go) for a node called name.
// Tests change the timings on their own copy, never on a global.
func testSettings(tb testing.TB, name string) settings {
	s := defaultSettings()
	s.newIdentity = func() (*e2e.Identity, error) { return fixtureIdentity(tb, name) }
	return s
}

// newTestNode starts an ephemeral node on 127.0.0.1 and closes it at the end
// of the test.
func newTestNode(t *testing.T, name string) *testNode {
	t.Helper()
	return newTestNodeWith(t, name, testSettings(t, name))
}

// newTestNodeWith is newTestNode with the given settings.
func newTestNodeWith(t *testing.T, name string, set settings) *testNode {
	t.Helper()
	n, err := newNode(context.Background(), Config{Ephemeral: true, ListenAddrs: loopback, Name: name}, set)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return wrap(t, n)
}

// newKeyedNode starts a node with the given host key and identity.
func newKeyedNode(t *testing.T, name string, hk crypto.PrivKey, id *e2e.Identity) *testNode {
	t.Helper()
	n, err := start(context.Background(), Config{ListenAddrs: loopback, Name: name}, testSettings(t, name),
		nodeKeys{host: hk, id: id}, store.OpenMemory([32]byte{1}))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return wrap(t, n)
}

// hostKey returns a fresh libp2p host key: a peer ID of the test's own,
// kept when a node comes back with another identity (newKeyedNode).
func hostKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	hk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return hk
}

// testPeerID returns a fresh peer ID, of no node.
func testPeerID(t *testing.T) peer.ID {
	t.Helper()
	id, err := peer.IDFromPrivateKey(hostKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// changedKey starts bob under host key hk with identity id, which a has
// pinned another key for, and has it dial a: a must refuse the session
// and alert key_changed. It returns the new node.
func changedKey(t *testing.T, a *testNode, hk crypto.PrivKey, id *e2e.Identity) *testNode {
	t.Helper()
	b := newKeyedNode(t, "bob", hk, id)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := b.Connect(ctx, a.addr(t, "tcp")); err == nil {
		t.Fatal("a changed key got a session")
	}
	a.ev.wait(t, "key_changed", isAlert(AlertKeyChanged))
	return b
}

func wrap(t *testing.T, n *Node) *testNode {
	t.Helper()
	tn := &testNode{Node: n, ev: collect(n)}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case <-tn.ev.done:
		case <-time.After(waitTimeout):
			t.Errorf("event channel not closed")
		}
	})
	if _, ok := tn.ev.wait(t, "ready", func(e Event) bool { _, ok := e.(Ready); return ok }).(Ready); !ok {
		t.Fatal("no ready")
	}
	if _, ok := tn.ev.snapshot()[0].(Ready); !ok {
		t.Fatalf("first event is %T, not Ready", tn.ev.snapshot()[0])
	}
	return tn
}

// addr returns the node's address of the given transport ("tcp", "quic-v1").
func (tn *testNode) addr(t *testing.T, transport string) multiaddr.Multiaddr {
	t.Helper()
	for _, a := range tn.Addrs() {
		if strings.Contains(a, "/127.0.0.1/") && strings.Contains(a, "/"+transport+"/") {
			return multiaddr.StringCast(a)
		}
	}
	t.Fatalf("no %s address in %v", transport, tn.Addrs())
	return nil
}

func (tn *testNode) connect(t *testing.T, to *testNode) {
	t.Helper()
	tn.connectAt(t, to, to.addr(t, "tcp"))
}

// connectAt dials to at addr (a circuit address, say) and waits for the
// session on both sides.
func (tn *testNode) connectAt(t *testing.T, to *testNode, addr multiaddr.Multiaddr) {
	t.Helper()
	dial(t, tn, addr)
	tn.ev.wait(t, "session up", isSessionUp(to.PeerID()))
	to.ev.wait(t, "session up", isSessionUp(tn.PeerID()))
}

func isSessionUp(p string) func(Event) bool {
	return func(e Event) bool { u, ok := e.(SessionUp); return ok && u.PeerID == p }
}

func isAlert(kind string) func(Event) bool {
	return func(e Event) bool { a, ok := e.(Alert); return ok && a.Kind == kind }
}

// collector keeps every event of a node.
type collector struct {
	mu      sync.Mutex
	evs     []Event
	changed chan struct{}
	done    chan struct{}
}

func collect(n *Node) *collector {
	c := &collector{changed: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ev := range n.Events() {
			c.mu.Lock()
			c.evs = append(c.evs, ev)
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) snapshot() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.evs...)
}

func (c *collector) count(pred func(Event) bool) int {
	k := 0
	for _, e := range c.snapshot() {
		if pred(e) {
			k++
		}
	}
	return k
}

// wait returns the first event matching pred, waiting for it if need be.
func (c *collector) wait(t *testing.T, what string, pred func(Event) bool) Event {
	t.Helper()
	return c.waitN(t, what, 1, pred)[0]
}

// waitN waits until k events match pred and returns them.
func (c *collector) waitN(t *testing.T, what string, k int, pred func(Event) bool) []Event {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		c.mu.Lock()
		var got []Event
		for _, e := range c.evs {
			if pred(e) {
				got = append(got, e)
			}
		}
		changed := c.changed
		c.mu.Unlock()
		if len(got) >= k {
			return got
		}
		select {
		case <-changed:
		case <-c.done:
			t.Fatalf("events closed while waiting for %s (%d of %d)", what, len(got), k)
		case <-deadline:
			t.Fatalf("timed out waiting for %s (%d of %d); events: %s", what, len(got), k, summarize(c.snapshot()))
		}
	}
}

func summarize(evs []Event) string {
	var b strings.Builder
	counts := map[string]int{}
	for _, e := range evs {
		switch e := e.(type) {
		case MessageReceived, Delivered:
			counts[fmt.Sprintf("%T", e)]++
		default:
			fmt.Fprintf(&b, "%+v; ", e)
		}
	}
	fmt.Fprintf(&b, "%v", counts)
	return b.String()
}

// eventually polls cond until it holds or the wait times out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
