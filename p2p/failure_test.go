package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
)

func isDown(p, reason string) func(Event) bool {
	return func(e Event) bool { d, ok := e.(SessionDown); return ok && d.PeerID == p && d.Reason == reason }
}

// TestCloseAndCut: Node.Close sends an authenticated CLOSE ("closed" on the
// other side); a connection that dies without one is "cut".
func TestCloseAndCut(t *testing.T) {
	t.Parallel()
	t.Run("closed", func(t *testing.T) {
		a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
		a.connect(t, b)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		a.ev.wait(t, "session down closed", isDown(b.PeerID(), "closed"))
		if k := b.ev.count(isDown(a.PeerID(), "local")); k != 1 {
			t.Errorf("closing side: %d session_down local, want 1: %s", k, summarize(b.ev.snapshot()))
		}
		if ps := a.Peers(); len(ps) != 1 || ps[0].State != "offline" {
			t.Errorf("Peers = %+v", ps)
		}
	})
	t.Run("cut", func(t *testing.T) {
		a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
		a.connect(t, b)
		if err := b.host.Network().ClosePeer(a.host.ID()); err != nil {
			t.Fatal(err)
		}
		a.ev.wait(t, "session down cut", isDown(b.PeerID(), "cut"))
		b.ev.wait(t, "session down cut", isDown(a.PeerID(), "cut"))
	})
}

// TestOfflineQueue: messages to a known peer that is offline are accepted,
// kept, and delivered in order when the peer comes back (with its identity
// and peer ID from its key file).
func TestOfflineQueue(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	home := t.TempDir()
	cfg := Config{Home: filepath.Join(home, "bob"), Passphrase: []byte("correct horse"), ListenAddrs: loopback, Name: "bob"}
	n, err := newNode(context.Background(), cfg, testSettings(t, cfg.Name))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b1 := wrap(t, n)
	a.connect(t, b1)
	befriend(t, b1, a) // b remembers a only as a contact (stranger.go)
	bID, bFP := b1.PeerID(), b1.Fingerprint()
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "session down", isDown(bID, "closed"))

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var ids []string
	for _, to := range []string{bID, bFP.String(), strings.ToUpper(bFP.String())} {
		id, err := a.Send(ctx, to, "queued "+to[:4])
		if err != nil {
			t.Fatalf("Send(%s) offline: %v", to, err)
		}
		ids = append(ids, id)
	}
	if _, err := New(context.Background(), Config{Home: cfg.Home, Passphrase: []byte("wrong"), ListenAddrs: loopback}); err == nil {
		t.Fatal("New with a wrong passphrase succeeded")
	}
	n, err = newNode(context.Background(), cfg, testSettings(t, cfg.Name))
	if err != nil {
		t.Fatalf("New again: %v", err)
	}
	b2 := wrap(t, n)
	if b2.PeerID() != bID || b2.Fingerprint() != bFP {
		t.Fatal("identity not kept across restarts")
	}
	if _, err := b2.Connect(ctx, a.addr(t, "quic-v1")); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	up := a.ev.waitN(t, "second session up", 2, isSessionUp(bID))[1].(SessionUp)
	if up.Trust != TrustPinned {
		t.Errorf("trust on the second session = %q, want pinned", up.Trust)
	}
	got := b2.ev.waitN(t, "queued messages", 3, func(e Event) bool { _, ok := e.(MessageReceived); return ok })
	for i, e := range got {
		if e.(MessageReceived).ID != ids[i] {
			t.Fatalf("message %d = %+v, want id %s", i, e, ids[i])
		}
	}
	a.ev.waitN(t, "delivered", 3, func(e Event) bool { _, ok := e.(Delivered); return ok })
	// b remembers a across the restart: trust pinned from its store.
	if up := b2.ev.wait(t, "up", isSessionUp(a.PeerID())).(SessionUp); up.Trust != TrustPinned {
		t.Errorf("b's trust in a after restart = %q, want pinned", up.Trust)
	}
}

