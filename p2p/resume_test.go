package p2p

import (
	"context"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/p2p/store"
)

// hasTicket reports whether n keeps a ticket of kind for pid, and leaves
// it there.
func hasTicket(n *Node, kind store.TicketKind, pid string) bool {
	b, ok, err := n.store.TakeTicket(kind, pid)
	if ok && err == nil {
		_ = n.store.PutTicket(kind, pid, b)
	}
	return ok
}

// waitTicket waits until n keeps a ticket of kind for pid (the peer's
// TICKET arrives after session_up).
func waitTicket(t *testing.T, n *Node, kind store.TicketKind, pid string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !hasTicket(n, kind, pid) {
		if time.Now().After(deadline) {
			t.Fatalf("no ticket of kind %d for %s", kind, pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitTickets waits until a and b each hold a ticket from the other and
// keep a record of the one they issued.
func waitTickets(t *testing.T, a, b *testNode) {
	t.Helper()
	for _, p := range [][2]*testNode{{a, b}, {b, a}} {
		waitTicket(t, p[0].Node, store.TicketHeld, p[1].PeerID())
		waitTicket(t, p[0].Node, store.TicketIssued, p[1].PeerID())
	}
}

// liveResumed reports whether n's live session with pid was resumed.
func liveResumed(t *testing.T, n *Node, pid string) bool {
	t.Helper()
	p, err := peer.Decode(pid)
	if err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ss := n.liveLocked(p)
	if ss == nil {
		t.Fatal("no live session")
	}
	return ss.resumed
}

func sendAndWait(t *testing.T, from, to *testNode, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := from.Send(ctx, to.PeerID(), text); err != nil {
		t.Fatalf("Send: %v", err)
	}
	to.ev.wait(t, "message "+text, func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.Text == text })
}

// befriendResume makes a and b contacts of each other with a ticket each way: a
// connects (b a contact of a's), b writes (a a contact of b's), then one
// more session, whose HELLOs bring tickets both ways.
func befriendResume(t *testing.T, a, b *testNode) {
	t.Helper()
	a.connect(t, b)
	if liveResumed(t, a.Node, b.PeerID()) {
		t.Fatal("first session resumed")
	}
	sendAndWait(t, b, a, "hello from b")
	reconnect(t, a, b)
	waitTickets(t, a, b)
}

// live returns n's live session with p, or nil.
func live(n *Node, p peer.ID) *session {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.liveLocked(p)
}

// reconnect cuts a's connection to b, waits until the old session and
// connection are gone, dials again and waits until both sides have a new
// live session. A redial from either side may come first, and a new session
// that comes while the old one's end is held takes over without a second
// session_up (handler.go): so the sessions are watched, not the events.
func reconnect(t *testing.T, a, b *testNode) {
	t.Helper()
	pa, pb := decodePeerT(t, a.PeerID()), decodePeerT(t, b.PeerID())
	oldA, oldB := live(a.Node, pb), live(b.Node, pa)
	a.hangUp(pb)
	deadline := time.Now().Add(waitTimeout)
	fresh := func() bool {
		sa, sb := live(a.Node, pb), live(b.Node, pa)
		return sa != nil && sb != nil && sa != oldA && sb != oldB
	}
	for live(a.Node, pb) == oldA || live(b.Node, pa) == oldB || len(a.host.Network().ConnsToPeer(pb)) > 0 {
		if fresh() {
			return // a redial was quicker
		}
		if time.Now().After(deadline) {
			t.Fatal("the old session did not end")
		}
		time.Sleep(time.Millisecond)
	}
	dial(t, a, b.addr(t, "tcp"))
	for !fresh() {
		if time.Now().After(deadline) {
			t.Fatal("no new session on both sides")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestResumeReconnect: with tickets both ways, the next connection resumes
// (no RSA), carries messages, and leaves a fresh pair of tickets behind.
func TestResumeReconnect(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	befriendResume(t, a, b)
	reconnect(t, a, b)
	if !liveResumed(t, a.Node, b.PeerID()) || !liveResumed(t, b.Node, a.PeerID()) {
		t.Fatal("reconnect did not resume")
	}
	sendAndWait(t, a, b, "resumed hello")
	sendAndWait(t, b, a, "resumed answer")
	waitTickets(t, a, b)
}

// TestResumeFallback: the dialler holds a ticket the other side no longer
// knows (it restarted with an empty store): RETRY, the full handshake on the
// same stream, and no failure anyone sees. The other side, to which the
// dialler is now a stranger, keeps no ticket from it.
func TestResumeFallback(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	hk, id := hostKey(t), mustFixtureIdentity(t, "bob")
	b := newKeyedNode(t, "bob", hk, id)
	befriendResume(t, a, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := newKeyedNode(t, "bob", hk, id)
	a.connect(t, b2)
	if liveResumed(t, a.Node, b2.PeerID()) {
		t.Fatal("resumed with a ticket the peer lost")
	}
	for _, n := range []*testNode{a, b2} {
		if k := n.ev.count(isAlert(AlertHandshakeFailed)); k != 0 {
			t.Fatalf("%d handshake_failed alerts", k)
		}
	}
	// a issued b2 a ticket (b2 is its contact); b2, to which a is a
	// stranger, dropped it: the TICKET came before this message.
	waitTicket(t, a.Node, store.TicketIssued, b2.PeerID())
	sendAndWait(t, a, b2, "after fallback")
	if hasTicket(b2.Node, store.TicketHeld, a.PeerID()) || hasTicket(b2.Node, store.TicketIssued, a.PeerID()) {
		t.Fatal("a stranger's session left tickets")
	}
}

// TestResumeTicketsDie: a key change and a block remove a peer's tickets.
func TestResumeTicketsDie(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	hk := hostKey(t)
	b1 := newKeyedNode(t, "bob", hk, mustFixtureIdentity(t, "id1"))
	befriendResume(t, a, b1)
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	b2 := newKeyedNode(t, "bob", hk, mustFixtureIdentity(t, "id2"))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := b2.Connect(ctx, a.addr(t, "tcp")); err == nil {
		t.Fatal("Connect with a changed key succeeded")
	}
	a.ev.wait(t, "key_changed", isAlert(AlertKeyChanged))
	for _, k := range []store.TicketKind{store.TicketHeld, store.TicketIssued} {
		if hasTicket(a.Node, k, b2.PeerID()) {
			t.Fatalf("ticket of kind %d survived a key change", k)
		}
	}

	c := newTestNode(t, "carol")
	befriendResume(t, a, c)
	if err := a.Block(c.PeerID()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []store.TicketKind{store.TicketHeld, store.TicketIssued} {
		if hasTicket(a.Node, k, c.PeerID()) {
			t.Fatalf("ticket of kind %d survived a block", k)
		}
	}
}

// putTicket stores a ticket in the store of home.
func putTicket(t *testing.T, home string, key [32]byte) {
	t.Helper()
	st, err := openStore(home, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutTicket(store.TicketHeld, "12D3KooWaaaa", []byte{1}); err != nil {
		t.Fatal(err)
	}
}

// hasStoredTicket reports whether home's store holds the ticket putTicket
// stored.
func hasStoredTicket(t *testing.T, home string, key [32]byte) bool {
	t.Helper()
	st, err := openStore(home, key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, ok, _ := st.TakeTicket(store.TicketHeld, "12D3KooWaaaa")
	return ok
}

func decodePeerT(t *testing.T, pid string) peer.ID {
	t.Helper()
	p, err := peer.Decode(pid)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
