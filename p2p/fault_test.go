package p2p

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/store"
)

// Fault tests: messages survive cut connections, restarts and a peer that
// never acknowledges; each is shown once, in the sender's order. The
// process-level kill -9 tests are in cmd/securechat/fault_test.go.

func isMsgFrom(p string) func(Event) bool {
	return func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.PeerID == p }
}

func isDeliveredTo(p string) func(Event) bool {
	return func(e Event) bool { d, ok := e.(Delivered); return ok && d.PeerID == p }
}

// shownIDs returns the IDs of the messages from p that c saw, in order.
func shownIDs(c *collector, p string) []string {
	var out []string
	for _, e := range c.snapshot() {
		if m, ok := e.(MessageReceived); ok && m.PeerID == p {
			out = append(out, m.ID)
		}
	}
	return out
}

// checkExactlyOnce fails unless shown is sent: every message once, in order.
func checkExactlyOnce(t *testing.T, sent, shown []string) (dups int) {
	t.Helper()
	seen := map[string]int{}
	for _, id := range shown {
		seen[id]++
		if seen[id] == 2 {
			dups++
		}
	}
	if dups > 0 || len(shown) != len(sent) {
		t.Errorf("sent %d, shown %d, %d duplicates", len(sent), len(shown), dups)
	}
	for i := range min(len(sent), len(shown)) {
		if sent[i] != shown[i] {
			t.Errorf("message %d out of order: shown %s, sent %s", i, shown[i], sent[i])
			break
		}
	}
	return dups
}

// sendBurst sends k messages from a to p and returns their IDs in order.
func sendBurst(t *testing.T, a *Node, p string, k int, tag string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ids := make([]string, 0, k)
	for i := range k {
		id, err := a.Send(ctx, p, fmt.Sprintf("%s %d", tag, i))
		if err != nil {
			t.Errorf("Send %d: %v", i, err)
			return ids
		}
		ids = append(ids, id)
	}
	return ids
}

