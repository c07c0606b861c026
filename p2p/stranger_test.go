package p2p

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// befriend makes to a contact of n, as the user's writing to it or
// accepting it would (stranger.go).
func befriend(t *testing.T, n, to *testNode) {
	t.Helper()
	if err := n.promote(to.host.ID()); err != nil {
		t.Fatalf("promote: %v", err)
	}
	if _, ok, err := n.store.Contact(to.PeerID()); err != nil || !ok {
		t.Fatalf("%s is no contact after promotion: %v", to.PeerID(), err)
	}
}

func isMessage(from string) func(Event) bool {
	return func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.PeerID == from }
}

// TestStrangerPromotion: a peer that only connected is a stranger (shown
// as one in SessionUp, MessageReceived and Peers, its messages in memory,
// no contact in the store) until the user writes to it; then it is a
// contact and its messages are in the store's history.
func TestStrangerPromotion(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b) // a connected: b is a's contact, a is b's stranger
	if up := b.ev.wait(t, "up", isSessionUp(a.PeerID())).(SessionUp); !up.Stranger {
		t.Errorf("b's SessionUp for a = %+v, want Stranger", up)
	}
	if up := a.ev.wait(t, "up", isSessionUp(b.PeerID())).(SessionUp); up.Stranger {
		t.Errorf("a's SessionUp for b = %+v, want no Stranger", up)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := a.Send(ctx, b.PeerID(), "hello stranger"); err != nil {
		t.Fatal(err)
	}
	if m := b.ev.wait(t, "message", isMessage(a.PeerID())).(MessageReceived); !m.Stranger {
		t.Errorf("message from a = %+v, want Stranger", m)
	}
	if _, ok, _ := b.store.Contact(a.PeerID()); ok {
		t.Fatal("a stranger was stored as a contact")
	}
	ps := b.Peers()
	if len(ps) != 1 || !ps[0].Stranger || ps[0].State != PeerOnline || !ps[0].Fingerprint.Equal(a.Fingerprint()) {
		t.Fatalf("b's Peers = %+v, want a, online, a stranger", ps)
	}
	h, err := b.History(a.PeerID(), 0)
	if err != nil || len(h) != 1 || h[0].Text != "hello stranger" {
		t.Fatalf("b's history of a stranger = %+v, %v", h, err)
	}

	// b writes to a: a is a contact from now on, its message in the store.
	if _, err := b.Send(ctx, a.PeerID(), "hello back"); err != nil {
		t.Fatal(err)
	}
	c, ok, err := b.store.Contact(a.PeerID())
	if err != nil || !ok || !c.Fingerprint.Equal(a.Fingerprint()) || c.Name != "alice" {
		t.Fatalf("after Send, contact = %+v, %v, %v", c, ok, err)
	}
	stored, err := b.store.History(a.PeerID(), 0)
	if err != nil || len(stored) < 2 || stored[0].Text != "hello stranger" {
		t.Fatalf("stored history after promotion = %+v, %v", stored, err)
	}
	if ps := b.Peers(); len(ps) != 1 || ps[0].Stranger {
		t.Fatalf("b's Peers after Send = %+v, want a contact", ps)
	}
	if _, err := a.Send(ctx, b.PeerID(), "again"); err != nil {
		t.Fatal(err)
	}
	if m := b.ev.waitN(t, "second message", 2, isMessage(a.PeerID()))[1].(MessageReceived); m.Stranger {
		t.Errorf("message from a promoted peer = %+v, want no Stranger", m)
	}
}

// TestStrangerKeyChange: a stranger's fingerprint is pinned while it is
// tracked: another key under its peer ID is refused with key_changed, and
// accepting the new key makes it a contact under that key.
func TestStrangerKeyChange(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	hk := hostKey(t)
	b1 := newKeyedNode(t, "bob", hk, mustFixtureIdentity(t, "id1"))
	bID := b1.PeerID()
	b1.connect(t, a)
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "session down", isDownOf(bID))
	id2 := mustFixtureIdentity(t, "id2")
	changedKey(t, a, hk, id2)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ps := a.Peers()
	if len(ps) != 1 || !ps[0].Stranger || !ps[0].KeyChanged || !ps[0].PendingFingerprint.Equal(id2.Fingerprint()) {
		t.Fatalf("Peers = %+v, want the stranger with a pending key", ps)
	}
	if _, err := a.Send(ctx, bID, "x"); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("Send to a stranger with a changed key = %v, want ErrKeyChanged", err)
	}
	if err := a.TrustNewKey(bID, id2.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	c, ok, err := a.store.Contact(bID)
	if err != nil || !ok || !c.Fingerprint.Equal(id2.Fingerprint()) || !c.PendingFingerprint.IsZero() {
		t.Fatalf("after TrustNewKey: contact %+v, %v, %v", c, ok, err)
	}
}

// TestStrangerTableBounds: the table keeps at most maxStrangers, dropping
// the one seen least recently, and at most maxStrangerBytes of texts per
// stranger, its oldest messages first.
func TestStrangerTableBounds(t *testing.T) {
	t.Parallel()
	tab := newStrangerTable()
	now := time.Now()
	id := func(i int) peer.ID { return peer.ID(fmt.Sprintf("stranger-%04d", i)) }
	var fp e2e.Fingerprint
	for i := range maxStrangers + 10 {
		_, evicted, err := tab.admit(id(i), fp, nil, now.Add(time.Duration(i)*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if i >= maxStrangers && (len(evicted) != 1 || evicted[0] != id(i-maxStrangers)) {
			t.Fatalf("admit %d evicted %v, want the oldest, %s", i, evicted, id(i-maxStrangers))
		}
	}
	if len(tab.m) != maxStrangers {
		t.Fatalf("%d strangers tracked, cap %d", len(tab.m), maxStrangers)
	}
	p := id(maxStrangers + 9)
	text := strings.Repeat("x", 10<<10)
	for i := range 20 {
		m := store.Message{PeerID: p.String(), Text: text}
		m.ID[0] = byte(i)
		if fresh, tracked, _ := tab.receive(p, fp, m, now); !fresh || !tracked {
			t.Fatalf("message %d: fresh %v, tracked %v", i, fresh, tracked)
		}
	}
	s, _ := tab.get(p)
	if s.bytes > maxStrangerBytes || s.msgs[len(s.msgs)-1].ID[0] != 19 || tab.bytes != s.bytes {
		t.Fatalf("stranger keeps %d bytes (cap %d), table %d, last %d", s.bytes, maxStrangerBytes, tab.bytes, s.msgs[len(s.msgs)-1].ID[0])
	}
	// The same ID again is no new message.
	m := store.Message{PeerID: p.String(), Text: "again"}
	m.ID[0] = 19
	if fresh, _, _ := tab.receive(p, fp, m, now); fresh {
		t.Fatal("a resent message counted as new")
	}
}