func TestSendAndConnectErrors(t *testing.T) {
	t.Parallel()
	a := newTestNode(t, "alice")
	ctx := context.Background()
	other, err := peer.Decode("12D3KooWJWdstdcry4QaUYH2BZqXF5oYpJ28ARdsUWLoaEf6fUEM")
	if err != nil {
		t.Fatal(err)
	}
	var fp e2e.Fingerprint
	_, _ = rand.Read(fp[:])
	sends := []struct {
		name, to, text string
		want           error
	}{
		{"unknown peer ID", other.String(), "hi", ErrUnknownPeer},
		{"unknown fingerprint", fp.String(), "hi", ErrUnknownPeer},
		{"garbage", "bob", "hi", ErrUnknownPeer},
		{"too large", other.String(), strings.Repeat("x", MaxMessageText+1), ErrTooLarge},
		{"invalid UTF-8", other.String(), "\xff", ErrInvalidText},
	}
	for _, tt := range sends {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := a.Send(ctx, tt.to, tt.text); !errors.Is(err, tt.want) {
				t.Fatalf("Send = %v, want %v", err, tt.want)
			}
		})
	}
	connects := []struct {
		name, addr string
		want       error
	}{
		{"no /p2p", "/ip4/127.0.0.1/tcp/1", ErrBadAddress},
		{"only /p2p", "/p2p/" + other.String(), ErrBadAddress},
		{"self", a.addr(t, "tcp").String(), ErrBadAddress},
		{"nobody listening", "/ip4/127.0.0.1/tcp/1/p2p/" + other.String(), ErrDialFailed},
	}
	for _, tt := range connects {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := a.Connect(ctx, multiaddr.StringCast(tt.addr)); !errors.Is(err, tt.want) {
				t.Fatalf("Connect = %v, want %v", err, tt.want)
			}
		})
	}
	if err := a.Verify(other.String(), fp); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("Verify unknown = %v", err)
	}
	if _, err := New(ctx, Config{Home: t.TempDir()}); !errors.Is(err, ErrNoPassphrase) {
		t.Errorf("New without passphrase = %v", err)
	}
}

// TestGarbage: random bytes and absurd length prefixes on chat streams, in
// place of a handshake and inside a live session, raise alerts and end only
// the stream they came on.
func TestGarbage(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	r := rawHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	aInfo, _ := peer.AddrInfoFromP2pAddr(a.addr(t, "tcp"))
	if err := r.Connect(ctx, *aInfo); err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 4096)
	_, _ = rand.Read(random)
	garbage := [][]byte{
		random,
		{0xff, 0xff, 0xff, 0xff, 0x0f}, // 2^32-1
		{0x80, 0x80, 0x11},             // > MaxFrameSize
		append([]byte{0x81, 0x40}, random[:100]...), // 8 KiB + 1 > MaxHandshakeMessage
		{0x00},
	}
	for i, g := range garbage {
		s, err := r.NewStream(ctx, aInfo.ID, protocol.ID(e2e.ProtocolID))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = s.Write(g)
		_ = s.CloseWrite()
		a.ev.waitN(t, "handshake_failed", i+1, isAlert(AlertHandshakeFailed))
		_ = s.Reset()
	}

	// A frame too large inside b's live session with a: bad_frame, that
	// session ends, and a keeps working with everyone else.
	c := newTestNode(t, "carol")
	c.connect(t, a)
	c.mu.Lock()
	cs := c.peers[a.host.ID()].current
	c.mu.Unlock()
	cs.wmu.Lock()
	_, _ = cs.st.Write([]byte{0x80, 0x80, 0x11})
	cs.wmu.Unlock()
	al := a.ev.wait(t, "bad_frame", isAlert(AlertBadFrame)).(Alert)
	if al.PeerID != c.PeerID() {
		t.Fatalf("alert %+v names the wrong peer", al)
	}
	a.ev.wait(t, "c's session down", isDown(c.PeerID(), "error"))

	// A record that fails authentication (a bit flipped in a real one).
	d := newTestNode(t, "dave")
	d.connect(t, a)
	d.mu.Lock()
	ds := d.peers[a.host.ID()].current
	d.mu.Unlock()
	ds.wmu.Lock()
	rec, err := ds.sec.Seal(encodeHello("x"))
	if err != nil {
		t.Fatal(err)
	}
	rec[len(rec)-1] ^= 1
	_ = e2e.WriteFrame(ds.st, rec)
	ds.wmu.Unlock()
	a.ev.waitN(t, "bad_frame", 2, isAlert(AlertBadFrame))

	// The honest session is unaffected.
	if _, err := a.Send(ctx, b.PeerID(), "still here"); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, "message", func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.Text == "still here" })
	a.ev.wait(t, "delivered", func(e Event) bool { _, ok := e.(Delivered); return ok })
	if k := a.ev.count(func(e Event) bool { d, ok := e.(SessionDown); return ok && d.PeerID == b.PeerID() }); k != 0 {
		t.Fatalf("b's session went down")
	}
}

