package p2p

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/mailbox"
)

// mailboxSettings shorten offline delivery's timings for tests: the 10 s
// rule becomes 300 ms.
func mailboxSettings(t *testing.T, name string) settings {
	s := testSettings(t, name)
	s.depositAfter = 300 * time.Millisecond
	s.depositRetry = 100 * time.Millisecond
	s.mailboxTick = 50 * time.Millisecond
	s.fetchInterval = 500 * time.Millisecond
	s.mailboxTimeout = 5 * time.Second
	return s
}

// mboxPeer is a node that a test stops and starts again: same host key,
// identity and store directory.
type mboxPeer struct {
	name  string
	hk    crypto.PrivKey
	ident *e2e.Identity
	dir   string
	id    peer.ID
}

func newMboxPeer(t *testing.T, name string) *mboxPeer {
	t.Helper()
	hk := hostKey(t)
	id, err := peer.IDFromPrivateKey(hk)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	return &mboxPeer{name: name, hk: hk, ident: mustFixtureIdentity(t, name), dir: dir, id: id}
}

// start starts the node on a fresh loopback port with cfg's mailbox
// fields.
func (mp *mboxPeer) start(t *testing.T, cfg Config) *testNode {
	t.Helper()
	return mp.startWith(t, cfg, mailboxSettings(t, mp.name))
}

func (mp *mboxPeer) startWith(t *testing.T, cfg Config, set settings) *testNode {
	t.Helper()
	st, err := openStore(mp.dir, [32]byte{7})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Home, cfg.Name, cfg.ListenAddrs = mp.dir, mp.name, loopback
	n, err := start(context.Background(), cfg, set,
		nodeKeys{host: mp.hk, id: mp.ident, storage: [32]byte{7}}, st)
	if err != nil {
		_ = st.Close()
		t.Fatalf("start %s: %v", mp.name, err)
	}
	return wrap(t, n)
}

// closeNode stops n now (its cleanup then finds it closed).
func closeNode(t *testing.T, n *testNode) {
	t.Helper()
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-n.ev.done
}

func isKind[T Event](e Event) bool { _, ok := e.(T); return ok }

func received(c *collector, from string) []MessageReceived {
	var out []MessageReceived
	for _, e := range c.snapshot() {
		if m, ok := e.(MessageReceived); ok && m.PeerID == from {
			out = append(out, m)
		}
	}
	return out
}

// hasPeerMailbox reports whether n knows p's mailbox.
func hasPeerMailbox(n *testNode, p string) bool {
	n.mbox.mu.Lock()
	defer n.mbox.mu.Unlock()
	return n.mbox.peers[p] != nil
}

// mailboxTrio starts mailbox M serving owner B, and B with M as its
// mailbox; A is known but not started.
type mailboxTrio struct {
	m, a, b *mboxPeer
	mNode   *testNode
	mAddr   multiaddr.Multiaddr
}

func newMailboxTrio(t *testing.T) *mailboxTrio {
	return newMailboxTrioWith(t, nil)
}

// newMailboxTrioWith is newMailboxTrio with the mailbox's configuration
// adjusted by hook.
func newMailboxTrioWith(t *testing.T, hook func(*mailbox.ServerConfig)) *mailboxTrio {
	t.Helper()
	tr := &mailboxTrio{m: newMboxPeer(t, "carol"), a: newMboxPeer(t, "alice"), b: newMboxPeer(t, "bob")}
	set := mailboxSettings(t, "carol")
	set.mailboxServer = hook
	tr.mNode = tr.m.startWith(t, Config{ServeMailbox: true, MailboxOwners: []peer.ID{tr.b.id}}, set)
	tr.mAddr = multiaddr.StringCast(tr.mNode.addr(t, "tcp").String() + "/p2p/" + tr.m.id.String())
	return tr
}

func (tr *mailboxTrio) startB(t *testing.T) *testNode {
	return tr.b.start(t, Config{Mailboxes: []multiaddr.Multiaddr{tr.mAddr}})
}

