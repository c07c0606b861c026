package p2p

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/mailbox"
)

// sendN sends count numbered texts from a to p and returns their IDs.
func sendN(t *testing.T, a *testNode, p, prefix string, count int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	ids := make([]string, count)
	for i := range ids {
		id, err := a.Send(ctx, p, fmt.Sprintf("%s %d", prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// checkOnceInOrder fails unless b showed exactly the messages ids from
// p, in that order.
func checkOnceInOrder(t *testing.T, b *testNode, p string, ids []string) {
	t.Helper()
	got := received(b.ev, p)
	if len(got) != len(ids) {
		t.Fatalf("%d messages shown, want %d: %v", len(got), len(ids), got)
	}
	for i, m := range got {
		if m.ID != ids[i] {
			t.Fatalf("message #%d is %s (%q), want %s", i, m.ID, m.Text, ids[i])
		}
	}
}

func waitFetch(t *testing.T, n *testNode) {
	t.Helper()
	eventually(t, "a fetch pass", func() bool { return n.mbox.fetches.Load() > 0 })
}

// TestMailboxQuotaAndExpiry: a mailbox that takes two envelopes per
// capability and then lets them expire loses nothing: the messages it
// refused or dropped wait in the sender's outbox, the receiver shows
// nothing from the mailbox, and all of them arrive once, in order, when
// the two meet.
func TestMailboxQuotaAndExpiry(t *testing.T) {
	var skew atomic.Int64
	tr := newMailboxTrioWith(t, func(c *mailbox.ServerConfig) {
		c.PerCapabilityEnvelopes = 2
		c.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	b := tr.startB(t)
	a := tr.a.start(t, Config{})
	introduce(t, a, b)
	closeNode(t, b)
	a.ev.wait(t, "session down", isKind[SessionDown])
	ids := sendN(t, a, tr.b.id.String(), "quota", 4)
	a.ev.waitN(t, "deposited", 2, isKind[Deposited])
	eventually(t, "the full mailbox backs off", func() bool {
		a.mbox.mu.Lock()
		defer a.mbox.mu.Unlock()
		return a.mbox.peers[tr.b.id.String()].delay > 0
	})
	if n := a.ev.count(isKind[Deposited]); n != 2 {
		t.Fatalf("%d deposited past a quota of 2", n)
	}
	skew.Store(int64(31 * 24 * time.Hour)) // both envelopes expire
	closeNode(t, a)

	b = tr.startB(t)
	waitFetch(t, b)
	if got := received(b.ev, tr.a.id.String()); len(got) != 0 {
		t.Fatalf("expired envelopes shown: %v", got)
	}
	a = tr.a.start(t, Config{})
	a.connect(t, b)
	a.ev.waitN(t, "delivered", len(ids), isKind[Delivered])
	checkOnceInOrder(t, b, tr.a.id.String(), ids)
}

// TestMailboxRevokedAfterBlock: once the owner blocks a contact, its
// capability is revoked at the mailbox, and its deposits fail; the message
// stays queued in its outbox.
func TestMailboxRevokedAfterBlock(t *testing.T) {
	tr := newMailboxTrio(t)
	b := tr.startB(t)
	a := tr.a.start(t, Config{})
	introduce(t, a, b)
	if err := b.Block(tr.a.id.String()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "capability revoked", func() bool {
		b.mbox.ownerMu.Lock()
		defer b.mbox.ownerMu.Unlock()
		_, held := b.mbox.owner.caps[tr.a.id.String()]
		return !held && len(b.mbox.owner.revoke) == 0
	})
	a.ev.wait(t, "session down", isKind[SessionDown])
	sendN(t, a, tr.b.id.String(), "blocked", 1)
	eventually(t, "deposit refused", func() bool {
		a.mbox.mu.Lock()
		defer a.mbox.mu.Unlock()
		return a.mbox.peers[tr.b.id.String()].delay > 0
	})
	if n := a.ev.count(isKind[Deposited]); n != 0 {
		t.Fatalf("%d deposited under a revoked capability", n)
	}
	msgs, err := a.store.Outbox(tr.b.id.String(), 0)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("outbox holds %d messages (%v), want the refused one", len(msgs), err)
	}
}

// TestMailboxNotOwner: a node whose --mailbox does not serve it sees it in
// /mailbox, and a contact's deposit there fails without losing the
// message.
func TestMailboxNotOwner(t *testing.T) {
	tr := newMailboxTrio(t) // serves bob only
	a := tr.a.start(t, Config{Mailboxes: []multiaddr.Multiaddr{tr.mAddr}})
	b := tr.startB(t)
	introduce(t, b, a) // b learns a's (useless) mailbox
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	st := a.Mailboxes(ctx)
	if len(st) != 1 || st[0].Reachable || !strings.Contains(st[0].Err, mailbox.ErrNotOwner.Error()) {
		t.Fatalf("status %+v, want not an owner", st)
	}
	closeNode(t, a)
	b.ev.wait(t, "session down", isKind[SessionDown])
	ids := sendN(t, b, tr.a.id.String(), "to a", 2)
	eventually(t, "deposit refused", func() bool {
		b.mbox.mu.Lock()
		defer b.mbox.mu.Unlock()
		return b.mbox.peers[tr.a.id.String()].delay > 0
	})
	a = tr.a.start(t, Config{Mailboxes: []multiaddr.Multiaddr{tr.mAddr}})
	a.connect(t, b) // not b: its redial to a's old port would hold the dial up
	b.ev.waitN(t, "delivered", len(ids), isKind[Delivered])
	checkOnceInOrder(t, a, tr.b.id.String(), ids)
}

// TestMailboxLastResort: a sender with no one-time prekey left seals to the
// last-resort prekey, and the owner still reads every message once.
func TestMailboxLastResort(t *testing.T) {
	tr := newMailboxTrio(t)
	b := tr.startB(t)
	a := tr.a.start(t, Config{})
	introduce(t, a, b)
	a.mbox.mu.Lock()
	pm := a.mbox.peers[tr.b.id.String()]
	pm.used = len(pm.bundle.OneTime())
	a.mbox.mu.Unlock()
	closeNode(t, b)
	a.ev.wait(t, "session down", isKind[SessionDown])
	ids := sendN(t, a, tr.b.id.String(), "last resort", 3)
	a.ev.waitN(t, "deposited", len(ids), isKind[Deposited])
	closeNode(t, a)
	b = tr.startB(t)
	b.ev.waitN(t, "messages", len(ids), isKind[MessageReceived])
	checkOnceInOrder(t, b, tr.a.id.String(), ids)
}

// sealFor seals mail from a to owner b with a's copy of b's prekeys.
func sealFor(t *testing.T, a *testNode, b string, seq uint64, text string) ([]byte, [messageIDLen]byte, mailbox.Capability) {
	t.Helper()
	a.mbox.mu.Lock()
	pm := a.mbox.peers[b]
	prekey := pm.nextPrekey()
	a.mbox.mu.Unlock()
	var id [messageIDLen]byte
	id[0], id[1] = byte(seq), 0xee
	env, err := e2e.SealEnvelope(a.id, pm.owner, prekey, encodeMail(seq, encodeChat(id, time.Now(), text)), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return env, id, pm.cp
}

// TestMailboxHostile: what a hostile mailbox serves (envelopes reordered,
// duplicated, replayed later, sealed to another owner, or sealed by one
// contact under another's capability) makes the owner show each message
// once, in the sender's order, from the right contact, and raise an alert
// for the stolen capability.
func TestMailboxHostile(t *testing.T) {
	tr := newMailboxTrio(t)
	b := tr.startB(t)
	a := tr.a.start(t, Config{})
	introduce(t, a, b)
	c := newMboxPeer(t, "dave")
	cn := c.start(t, Config{Mailboxes: []multiaddr.Multiaddr{tr.mAddr}}) // an owner too: a holds its prekeys
	introduce(t, cn, b)
	introduce(t, a, cn)
	pa := tr.a.id.String()

	var items []mailbox.Stored
	var want []string
	for seq := uint64(1); seq <= 4; seq++ {
		env, id, cp := sealFor(t, a, b.PeerID(), seq, fmt.Sprintf("hostile %d", seq))
		items = append(items, mailbox.Stored{Key: [16]byte{byte(seq)}, Tag: cp.Tag(), Data: env})
		want = append(want, hexID(id))
	}
	// Reordered and duplicated.
	served := []mailbox.Stored{items[2], items[0], items[3], items[0], items[1], items[2]}
	// Sealed to another owner (c), under a's capability at b.
	foreign, _, _ := sealFor(t, a, cn.PeerID(), 9, "for c")
	served = append(served, mailbox.Stored{Key: [16]byte{9}, Tag: items[0].Tag, Data: foreign})
	// Sealed by c under a's capability.
	stolen, _, _ := sealFor(t, cn, b.PeerID(), 10, "from c as a")
	served = append(served, mailbox.Stored{Key: [16]byte{10}, Tag: items[0].Tag, Data: stolen})

	drop := b.takeEnvelopes(served)
	if len(drop) != len(served) {
		t.Fatalf("%d of %d envelopes to delete", len(drop), len(served))
	}
	b.ev.wait(t, "alert", isAlert(AlertMailbox))
	checkOnceInOrder(t, b, pa, want)
	if got := received(b.ev, cn.PeerID()); len(got) != 0 {
		t.Fatalf("messages shown from c: %v", got)
	}
	// Replayed in a later fetch: dropped, not shown.
	if drop := b.takeEnvelopes(items); len(drop) != len(items) {
		t.Fatalf("%d of %d replays to delete", len(drop), len(items))
	}
	checkOnceInOrder(t, b, pa, want)
}
