package p2p

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/mailbox"
	"github.com/securechat/securechat/p2p/store"
)

// The owner's side of offline delivery (Config.Mailboxes): it grants each
// contact a capability on its mailboxes, tells the contact in every
// session (MAILBOX: the mailboxes, the capability, fresh prekeys), and
// fetches, opens, stores and only then deletes what they hold.

// fetchBatch is how many envelopes one fetch asks for; maxFetchRounds
// bounds the fetches one pass makes (the rest waits for the next pass).
const (
	fetchBatch     = 64
	maxFetchRounds = 16
)

// loadOwner reads (or starts) the owner's state and rotates its
// last-resort prekey when due.
func (n *Node) loadOwner() error {
	raw, ok, err := n.store.MailboxRecord(ownerRecord)
	if err != nil {
		return err
	}
	o := &ownerState{caps: map[string][capabilityLen]byte{}}
	if ok {
		if o, err = decodeOwner(raw, n.id); err != nil {
			return err
		}
	}
	n.mbox.owner = o
	changed, err := o.rotate(n.id, time.Now())
	if err != nil || !changed {
		return err
	}
	return n.store.PutMailboxRecord(ownerRecord, o.encode())
}

// saveOwner writes the owner's state; the caller holds ownerMu.
func (n *Node) saveOwner() error {
	return n.store.PutMailboxRecord(ownerRecord, n.mbox.owner.encode())
}

// sendMailboxInfo tells a contact whose session just came up where and how
// to deposit for us: a MAILBOX payload with a fresh batch of one-time
// prekeys. The prekeys are stored before the payload leaves; the
// capability is granted right after.
func (n *Node) sendMailboxInfo(ss *session) {
	mb := n.mbox
	if ss.stranger.Load() {
		return
	}
	c, ok, err := n.store.Contact(ss.pid)
	if err != nil || !ok || c.Blocked || !c.Fingerprint.Equal(ss.fp) {
		return
	}
	mb.ownerMu.Lock()
	if _, err := mb.owner.rotate(n.id, time.Now()); err != nil {
		mb.ownerMu.Unlock()
		n.log.Error("last-resort prekey", "err", err)
		return
	}
	cp, _ := mb.owner.capability(ss.pid)
	bundle, err := mb.owner.issue(n.id, ss.pid, time.Now())
	if err == nil {
		err = n.saveOwner()
	}
	mb.ownerMu.Unlock()
	if err != nil {
		n.log.Error("prekeys", "err", err)
		return
	}
	b := recordBatch{ss: ss}
	err = b.add(func() ([]byte, error) { return ss.sec.Seal(encodeMailbox(mb.ownAddrs, cp, bundle.Bytes())) })
	if werr := b.write(); err == nil {
		err = werr
	}
	if err != nil {
		n.log.Debug("send mailbox info", "peer_id", ss.pid, "err", err)
		_ = ss.st.Reset()
	}
	// Granted after the payload left, so that a session that ends soon
	// still carried it; a deposit before the grant is refused and tried
	// again.
	n.grant(n.ctx, mailbox.Capability(cp))
}

// grant grants cp on every own mailbox that does not have it yet; the ones
// that fail are tried again by the next fetch pass.
func (n *Node) grant(ctx context.Context, cp mailbox.Capability) {
	mb := n.mbox
	for _, m := range mb.own {
		key := grantKey{m.ID, cp.Tag()}
		mb.mu.Lock()
		done := mb.granted[key]
		mb.mu.Unlock()
		if done {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, n.set.mailboxTimeout)
		err := mb.client.Grant(cctx, m.ID, cp)
		cancel()
		mb.mu.Lock()
		mb.granted[key] = err == nil
		mb.mu.Unlock()
		if err != nil {
			n.log.Debug("mailbox grant failed", "mailbox", m.ID.String(), "err", err)
		}
	}
}