// TestMailboxCoreScenario is issue 14's scenario: A writes to B while B is
// offline and quits; B comes back alone and reads every message once, in
// order; A comes back later and sees delivered for each.
func TestMailboxCoreScenario(t *testing.T) {
	tr := newMailboxTrio(t)
	b := tr.startB(t)
	a := tr.a.start(t, Config{})
	introduce(t, a, b)
	closeNode(t, b)
	a.ev.wait(t, "session down", func(e Event) bool { d, ok := e.(SessionDown); return ok && d.PeerID == tr.b.id.String() })

	const count = 5
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ids := make([]string, count)
	for i := range ids {
		id, err := a.Send(ctx, tr.b.id.String(), fmt.Sprintf("offline %d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	a.ev.waitN(t, "deposited", count, isKind[Deposited])
	hist, err := a.History(tr.b.id.String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hist {
		if h.FromMe && h.State != StateDeposited {
			t.Errorf("history state of %s is %q, want deposited", h.ID, h.State)
		}
	}
	closeNode(t, a)

	t0 := time.Now()
	b = tr.startB(t)
	b.ev.waitN(t, "messages", count, func(e Event) bool { _, ok := e.(MessageReceived); return ok })
	t.Logf("owner start to last of %d messages shown: %v (a figure, not a check)", count, time.Since(t0))
	got := received(b.ev, tr.a.id.String())
	for i, m := range got {
		if i >= count || m.ID != ids[i] || m.Text != fmt.Sprintf("offline %d", i) {
			t.Fatalf("B shows %d messages, #%d is %q (%s); want them once, in order", len(got), i, m.Text, m.ID)
		}
	}
	// B stored them before deleting them from the mailbox.
	eventually(t, "mailbox emptied", func() bool {
		st := b.Mailboxes(ctx)
		return len(st) == 1 && st[0].Reachable && st[0].Waiting == 0
	})

	a = tr.a.start(t, Config{})
	a.connect(t, b)
	a.ev.waitN(t, "delivered", count, isKind[Delivered])
	if n := len(received(b.ev, tr.a.id.String())); n != count {
		t.Fatalf("B showed %d messages after A's resend, want %d", n, count)
	}
}

// TestMailboxEnvelopeFiles: the mailbox's home holds no text, name or
// sender peer ID after a deposit (a scan of every file).
func TestMailboxNothingReadable(t *testing.T) {
	tr := newMailboxTrio(t)
	b := tr.startB(t)
	a := tr.a.start(t, Config{})
	introduce(t, a, b)
	closeNode(t, b)
	a.ev.wait(t, "session down", isKind[SessionDown])
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	const secret = "the eagle lands at noon"
	if _, err := a.Send(ctx, tr.b.id.String(), secret); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, "deposited", isKind[Deposited])
	scanDir(t, tr.m.dir+"/mailbox", secret, "alice", tr.a.id.String(), string(tr.a.id), a.Fingerprint().String())
	// The deposit came from a throwaway peer ID: the mailbox never saw
	// the sender's.
	if slices.Contains(tr.mNode.host.Peerstore().Peers(), tr.a.id) {
		t.Fatal("the mailbox knows the sender's peer ID")
	}
}

// introduce makes a and b contacts of each other (a connects, b writes
// back) and waits until a knows b's mailbox.
func introduce(t *testing.T, a, b *testNode) {
	t.Helper()
	a.connect(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := b.Send(ctx, a.PeerID(), "hello"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A learns B's mailbox", func() bool { return hasPeerMailbox(a, b.PeerID()) })
}

func scanDir(t *testing.T, dir string, needles ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(dir + "/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range needles {
			if len(s) > 0 && containsBytes(b, s) {
				t.Errorf("%s holds %q", e.Name(), s)
			}
		}
	}
}

func containsBytes(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

// TestMailboxNeverOnlineTogether: both have a mailbox; after their first
// meeting they are never online at once, and the conversation still
// happens: B reads A's messages from its mailbox, and A gets B's receipts
// from its own.
func TestMailboxNeverOnlineTogether(t *testing.T) {
	tr := newMailboxTrio(t)
	// The mailbox serves both: restart it with a as an owner too.
	closeNode(t, tr.mNode)
	tr.mNode = tr.m.start(t, Config{ServeMailbox: true, MailboxOwners: []peer.ID{tr.b.id, tr.a.id}})
	tr.mAddr = multiaddr.StringCast(tr.mNode.addr(t, "tcp").String() + "/p2p/" + tr.m.id.String())
	withM := Config{Mailboxes: []multiaddr.Multiaddr{tr.mAddr}}
	b := tr.b.start(t, withM)
	a := tr.a.start(t, withM)
	introduce(t, a, b)
	eventually(t, "B learns A's mailbox", func() bool { return hasPeerMailbox(b, a.PeerID()) })
	closeNode(t, b)
	a.ev.wait(t, "session down", isKind[SessionDown])
	ids := sendN(t, a, tr.b.id.String(), "apart", 3)
	a.ev.waitN(t, "deposited", len(ids), isKind[Deposited])
	closeNode(t, a)

	b = tr.b.start(t, withM)
	b.ev.waitN(t, "messages", len(ids), isKind[MessageReceived])
	checkOnceInOrder(t, b, tr.a.id.String(), ids)
	eventually(t, "receipts deposited", func() bool { return b.mbox.receipted.Load() == int64(len(ids)) })
	closeNode(t, b)

	a = tr.a.start(t, withM)
	a.ev.waitN(t, "delivered", len(ids), isKind[Delivered])
	if n := a.ev.count(isKind[SessionUp]); n != 0 {
		t.Fatalf("a session came up (%d): the receipts were meant to come through the mailbox", n)
	}
}
