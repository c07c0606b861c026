package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multiaddr"
	"golang.org/x/crypto/cryptobyte"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/mailbox"
	"github.com/securechat/securechat/p2p/store"
)

// The sender's side of offline delivery: what a contact told us about its
// mailboxes (a MAILBOX payload), kept sealed in the store under
// "peer/<peer ID>", and the deposit of our outbox there once the contact
// has had no session for settings.depositAfter (10 s).

// maxDepositBackoff caps the wait between deposit attempts to a contact
// whose mailboxes are unreachable or full.
const maxDepositBackoff = 5 * time.Minute

// peerMailbox is a contact's mailbox as the contact described it.
type peerMailbox struct {
	addrs  []multiaddr.Multiaddr // each ending in /p2p/<mailbox id>
	cp     mailbox.Capability    // what the contact granted us there
	owner  *e2e.PublicIdentity   // the contact, as its session showed it
	bundle *e2e.PrekeyBundle
	used   int // one-time prekeys of bundle already sealed to

	// In memory only: when to try again after a failure, and the outbox
	// seq below which every message is deposited or delivered (so that
	// an idle contact costs no outbox read per tick).
	retry    time.Time
	delay    time.Duration
	scanFrom uint64
}

func peerRecordName(pid string) string { return "peer/" + pid }

// encode: u8 version 1, u8 n × vec8(binary multiaddr), capability (32),
// vec16(public identity), vec16(bundle), u8 used.
func (pm *peerMailbox) encode() []byte {
	var b cryptobyte.Builder
	b.AddUint8(1)
	b.AddUint8(uint8(len(pm.addrs)))
	for _, a := range pm.addrs {
		b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(a.Bytes()) })
	}
	b.AddBytes(pm.cp[:])
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(store.EncodePublicIdentity(pm.owner)) })
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(pm.bundle.Bytes()) })
	b.AddUint8(uint8(pm.used))
	return b.BytesOrPanic()
}

var errPeerRecord = errors.New("p2p: damaged mailbox record of a contact")

// decodePeerMailbox parses a record and checks it against the contact's
// pinned fingerprint: a record kept from under another key is refused.
func decodePeerMailbox(raw []byte, fp e2e.Fingerprint) (*peerMailbox, error) {
	s := cryptobyte.String(raw)
	var version, n uint8
	if !s.ReadUint8(&version) || version != 1 || !s.ReadUint8(&n) || n == 0 || n > maxMailboxes {
		return nil, errPeerRecord
	}
	pm := &peerMailbox{}
	for range n {
		var ab []byte
		if !s.ReadUint8LengthPrefixed((*cryptobyte.String)(&ab)) {
			return nil, errPeerRecord
		}
		a, err := multiaddr.NewMultiaddrBytes(ab)
		if err != nil {
			return nil, errPeerRecord
		}
		pm.addrs = append(pm.addrs, a)
	}
	var cp, idb, bb []byte
	var used uint8
	if !s.ReadBytes(&cp, capabilityLen) || !s.ReadUint16LengthPrefixed((*cryptobyte.String)(&idb)) ||
		!s.ReadUint16LengthPrefixed((*cryptobyte.String)(&bb)) || !s.ReadUint8(&used) || !s.Empty() {
		return nil, errPeerRecord
	}
	pm.cp = mailbox.Capability(cp)
	var err error
	if pm.owner, err = store.ParsePublicIdentity(idb); err != nil || !pm.owner.Fingerprint().Equal(fp) {
		return nil, errPeerRecord
	}
	if pm.bundle, err = e2e.ParsePrekeyBundle(bb, pm.owner); err != nil {
		return nil, errPeerRecord
	}
	pm.used = min(int(used), len(pm.bundle.OneTime()))
	return pm, nil
}

// nextPrekey is the prekey the next envelope is sealed to: a one-time one
// while any is left (then it is spent), else the last-resort one.
func (pm *peerMailbox) nextPrekey() *e2e.Prekey {
	if ot := pm.bundle.OneTime(); pm.used < len(ot) {
		pm.used++
		return ot[pm.used-1]
	}
	return pm.bundle.LastResort()
}

// failed pushes the next attempt back, doubling the wait up to
// maxDepositBackoff.
func (pm *peerMailbox) failed(now time.Time, first time.Duration) {
	pm.delay = min(max(2*pm.delay, first), maxDepositBackoff)
	pm.retry = now.Add(pm.delay)
}