// TestHeartbeatAndSanitizedText: names and texts arrive sanitized, and a
// session where one side only received stays up past the idle timeout on
// heartbeats alone (the idle timeout is short here: without heartbeats the
// session is cut within the sleep).
func TestHeartbeatAndSanitizedText(t *testing.T) {
	t.Parallel()
	node := func(name string) *testNode {
		s := testSettings(t, name)
		s.heartbeatInterval = 200 * time.Millisecond
		// A live silent session sees a record every 2.5 intervals at most
		// (limits.go); 1.5 s leaves room for a loaded test machine.
		s.idleTimeout = 1500 * time.Millisecond
		return newTestNodeWith(t, name, s)
	}
	a, b := node("al\x1b[31mice\u202e"), node("bob")
	a.connect(t, b)
	up := b.ev.wait(t, "up", isSessionUp(a.PeerID())).(SessionUp)
	if up.Name != "al[31mice" && up.Name != "alice" {
		t.Errorf("name = %q, not sanitized", up.Name)
	}
	ctx := context.Background()
	if _, err := a.Send(ctx, b.PeerID(), "red \x1b[31mtext\x1b[0m\u202e\nline 2\a"); err != nil {
		t.Fatal(err)
	}
	m := b.ev.wait(t, "message", func(e Event) bool { _, ok := e.(MessageReceived); return ok }).(MessageReceived)
	if m.Text != "red text\nline 2" {
		t.Errorf("text = %q, not sanitized", m.Text)
	}
	// Idle for two idle timeouts: heartbeats keep the session up.
	time.Sleep(2 * a.set.idleTimeout)
	for _, n := range []*testNode{a, b} {
		if k := n.ev.count(func(e Event) bool { _, ok := e.(SessionDown); return ok }); k != 0 {
			t.Fatalf("idle session cut despite heartbeats: %s", summarize(n.ev.snapshot()))
		}
	}
	if _, err := b.Send(ctx, a.PeerID(), "reply"); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "reply", func(e Event) bool { _, ok := e.(MessageReceived); return ok })
}

// TestNameCollision: a new identity that takes a contact's name is flagged.
func TestNameCollision(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	mallory := newTestNode(t, "Bob")
	mallory.connect(t, a)
	al := a.ev.wait(t, "name_collision", isAlert(AlertNameCollision)).(Alert)
	if al.PeerID != mallory.PeerID() || !strings.Contains(al.Message, b.PeerID()) {
		t.Fatalf("alert = %+v", al)
	}
}

// TestBlock: a blocked peer loses its session and gets no new one.
func TestBlock(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	if err := a.Block(b.PeerID()); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "session down", func(e Event) bool { _, ok := e.(SessionDown); return ok })
	b.ev.wait(t, "session down", func(e Event) bool { _, ok := e.(SessionDown); return ok })
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := b.Connect(ctx, a.addr(t, "tcp")); !errors.Is(err, ErrDialFailed) {
		t.Fatalf("Connect to a node that blocked us = %v", err)
	}
	if _, err := a.Send(ctx, b.PeerID(), "hi"); !errors.Is(err, ErrBlocked) {
		t.Fatalf("Send to blocked = %v", err)
	}
	if k := a.ev.count(isSessionUp(b.PeerID())); k != 1 {
		t.Fatalf("%d session ups", k)
	}
}

// TestNameCollisionRename: a known contact that renames itself to another
// contact's name is flagged too, not only a new peer.
func TestNameCollisionRename(t *testing.T) {
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	a.connect(t, b)
	c := newTestNode(t, "carol")
	c.connect(t, a)
	hk, id := c.hostKey, c.id
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "carol's session down", func(e Event) bool { d, ok := e.(SessionDown); return ok && d.PeerID == c.PeerID() })
	c2 := newKeyedNode(t, "Bob", hk, id)
	c2.connect(t, a)
	al := a.ev.wait(t, "name_collision", isAlert(AlertNameCollision)).(Alert)
	if al.PeerID != c2.PeerID() || !strings.Contains(al.Message, b.PeerID()) {
		t.Fatalf("alert = %+v", al)
	}
}