// TestFaultCutDuringBurst closes the hosts' connections twice during a
// burst: the redialer brings the session back, every message arrives once,
// in order.
func TestFaultCutDuringBurst(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	const total = 300
	sent := make(chan []string, 1)
	go func() { sent <- sendBurst(t, a.Node, b.PeerID(), total, "burst") }()
	start := time.Now()
	var redeliver time.Duration
	for _, at := range []int{40, 150} {
		b.ev.waitN(t, "messages before the cut", at, isMsgFrom(a.PeerID()))
		if err := a.host.Network().ClosePeer(b.host.ID()); err != nil {
			t.Fatal(err)
		}
		cut := time.Now()
		ups := a.ev.count(isSessionUp(b.PeerID()))
		a.ev.waitN(t, "session back", ups+1, isSessionUp(b.PeerID()))
		redeliver = max(redeliver, time.Since(cut))
	}
	ids := <-sent
	a.ev.waitN(t, "all delivered", total, isDeliveredTo(b.PeerID()))
	dups := checkExactlyOnce(t, ids, shownIDs(b.ev, a.PeerID()))
	t.Logf("cut x2 during burst: sent %d, delivered %d, duplicates shown %d, session back within %v, all in %v",
		len(ids), a.ev.count(isDeliveredTo(b.PeerID())), dups, redeliver.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if pending, _ := a.outbox.Pending(b.PeerID(), 0); len(pending) != 0 {
		t.Errorf("%d messages left in the outbox", len(pending))
	}
}

// TestFaultNoReceipts: a receiver that shows messages but never confirms
// them leaves them in the sender's outbox (state sent); once it confirms,
// on the next session, they are delivered and not shown again.
func TestFaultNoReceipts(t *testing.T) {
	t.Parallel()
	bobSet := testSettings(t, "bob")
	bobSet.noReceipts = new(atomic.Bool)
	bobSet.noReceipts.Store(true)
	a, b := newTestNode(t, "alice"), newTestNodeWith(t, "bob", bobSet)
	a.connect(t, b)
	ids := sendBurst(t, a.Node, b.PeerID(), 20, "unacked")
	b.ev.waitN(t, "shown", len(ids), isMsgFrom(a.PeerID()))
	eventually(t, "history state sent", func() bool {
		h, err := a.History(b.PeerID(), 0)
		return err == nil && len(h) == 20 && h[19].State == StateSent
	})
	if k := a.ev.count(isDeliveredTo(b.PeerID())); k != 0 {
		t.Fatalf("%d delivered without receipts", k)
	}
	if pending, err := a.outbox.Pending(b.PeerID(), 0); err != nil || len(pending) != 20 {
		t.Fatalf("outbox holds %d, %v; want 20", len(pending), err)
	}
	bobSet.noReceipts.Store(false)
	if err := b.host.Network().ClosePeer(a.host.ID()); err != nil {
		t.Fatal(err)
	}
	a.ev.waitN(t, "delivered after reconnect", 20, isDeliveredTo(b.PeerID()))
	checkExactlyOnce(t, ids, shownIDs(b.ev, a.PeerID()))
	h, _ := a.History(b.PeerID(), 5)
	if len(h) != 5 || h[4].State != StateDelivered || !h[4].FromMe || h[4].ID != ids[19] {
		t.Errorf("history tail %+v", h)
	}
}

// persistentNode is a node with a fixed identity, a bbolt store in dir and
// a fixed TCP port, restartable like a process on the same home (the key
// file is skipped: its KDF costs more than the test).
type persistentNode struct {
	t    *testing.T
	name string
	dir  string
	keys nodeKeys
	set  settings
	port string
	cur  *testNode
	all  []*collector // every incarnation's events
}

func newPersistentNode(t *testing.T, name string) *persistentNode {
	t.Helper()
	set := testSettings(t, name)
	keys, err := freshKeys(set.newIdentity)
	if err != nil {
		t.Fatal(err)
	}
	pn := &persistentNode{t: t, name: name, dir: t.TempDir(), keys: keys, set: set, port: "0"}
	pn.start()
	return pn
}

func (pn *persistentNode) start() {
	t := pn.t
	t.Helper()
	st, err := store.Open(filepath.Join(pn.dir, storeName), pn.keys.storage)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	listen := []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/" + pn.port)}
	n, err := start(context.Background(), Config{ListenAddrs: listen, Name: pn.name}, pn.set, pn.keys, st)
	if err != nil {
		st.Close()
		t.Fatalf("start %s: %v", pn.name, err)
	}
	pn.cur = wrap(t, n)
	pn.all = append(pn.all, pn.cur.ev)
	if pn.port == "0" {
		a := pn.cur.addr(t, "tcp").String()
		pn.port = strings.Split(a, "/")[4]
	}
}

func (pn *persistentNode) restart() {
	pn.t.Helper()
	if err := pn.cur.Close(); err != nil {
		pn.t.Fatalf("close %s: %v", pn.name, err)
	}
	<-pn.cur.ev.done
	pn.start()
}

// shown returns the IDs from p shown over all incarnations, in order.
func (pn *persistentNode) shown(p string) []string {
	var out []string
	for _, c := range pn.all {
		out = append(out, shownIDs(c, p)...)
	}
	return out
}

func (pn *persistentNode) id() peer.ID { return pn.cur.host.ID() }

// TestFaultBothRestartQueued: messages queued while the receiver is down,
// then both sides restarted, are delivered after the restart by the
// redialer alone, once and in order.
func TestFaultBothRestartQueued(t *testing.T) {
	t.Parallel()
	a, b := newPersistentNode(t, "alice"), newPersistentNode(t, "bob")
	a.cur.connect(t, b.cur)
	bID := b.id().String()
	if err := b.cur.Close(); err != nil {
		t.Fatal(err)
	}
	ids := sendBurst(t, a.cur.Node, bID, 30, "queued")
	a.restart()
	t0 := time.Now()
	b.start()
	b.cur.ev.waitN(t, "queued messages", len(ids), isMsgFrom(a.id().String()))
	a.cur.ev.waitN(t, "delivered", len(ids), isDeliveredTo(bID))
	checkExactlyOnce(t, ids, b.shown(a.id().String()))
	t.Logf("both restarted: %d queued messages delivered %v after the receiver's restart", len(ids), time.Since(t0).Round(time.Millisecond))
}