// maintain grants every contact's capability and revokes the dropped ones
// on every own mailbox.
func (n *Node) maintain(ctx context.Context) {
	mb := n.mbox
	mb.ownerMu.Lock()
	caps := make([]mailbox.Capability, 0, len(mb.owner.caps))
	for _, c := range mb.owner.caps {
		caps = append(caps, mailbox.Capability(c))
	}
	revoke := slices.Clone(mb.owner.revoke)
	mb.ownerMu.Unlock()
	for _, cp := range caps {
		n.grant(ctx, cp)
	}
	var done [][capabilityLen]byte
	for _, c := range revoke {
		ok := true
		for _, m := range mb.own {
			cctx, cancel := context.WithTimeout(ctx, n.set.mailboxTimeout)
			err := mb.client.Revoke(cctx, m.ID, mailbox.Capability(c))
			cancel()
			if err != nil && !errors.Is(err, mailbox.ErrCapability) {
				ok = false
			}
		}
		if ok {
			done = append(done, c)
		}
	}
	if len(done) == 0 {
		return
	}
	mb.ownerMu.Lock()
	mb.owner.revoke = slices.DeleteFunc(mb.owner.revoke, func(c [capabilityLen]byte) bool { return slices.Contains(done, c) })
	if err := n.saveOwner(); err != nil {
		n.log.Error("store mailbox owner", "err", err)
	}
	mb.ownerMu.Unlock()
}

// fetchAll fetches from every own mailbox.
func (n *Node) fetchAll(ctx context.Context) {
	for _, m := range n.mbox.own {
		n.fetchFrom(ctx, m.ID)
	}
}

// fetchFrom drains what mailbox m holds for us, a batch at a time.
func (n *Node) fetchFrom(ctx context.Context, m peer.ID) {
	for range maxFetchRounds {
		cctx, cancel := context.WithTimeout(ctx, n.set.mailboxTimeout)
		items, err := n.mbox.client.Fetch(cctx, m, fetchBatch)
		cancel()
		if err != nil {
			n.log.Debug("mailbox fetch failed", "mailbox", m.String(), "err", err)
			return
		}
		if len(items) == 0 {
			return
		}
		keys := n.takeEnvelopes(items)
		if len(keys) > 0 {
			cctx, cancel := context.WithTimeout(ctx, n.set.mailboxTimeout)
			err = n.mbox.client.Delete(cctx, m, keys...)
			cancel()
			if err != nil {
				n.log.Debug("mailbox delete failed", "mailbox", m.String(), "err", err)
				return
			}
		}
		if len(keys) < len(items) {
			return // some stay for the next pass
		}
	}
}

// mail is an opened envelope's content and where it came from.
type mail struct {
	pid string
	seq uint64
	p   payload
	key [16]byte // the mailbox's name for the envelope
	eid e2e.EnvelopeID
	kid e2e.PrekeyID
}

