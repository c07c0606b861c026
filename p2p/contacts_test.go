package p2p

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// newHomeNode starts a node that keeps its keys and store in home, so a
// test can restart it; cfg.Home, Passphrase and ListenAddrs are filled in.
func newHomeNode(t *testing.T, home, fixture string, cfg Config) *testNode {
	t.Helper()
	cfg.Home, cfg.Passphrase, cfg.ListenAddrs = home, []byte("correct horse"), loopback
	n, err := newNode(context.Background(), cfg, testSettings(t, fixture))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return wrap(t, n)
}

func isNameChanged(p, name string) func(Event) bool {
	return func(e Event) bool { c, ok := e.(NameChanged); return ok && c.PeerID == p && c.Name == name }
}

func peerInfo(t *testing.T, n *Node, peerID string) PeerInfo {
	t.Helper()
	for _, p := range n.Peers() {
		if p.PeerID == peerID {
			return p
		}
	}
	t.Fatalf("%s is not among the peers", peerID)
	return PeerInfo{}
}

func send(t *testing.T, n *Node, to, text string) string {
	t.Helper()
	id, err := n.Send(context.Background(), to, text)
	if err != nil {
		t.Fatalf("Send(%s): %v", to, err)
	}
	return id
}

// TestNameSticks: a name given in Config is saved in the home and used by
// later starts without one (over DefaultName); SetName is announced in the
// live session (NameChanged on the peer, which stores it), saved, and
// refuses what is not 1-32 printable characters; an explicit Config.Name
// replaces the saved one.
func TestNameSticks(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "bob")
	a := newTestNode(t, "alice")
	b := newHomeNode(t, home, "bob", Config{Name: "bob"})
	a.connect(t, b)

	for _, bad := range []string{"", "   ", "a\x1bb", "0123456789012345678901234567890123"} {
		if err := b.SetName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("SetName(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
	if err := b.SetName("  bobby "); err != nil {
		t.Fatal(err)
	}
	if got := b.Name(); got != "bobby" {
		t.Errorf("Name = %q", got)
	}
	a.ev.wait(t, "name changed", isNameChanged(b.PeerID(), "bobby"))
	if got := peerInfo(t, a.Node, b.PeerID()).Name; got != "bobby" {
		t.Errorf("a stores b's name as %q", got)
	}
	// The same name again announces nothing.
	if err := b.SetName("bobby"); err != nil {
		t.Fatal(err)
	}

	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = newHomeNode(t, home, "bob", Config{DefaultName: "osuser"})
	if got := b.Name(); got != "bobby" {
		t.Errorf("after a restart without a name: %q, want the saved bobby", got)
	}
	if r := b.ev.snapshot()[0].(Ready); r.Name != "bobby" {
		t.Errorf("Ready.Name = %q", r.Name)
	}
	a.connect(t, b)
	if got := a.ev.count(isNameChanged(b.PeerID(), "bobby")); got != 1 {
		t.Errorf("%d NameChanged for bobby, want 1 (a reconnect is a HELLO)", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = newHomeNode(t, home, "bob", Config{Name: "robert"})
	if got := b.Name(); got != "robert" {
		t.Errorf("explicit name: %q", got)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = newHomeNode(t, home, "bob", Config{DefaultName: "osuser"})
	if got := b.Name(); got != "robert" {
		t.Errorf("after an explicit name: %q, want it saved", got)
	}

	// A node with no saved name takes the default, without saving it.
	c := newHomeNode(t, filepath.Join(t.TempDir(), "carol"), "carol", Config{DefaultName: "osuser"})
	if got := c.Name(); got != "osuser" {
		t.Errorf("default name: %q", got)
	}
	if _, err := New(context.Background(), Config{Ephemeral: true, ListenAddrs: loopback, Name: "\xff"}); !errors.Is(err, ErrInvalidName) {
		t.Errorf("New with a name that is not UTF-8: %v", err)
	}
}

// TestNameChangeCollision: a contact renaming itself in session to the name
// of another contact (with another key) raises name_collision besides
// NameChanged, as a HELLO with that name would.
func TestNameChangeCollision(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	b := newTestNode(t, "bob")
	c := newTestNode(t, "carol")
	a.connect(t, b)
	a.connect(t, c)
	if err := c.SetName("BOB"); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "name changed", isNameChanged(c.PeerID(), "BOB"))
	al := a.ev.wait(t, "name collision", isAlert(AlertNameCollision)).(Alert)
	if al.PeerID != c.PeerID() {
		t.Errorf("collision alert names %s, want carol %s", al.PeerID, c.PeerID())
	}
}

// TestBlockUnblock: a send to a blocked peer is ErrBlocked (by peer ID and
// by name), Peers shows the block, a message queued before the block stays
// in the outbox while blocked and is delivered after Unblock.
func TestBlockUnblock(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	b := newTestNode(t, "bob")
	a.connect(t, b)
	bID := b.PeerID()
	if err := a.Block(bID); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "session down", isDownOf(bID))
	if !peerInfo(t, a.Node, bID).Blocked {
		t.Error("Peers does not show the block")
	}
	for _, to := range []string{bID, "bob"} {
		if _, err := a.Send(context.Background(), to, "hi"); !errors.Is(err, ErrBlocked) {
			t.Errorf("Send(%s) to a blocked peer = %v, want ErrBlocked", to, err)
		}
	}
	if err := a.Unblock("12D3KooWnotapeer"); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Unblock(garbage) = %v", err)
	}

	// A message queued while unblocked but offline, then blocked: kept.
	if err := a.Unblock(bID); err != nil {
		t.Fatal(err)
	}
	if peerInfo(t, a.Node, bID).Blocked {
		t.Error("Peers still shows the block")
	}
	if err := a.Block(bID); err != nil {
		t.Fatal(err)
	}
	if err := a.Unblock(bID); err != nil {
		t.Fatal(err)
	}
	id := send(t, a.Node, bID, "queued")
	if err := a.Block(bID); err != nil {
		t.Fatal(err)
	}
	h, err := a.History(bID, 0)
	if err != nil || len(h) != 1 || h[0].ID != id || h[0].State != StateQueued {
		t.Fatalf("History while blocked = %+v, %v; want the message queued", h, err)
	}
	if err := a.Unblock(bID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := b.Connect(ctx, a.addr(t, "tcp")); err != nil {
		t.Fatalf("b connects after the unblock: %v", err)
	}
	b.ev.wait(t, "the queued message", func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.ID == id })
	a.ev.wait(t, "delivered", func(e Event) bool { d, ok := e.(Delivered); return ok && d.ID == id })
}

// TestForget: forgetting a contact ends its session and deletes it with
// its history and outbox; the peer coming back is a new contact (trust
// "new"). Forgetting a blocked peer keeps the block and nothing else.
func TestForget(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	b := newTestNode(t, "bob")
	c := newTestNode(t, "carol")
	a.connect(t, b)
	bID := b.PeerID()
	send(t, a.Node, bID, "hello")
	a.ev.wait(t, "delivered", func(e Event) bool { _, ok := e.(Delivered); return ok })
	if err := a.SetLabel(bID, "Bob from work"); err != nil {
		t.Fatal(err)
	}
	if err := a.Forget(bID); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "session down", isDownOf(bID))
	if ps := a.Peers(); len(ps) != 0 {
		t.Errorf("Peers after Forget = %+v", ps)
	}
	if _, err := a.History(bID, 0); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("History after Forget = %v", err)
	}
	if err := a.Forget(bID); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Forget twice = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := b.Connect(ctx, a.addr(t, "tcp")); err != nil {
		t.Fatalf("b connects again: %v", err)
	}
	up := a.ev.waitN(t, "second session up", 2, isSessionUp(bID))[1].(SessionUp)
	if up.Trust != TrustNew {
		t.Errorf("trust after Forget = %s, want new", up.Trust)
	}
	if h, err := a.History(bID, 0); len(h) != 0 {
		t.Errorf("History after coming back = %+v, %v", h, err)
	}

	a.connect(t, c)
	cID := c.PeerID()
	if err := a.Block(cID); err != nil {
		t.Fatal(err)
	}
	if err := a.Forget(cID); err != nil {
		t.Fatal(err)
	}
	c.ev.wait(t, "c's session down", isDownOf(a.PeerID()))
	p := peerInfo(t, a.Node, cID)
	if !p.Blocked || p.Name != "" || !p.Fingerprint.IsZero() {
		t.Errorf("forgotten blocked peer = %+v, want a bare block", p)
	}
	if _, err := c.Connect(ctx, a.addr(t, "tcp")); err == nil {
		t.Error("a forgotten blocked peer connected")
	}
}