// onMailboxPayload keeps what a contact said about its mailbox (MAILBOX)
// or a fresh bundle (PREKEYS). It is a contact's word about itself only:
// anything from a stranger, a blocked peer or a session under another key
// than the pinned one is ignored, and a bundle that does not verify under
// the session's identity ends nothing but is dropped.
func (n *Node) onMailboxPayload(ss *session, p payload) {
	if ss.pub == nil {
		return
	}
	if ss.stranger.Load() {
		if p.typ == payloadMailbox {
			ss.mu.Lock()
			ss.mailboxInfo = &p
			ss.mu.Unlock()
		}
		return
	}
	c, ok, err := n.store.Contact(ss.pid)
	if err != nil || !ok || c.Blocked || !c.Fingerprint.Equal(ss.fp) {
		return
	}
	bundle, err := e2e.ParsePrekeyBundle(p.bundle, ss.pub)
	if err != nil {
		n.logRemote(slog.LevelDebug, "prekey bundle refused", "peer_id", ss.pid)
		return
	}
	mb := n.mbox
	mb.mu.Lock()
	defer mb.mu.Unlock()
	old := mb.peers[ss.pid]
	pm := &peerMailbox{owner: ss.pub, bundle: bundle}
	switch {
	case p.typ == payloadMailbox:
		pm.addrs, pm.cp = p.mailboxes, mailbox.Capability(p.capability)
	case old != nil:
		pm.addrs, pm.cp = old.addrs, old.cp
	default:
		return // PREKEYS before any MAILBOX: nowhere to deposit
	}
	if err := n.store.PutMailboxRecord(peerRecordName(ss.pid), pm.encode()); err != nil {
		n.log.Error("store contact mailbox", "err", err)
		return
	}
	n.learnMailboxAddrs(pm.addrs)
	mb.peers[ss.pid] = pm
}

// learnMailboxAddrs puts mailbox addresses into the peerstore, where the
// mailbox client's dials find them.
func (n *Node) learnMailboxAddrs(addrs []multiaddr.Multiaddr) {
	for _, a := range addrs {
		if ai, err := peer.AddrInfoFromP2pAddr(a); err == nil && ai.ID != n.host.ID() {
			n.host.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		}
	}
}

// loadPeerMailboxes reads the mailbox records of the contacts, at start.
func (n *Node) loadPeerMailboxes() {
	contacts, err := n.store.Contacts()
	if err != nil && contacts == nil {
		n.log.Error("list contacts", "err", err)
		return
	}
	for _, c := range contacts {
		raw, ok, err := n.store.MailboxRecord(peerRecordName(c.PeerID))
		if err != nil || !ok {
			continue
		}
		pm, err := decodePeerMailbox(raw, c.Fingerprint)
		if err != nil {
			n.log.Debug("contact mailbox record refused", "peer_id", c.PeerID)
			continue
		}
		n.learnMailboxAddrs(pm.addrs)
		n.mbox.peers[c.PeerID] = pm
	}
}

// depositDue reports whether p has had no session for depositAfter: none
// live, and the last one (or the node's start) that long ago. A dial in
// flight does not wait: to a closed laptop it takes its whole timeout, and
// if it succeeds the session delivers too (the receiver drops the copy).
func (n *Node) depositDue(p peer.ID, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	since := n.mbox.started
	if ps := n.peers[p]; ps != nil {
		if ps.current != nil {
			return false
		}
		if ps.lastSeen.After(since) {
			since = ps.lastSeen
		}
	}
	return now.Sub(since) >= n.set.depositAfter
}

// depositAll deposits, for every contact that named a mailbox and is due,
// the outbox messages not deposited yet, then the receipts waiting for it.
func (n *Node) depositAll(ctx context.Context) {
	mb := n.mbox
	now := time.Now()
	mb.mu.Lock()
	var due []string
	for pid, pm := range mb.peers {
		if now.After(pm.retry) {
			due = append(due, pid)
		}
	}
	mb.mu.Unlock()
	for _, pid := range due {
		p, err := peer.Decode(pid)
		if err != nil || !n.depositDue(p, now) {
			continue
		}
		// The cached list (contactcache.go): this runs every mailboxTick.
		c, ok := n.contacts.contactFor(pid)
		if !ok || c.Blocked || !c.PendingFingerprint.IsZero() {
			continue
		}
		n.depositTo(ctx, pid, c.Fingerprint)
	}
}

