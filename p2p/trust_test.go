package p2p

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// storedIdentity returns the identity n keeps in its contact for peerID.
func storedIdentity(t *testing.T, n *Node, peerID string) []byte {
	t.Helper()
	c, ok, err := n.store.Contact(peerID)
	if err != nil || !ok {
		t.Fatalf("Contact(%s) = %v, %v", peerID, ok, err)
	}
	return c.Identity
}

func mustSafetyNumber(t *testing.T, n *Node, peerID string) string {
	t.Helper()
	sn, err := n.SafetyNumber(peerID)
	if err != nil || len(sn) != 60 {
		t.Fatalf("SafetyNumber = %q, %v", sn, err)
	}
	return sn
}

func isDownOf(p string) func(Event) bool {
	return func(e Event) bool { d, ok := e.(SessionDown); return ok && d.PeerID == p }
}

// TestSafetyNumberOffline: once a session came up, both sides give the
// same safety number with the peer offline as they did online, one side
// after a restart (from its store on disk).
func TestSafetyNumberOffline(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	cfg := Config{Home: filepath.Join(t.TempDir(), "bob"), Passphrase: []byte("correct horse"), ListenAddrs: loopback, Name: "bob"}
	n, err := newNode(context.Background(), cfg, testSettings(t, cfg.Name))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b := wrap(t, n)
	a.connect(t, b)
	befriend(t, b, a) // a only connected: b accepts it, as if it wrote
	online := mustSafetyNumber(t, a.Node, b.PeerID())
	if got := mustSafetyNumber(t, b.Node, a.PeerID()); got != online {
		t.Fatalf("online: a sees %s, b sees %s", online, got)
	}
	if want := store.EncodePublicIdentity(b.id.Public()); !bytes.Equal(storedIdentity(t, a.Node, b.PeerID()), want) {
		t.Fatal("a did not keep b's identity")
	}

	bID, aID := b.PeerID(), a.PeerID()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "session down", isDownOf(bID))
	if ps := a.Peers(); len(ps) != 1 || ps[0].State == PeerOnline {
		t.Fatalf("Peers = %+v, want b offline", ps)
	}
	if got := mustSafetyNumber(t, a.Node, bID); got != online {
		t.Errorf("a offline: %s, online it was %s", got, online)
	}

	// b restarts while a is gone: its number comes from its store.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	n, err = newNode(context.Background(), cfg, testSettings(t, cfg.Name))
	if err != nil {
		t.Fatalf("New again: %v", err)
	}
	b2 := wrap(t, n)
	if ps := b2.Peers(); len(ps) != 1 || ps[0].PeerID != aID || ps[0].State == PeerOnline {
		t.Fatalf("Peers after restart = %+v, want a offline", ps)
	}
	if got := mustSafetyNumber(t, b2.Node, aID); got != online {
		t.Errorf("b offline after a restart: %s, online it was %s", got, online)
	}
}

// TestSafetyNumberKeyChange: a changed key leaves the old identity stored
// and refuses the safety number until TrustNewKey; after it, the new key's
// identity is stored at its first session, and nothing before.
func TestSafetyNumberKeyChange(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	hk := hostKey(t)
	id1 := mustFixtureIdentity(t, "id1")
	b1 := newKeyedNode(t, "bob", hk, id1)
	bID := b1.PeerID()
	b1.connect(t, a)
	befriend(t, a, b1) // a contact's key change (a stranger's: stranger_test.go)
	old := mustSafetyNumber(t, a.Node, bID)
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "session down", isDownOf(bID))

	id2 := mustFixtureIdentity(t, "id2")
	b2 := changedKey(t, a, hk, id2)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if !bytes.Equal(storedIdentity(t, a.Node, bID), store.EncodePublicIdentity(id1.Public())) {
		t.Fatal("the key change replaced the stored identity")
	}
	if _, err := a.SafetyNumber(bID); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("SafetyNumber with a pending key change = %v, want ErrKeyChanged", err)
	}

	if err := a.TrustNewKey(bID, id2.Fingerprint()); err != nil {
		t.Fatal(err)
	}
	if id := storedIdentity(t, a.Node, bID); id != nil {
		t.Fatal("the old identity outlived its pin")
	}
	if _, err := a.SafetyNumber(bID); !errors.Is(err, ErrNoSession) {
		t.Fatalf("SafetyNumber before the new key's session = %v, want ErrNoSession", err)
	}
	if _, err := b2.Connect(ctx, a.addr(t, "tcp")); err != nil {
		t.Fatalf("Connect after TrustNewKey: %v", err)
	}
	a.ev.waitN(t, "second session up", 2, isSessionUp(bID))
	if !bytes.Equal(storedIdentity(t, a.Node, bID), store.EncodePublicIdentity(id2.Public())) {
		t.Fatal("the new key's identity was not stored")
	}
	online := mustSafetyNumber(t, a.Node, bID)
	if online == old {
		t.Fatal("the safety number did not change with the key")
	}
	b2.ev.wait(t, "session up", isSessionUp(a.PeerID()))
	if got := mustSafetyNumber(t, b2.Node, a.PeerID()); got != online {
		t.Fatalf("a sees %s, b sees %s", online, got)
	}
	if err := b2.Close(); err != nil {
		t.Fatal(err)
	}
	a.ev.waitN(t, "session down", 2, isDownOf(bID))
	if got := mustSafetyNumber(t, a.Node, bID); got != online {
		t.Errorf("offline %s, online %s", got, online)
	}
}

// TestSafetyNumberStoredIdentity: the identity read from the store is used
// only if it is the pinned key; anything else is refused, never shown.
func TestSafetyNumberStoredIdentity(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	hk := hostKey(t)
	p, err := peer.IDFromPrivateKey(hk)
	if err != nil {
		t.Fatal(err)
	}
	pinned := mustFixtureIdentity(t, "pinned")
	other := mustFixtureIdentity(t, "other")
	if pinned.Fingerprint() == other.Fingerprint() {
		t.Fatal("test setup: want two identities")
	}
	want := e2e.SafetyNumber(a.id.Public(), []byte(a.host.ID()), pinned.Public(), []byte(p))
	tests := []struct {
		name     string
		identity []byte
		want     error // nil: the safety number
	}{
		{"not known yet", nil, ErrNoSession},
		{"pinned key", store.EncodePublicIdentity(pinned.Public()), nil},
		{"another key", store.EncodePublicIdentity(other.Public()), store.ErrCorrupt},
		{"garbage", []byte("not an identity"), store.ErrCorrupt},
		{"truncated", store.EncodePublicIdentity(pinned.Public())[:100], store.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := store.Contact{PeerID: p.String(), Fingerprint: pinned.Fingerprint(), Trust: TrustPinned, Identity: tt.identity}
			if err := a.store.PutContact(c); err != nil {
				t.Fatal(err)
			}
			sn, err := a.SafetyNumber(p.String())
			if tt.want == nil {
				if err != nil || sn != want {
					t.Fatalf("SafetyNumber = %q, %v; want %s", sn, err, want)
				}
				return
			}
			if !errors.Is(err, tt.want) || sn != "" {
				t.Fatalf("SafetyNumber = %q, %v; want %v", sn, err, tt.want)
			}
		})
	}
}
