package p2p

import (
	"context"
	"testing"
)

// TestTrustNewKeyEndsOldSession: while a contact's session under its old
// key is live, another key shows up under its peer ID and the user accepts
// it. The old key's session must end at once: Peers must not show it
// online under the new fingerprint, and a message sent afterwards must go
// to the new key only.
func TestTrustNewKeyEndsOldSession(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	hk := hostKey(t)
	b1 := newKeyedNode(t, "bob", hk, mustFixtureIdentity(t, "old"))
	bID := b1.PeerID()
	a.connect(t, b1) // b is a's contact, under the old key

	id2 := mustFixtureIdentity(t, "new")
	b2 := changedKey(t, a, hk, id2)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := a.TrustNewKey(bID, id2.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	// The old key's session ends.
	a.ev.wait(t, "old session down", isDownOf(bID))
	for _, p := range a.Peers() {
		if p.PeerID == bID && p.State == PeerOnline {
			t.Fatalf("Peers after TrustNewKey = %+v: online with no session under the new key", p)
		}
	}
	id, err := a.Send(ctx, bID, "for the new key only")
	if err != nil {
		t.Fatal(err)
	}
	// The new key connects and gets the message; the old one never does.
	if _, err := b2.Connect(ctx, a.addr(t, "tcp")); err != nil {
		t.Fatalf("new key's Connect: %v", err)
	}
	got := b2.ev.wait(t, "message", isMessage(a.PeerID())).(MessageReceived)
	if got.ID != id {
		t.Fatalf("new key got %+v, want %s", got, id)
	}
	if k := b1.ev.count(isMessage(a.PeerID())); k != 0 {
		t.Fatalf("the old key's session received %d messages after the new key was accepted", k)
	}
	// a learns the new key's identity from its HELLO, which may reach a
	// after a's own first records reached b2.
	a.ev.wait(t, "session up under the new key", func(e Event) bool {
		u, ok := e.(SessionUp)
		return ok && u.PeerID == bID && u.Fingerprint.Equal(id2.Fingerprint())
	})
	sn, err := a.SafetyNumber(bID)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustSafetyNumber(t, b2.Node, a.PeerID()); sn != want {
		t.Fatalf("safety number %s, the new key's is %s", sn, want)
	}
}