// depositTo seals and deposits pid's pending messages and receipts. A
// failure (no mailbox reachable, a full quota, an old last-resort prekey)
// loses nothing: the messages stay in the outbox, and the next attempt
// waits a little longer.
func (n *Node) depositTo(ctx context.Context, pid string, fp e2e.Fingerprint) {
	mb := n.mbox
	mb.mu.Lock()
	receipts := mb.receipts[pid]
	pm := mb.peers[pid]
	var from uint64
	if pm != nil {
		from = pm.scanFrom
	}
	mb.mu.Unlock()
	msgs, err := n.store.Outbox(pid, from)
	if err != nil {
		n.log.Error("read outbox", "err", err)
		return
	}
	type item struct {
		id   [messageIDLen]byte
		seq  uint64
		mail []byte
	}
	var items []item
	next := from // every message below is deposited or delivered
	for _, m := range msgs {
		if m.State == store.StateQueued || m.State == store.StateSent {
			items = append(items, item{m.ID, m.Seq, encodeMail(m.Seq, encodeChat(m.ID, m.SentAt, m.Text))})
		} else if len(items) == 0 {
			next = m.Seq + 1
		}
	}
	if len(items) == 0 && len(msgs) > 0 {
		next = msgs[len(msgs)-1].Seq + 1
	}
	for _, id := range receipts {
		items = append(items, item{mail: encodeMail(0, encodeReceipt(id))})
	}
	if pm == nil || !pm.owner.Fingerprint().Equal(fp) {
		return
	}
	if len(items) == 0 {
		mb.mu.Lock()
		pm.scanFrom = max(pm.scanFrom, next)
		mb.mu.Unlock()
		return
	}
	var deposited [][messageIDLen]byte
	sentReceipts := 0
	for i, it := range items {
		mb.mu.Lock()
		prekey := pm.nextPrekey()
		mb.mu.Unlock()
		env, err := e2e.SealEnvelope(n.id, pm.owner, prekey, it.mail, time.Now())
		if err == nil {
			err = n.depositOne(ctx, pm, env)
		}
		if err != nil {
			n.log.Debug("deposit failed", "peer_id", pid, "err", err)
			mb.mu.Lock()
			pm.failed(time.Now(), n.set.depositRetry)
			mb.mu.Unlock()
			break
		}
		if i < len(items)-len(receipts) {
			deposited = append(deposited, it.id)
			next = it.seq + 1
		} else {
			sentReceipts++
		}
	}
	mb.mu.Lock()
	pm.scanFrom = max(pm.scanFrom, next)
	if len(deposited) > 0 || sentReceipts > 0 {
		pm.delay = 0
	}
	if sentReceipts > 0 {
		mb.receipted.Add(int64(sentReceipts))
		// Receipts queued meanwhile were appended after these.
		mb.receipts[pid] = mb.receipts[pid][min(sentReceipts, len(mb.receipts[pid])):]
	}
	// The prekeys used are written down (under mu, like
	// onMailboxPayload's write), unless a MAILBOX replaced the record
	// meanwhile: its fresh prekeys are all unused.
	if mb.peers[pid] == pm {
		if err := n.store.PutMailboxRecord(peerRecordName(pid), pm.encode()); err != nil {
			n.log.Error("store contact mailbox", "err", err)
		}
	}
	mb.mu.Unlock()
	if len(deposited) == 0 {
		return
	}
	changed, err := n.store.MarkDeposited(pid, deposited)
	if err != nil {
		n.log.Error("mark deposited", "err", err)
	}
	for _, id := range changed {
		n.emit(Deposited{PeerID: pid, ID: hexID(id)})
	}
}

// depositClient returns the client deposits go through: a libp2p host of
// its own, under a random key made for this run of the node, that listens
// nowhere. A deposit from the node's own host would tell the mailbox the
// depositor's peer ID, that is who writes to its owner; this one tells it
// only that someone holding a capability did.
func (n *Node) depositClient() (host.Host, *mailbox.Client, error) {
	mb := n.mbox
	mb.depMu.Lock()
	defer mb.depMu.Unlock()
	if mb.depHost != nil {
		return mb.depHost, mb.depClient, nil
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.NoListenAddrs,
		libp2p.EnableRelay(), // a mailbox may be reached through a relay
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("deposit host: %w", err)
	}
	mb.depHost, mb.depClient = h, mailbox.NewClient(h)
	return h, mb.depClient, nil
}

// depositOne hands env to the first of pm's mailboxes that takes it.
func (n *Node) depositOne(ctx context.Context, pm *peerMailbox, env []byte) error {
	dh, client, err := n.depositClient()
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range pm.addrs {
		ai, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil {
			continue
		}
		dh.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		cctx, cancel := context.WithTimeout(ctx, n.set.mailboxTimeout)
		err = client.Deposit(cctx, ai.ID, pm.cp, env)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