// TestSetLabel: a label shows in Peers, names the peer for Send, is
// refused when not 1-32 printable characters, and is removed with "".
func TestSetLabel(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	b := newTestNode(t, "bob")
	a.connect(t, b)
	bID := b.PeerID()
	if err := a.SetLabel(bID, "x\ny"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("SetLabel(control) = %v", err)
	}
	if err := a.SetLabel("12D3KooWnotapeer", "x"); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("SetLabel(unknown) = %v", err)
	}
	if err := a.SetLabel(bID, " Robert "); err != nil {
		t.Fatal(err)
	}
	if p := peerInfo(t, a.Node, bID); p.Label != "Robert" || p.Name != "bob" {
		t.Errorf("Peers = %+v, want label Robert over name bob", p)
	}
	if to, _, err := a.SendTo(context.Background(), "robert", "by label"); err != nil || to != bID {
		t.Errorf("SendTo(label) = %s, %v", to, err)
	}
	if err := a.SetLabel(bID, ""); err != nil {
		t.Fatal(err)
	}
	if p := peerInfo(t, a.Node, bID); p.Label != "" {
		t.Errorf("label after removal = %q", p.Label)
	}
}

// TestTrustNewKeyNothingToAccept: with no changed key there is nothing to
// accept, whatever the fingerprint given.
func TestTrustNewKeyNothingToAccept(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	b := newTestNode(t, "bob")
	a.connect(t, b)
	for _, fp := range [][32]byte{b.Fingerprint(), {1}} {
		if err := a.TrustNewKey(b.PeerID(), fp); !errors.Is(err, ErrNothingToAccept) {
			t.Errorf("TrustNewKey(%x) = %v, want ErrNothingToAccept", fp[:4], err)
		}
	}
}