// takeEnvelopes opens what a fetch brought, shows the messages in each
// sender's order and stores them, and returns the mailbox keys that can go:
// every envelope that is stored, a duplicate, or can never open. A message
// the store failed to take stays in the mailbox for the next fetch.
func (n *Node) takeEnvelopes(items []mailbox.Stored) [][16]byte {
	mb := n.mbox
	mb.ownerMu.Lock()
	defer mb.ownerMu.Unlock()
	o := mb.owner
	tags := make(map[mailbox.Tag]string, len(o.caps))
	for pid, c := range o.caps {
		tags[mailbox.Capability(c).Tag()] = pid
	}
	var drop [][16]byte
	var got []mail
	for _, it := range items {
		pid, ok := tags[it.Tag]
		eid, kid, err := e2e.EnvelopeHeader(it.Data)
		if !ok || err != nil || o.wasOpened(eid) {
			drop = append(drop, it.Key) // revoked, foreign or replayed
			continue
		}
		key, _ := o.lookup(kid)
		var op *e2e.OpenedEnvelope
		if key != nil {
			op, err = e2e.OpenEnvelope(n.id, func(id e2e.PrekeyID) *e2e.PrivatePrekey {
				if id == kid {
					return key
				}
				return nil
			}, it.Data)
		}
		if key == nil || err != nil {
			drop = append(drop, it.Key) // not ours, or its prekey is gone: the outbox heals
			continue
		}
		c, ok, err := n.store.Contact(pid)
		if err != nil {
			continue // kept for the next fetch
		}
		if !ok || c.Blocked || !op.Sender.Fingerprint().Equal(c.Fingerprint) {
			o.opened(eid, kid)
			drop = append(drop, it.Key)
			n.alert(AlertMailbox, mustDecode(pid), "an envelope in the mailbox was not sealed by the contact its capability was given to; dropped")
			continue
		}
		seq, p, ok := parseMail(op.Plaintext)
		if !ok {
			o.opened(eid, kid)
			drop = append(drop, it.Key)
			n.logRemote(slog.LevelDebug, "malformed mail", "peer_id", pid)
			continue
		}
		got = append(got, mail{pid: pid, seq: seq, p: p, key: it.Key, eid: eid, kid: kid})
	}
	// Each sender's messages in its outbox order (the mailbox may
	// reorder); receipts (seq 0) first.
	slices.SortStableFunc(got, func(a, b mail) int {
		return cmp.Or(cmp.Compare(a.pid, b.pid), cmp.Compare(a.seq, b.seq))
	})
	for _, m := range got {
		if m.p.typ == payloadReceipt {
			n.receiptFromMailbox(m.pid, m.p.id)
		} else if !n.receiveFromMailbox(m) {
			continue // not stored: stays in the mailbox, its prekey too
		}
		o.opened(m.eid, m.kid)
		drop = append(drop, m.key)
	}
	// The prekeys go before the envelopes: an envelope whose deletion
	// fails is fetched again, finds no key, and is dropped then.
	if err := n.saveOwner(); err != nil {
		n.log.Error("store mailbox owner", "err", err)
		return nil
	}
	return drop
}

// receiveFromMailbox stores and shows one message from a contact's
// envelope, once (the dedupe set of the store), and queues its receipt.
func (n *Node) receiveFromMailbox(m mail) bool {
	p, err := peer.Decode(m.pid)
	if err != nil {
		return false
	}
	mu := n.recvLock(p)
	mu.Lock()
	text := SanitizeText(m.p.text)
	sm, fresh, err := n.store.Receive(store.Message{PeerID: m.pid, ID: m.p.id, Text: text, SentAt: m.p.sentAt})
	mu.Unlock()
	if err != nil {
		n.log.Error("store received message", "err", err)
		return false
	}
	if fresh {
		n.emit(MessageReceived{PeerID: m.pid, ID: hexID(sm.ID), Text: text, SentAt: m.p.sentAt})
	}
	n.queueReceipt(p, m.p.id)
	return true
}

// receiptFromMailbox is a receipt that came through our own mailbox.
func (n *Node) receiptFromMailbox(pid string, id [messageIDLen]byte) {
	removed, err := n.outq.remove(pid, id)
	if err != nil {
		n.log.Error("outbox", "err", err)
		return
	}
	if removed {
		n.emit(Delivered{PeerID: pid, ID: hexID(id)})
	}
}

// queueReceipt sends the receipt for a message that came through the
// mailbox: on the live session if there is one, else with the next
// session or through the sender's own mailbox, whichever comes first.
// Receipts waiting are kept in memory only: the sender's outbox sends the
// message again on the next session, which answers it anew.
func (n *Node) queueReceipt(p peer.ID, id [messageIDLen]byte) {
	n.mu.Lock()
	var ss *session
	if ps := n.peers[p]; ps != nil && ps.up {
		ss = ps.current
	}
	n.mu.Unlock()
	if ss != nil {
		ss.mu.Lock()
		if len(ss.receipts) < maxQueuedReceipts {
			ss.receipts = append(ss.receipts, id)
		}
		ss.mu.Unlock()
		ss.kick()
		return
	}
	mb := n.mbox
	mb.mu.Lock()
	if r := mb.receipts[p.String()]; len(r) < maxQueuedReceipts {
		mb.receipts[p.String()] = append(r, id)
	}
	mb.mu.Unlock()
}

// mustDecode is peer.Decode for IDs the node wrote itself.
func mustDecode(pid string) peer.ID {
	p, _ := peer.Decode(pid)
	return p
}
