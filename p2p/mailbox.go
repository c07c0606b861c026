package p2p

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/mailbox"
)

// Offline delivery (issue 14): a node may serve a mailbox for others
// (Config.ServeMailbox), own mailboxes (Config.Mailboxes: mailbox_owner.go)
// and deposit for its contacts in theirs (mailbox_sender.go). This file
// holds the shared state, the background loop and the status.

// mailboxState is a node's offline-delivery state.
type mailboxState struct {
	client *mailbox.Client // the node's own host: owner requests
	// depHost and depClient carry deposits under a throwaway peer ID
	// (depositClient), made at the first deposit.
	depMu     sync.Mutex
	depHost   host.Host
	depClient *mailbox.Client
	server    *mailbox.Server // nil unless serving
	own       []peer.AddrInfo // Config.Mailboxes
	ownAddrs  []multiaddr.Multiaddr
	started   time.Time
	fetchNow  chan struct{} // cap 1: a watch saw a new envelope
	fetches   atomic.Int64  // fetch passes done (tests wait for one)
	receipted atomic.Int64  // receipt envelopes deposited

	// ownerMu guards owner and its writes to the store (so that no older
	// copy overwrites a newer one); taken before mu when both are held.
	ownerMu sync.Mutex
	owner   *ownerState // nil without Config.Mailboxes

	mu       sync.Mutex
	peers    map[string]*peerMailbox         // contacts' mailboxes (sender side)
	receipts map[string][][messageIDLen]byte // for messages fetched, not yet sent
	granted  map[grantKey]bool
}

// grantKey names one capability at one mailbox.
type grantKey struct {
	mbox peer.ID
	tag  mailbox.Tag
}

// checkMailboxConfig refuses mailbox settings that cannot work.
func checkMailboxConfig(cfg Config) error {
	if len(cfg.Mailboxes) > maxMailboxes {
		return fmt.Errorf("p2p: at most %d mailboxes", maxMailboxes)
	}
	for _, a := range cfg.Mailboxes {
		if _, err := peer.AddrInfoFromP2pAddr(a); err != nil {
			return fmt.Errorf("p2p: mailbox address %s: %w", a, err)
		}
	}
	if cfg.ServeMailbox && (cfg.Ephemeral || cfg.Home == "") {
		return errors.New("p2p: serving a mailbox needs a home directory")
	}
	if cfg.ServeMailbox && len(cfg.MailboxOwners) == 0 {
		return errors.New("p2p: serving a mailbox needs at least one owner")
	}
	return nil
}

// startMailbox sets up offline delivery once the host runs: the server when
// serving, the owner's state, the contacts' mailboxes, and the loop.
func (n *Node) startMailbox(cfg Config) error {
	mb := &mailboxState{
		client:   mailbox.NewClient(n.host),
		started:  time.Now(),
		fetchNow: make(chan struct{}, 1),
		peers:    map[string]*peerMailbox{},
		receipts: map[string][][messageIDLen]byte{},
		granted:  map[grantKey]bool{},
	}
	n.mbox = mb
	for _, a := range cfg.Mailboxes {
		ai, _ := peer.AddrInfoFromP2pAddr(a) // checkMailboxConfig passed
		mb.own = append(mb.own, *ai)
		mb.ownAddrs = append(mb.ownAddrs, a)
	}
	n.learnMailboxAddrs(mb.ownAddrs)
	if len(mb.own) > 0 {
		if err := n.loadOwner(); err != nil {
			return fmt.Errorf("mailbox prekeys: %w", err)
		}
	}
	n.loadPeerMailboxes()
	if cfg.ServeMailbox {
		dir := filepath.Join(cfg.Home, "mailbox")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		sc := mailbox.ServerConfig{Dir: dir, Owners: cfg.MailboxOwners, Logger: n.log}
		if n.set.mailboxServer != nil {
			n.set.mailboxServer(&sc)
		}
		s, err := mailbox.NewServer(n.host, sc)
		if err != nil {
			return err
		}
		mb.server = s
	}
	n.goTracked(n.mailboxLoop)
	for _, m := range mb.own {
		n.goTracked(func() { n.watchMailbox(m.ID) })
	}
	return nil
}

// stopMailbox closes the server; the node's context ends the rest.
func (n *Node) stopMailbox() {
	if n.mbox == nil {
		return
	}
	if n.mbox.server != nil {
		_ = n.mbox.server.Close()
	}
	n.mbox.depMu.Lock()
	if n.mbox.depHost != nil {
		_ = n.mbox.depHost.Close()
	}
	n.mbox.depMu.Unlock()
}

// mailboxLoop runs, until the node closes, the owner's fetch and grants
// (at start, every fetchInterval and when a watch rings) and the sender's
// deposits (checked every mailboxTick).
func (n *Node) mailboxLoop() {
	mb := n.mbox
	tick := time.NewTicker(n.set.mailboxTick)
	defer tick.Stop()
	fetch := len(mb.own) > 0
	var lastFetch time.Time
	for {
		if fetch {
			n.maintain(n.ctx)
			n.fetchAll(n.ctx)
			lastFetch = time.Now()
			mb.fetches.Add(1)
		}
		n.depositAll(n.ctx)
		select {
		case <-tick.C:
			fetch = len(mb.own) > 0 && time.Since(lastFetch) >= n.set.fetchInterval
		case <-mb.fetchNow:
			fetch = true
		case <-n.ctx.Done():
			return
		}
	}
}

// watchMailbox keeps a watch on own mailbox m, so that a deposit is
// fetched at once; while m is unreachable it tries again after
// fetchInterval.
func (n *Node) watchMailbox(m peer.ID) {
	mb := n.mbox
	for n.ctx.Err() == nil {
		ch, err := mb.client.Watch(n.ctx, m)
		if err == nil {
			for range ch {
				select {
				case mb.fetchNow <- struct{}{}:
				default:
				}
			}
		}
		select {
		case <-time.After(n.set.fetchInterval):
		case <-n.ctx.Done():
		}
	}
}

// mailboxSessionUp is called when a session with a contact comes up: the
// receipts of messages fetched meanwhile go out on it, and an owner tells
// the contact about its mailboxes.
func (n *Node) mailboxSessionUp(ss *session) {
	mb := n.mbox
	if mb == nil {
		return
	}
	mb.mu.Lock()
	receipts := mb.receipts[ss.pid]
	delete(mb.receipts, ss.pid)
	if pm := mb.peers[ss.pid]; pm != nil {
		pm.delay, pm.retry = 0, time.Time{}
	}
	mb.mu.Unlock()
	if len(receipts) > 0 {
		ss.mu.Lock()
		ss.receipts = append(ss.receipts, receipts...)
		ss.mu.Unlock()
		ss.kick()
	}
	if len(mb.own) > 0 {
		n.goTracked(func() { n.sendMailboxInfo(ss) })
	}
}

// mailboxPromoted is called when the user makes the peer of a live session
// a contact: it gets our mailbox info, and the info it sent while a
// stranger is kept.
func (n *Node) mailboxPromoted(ss *session) {
	n.mailboxSessionUp(ss)
	ss.mu.Lock()
	p := ss.mailboxInfo
	ss.mailboxInfo = nil
	ss.mu.Unlock()
	if p != nil {
		n.goTracked(func() { n.onMailboxPayload(ss, *p) })
	}
}

// mailboxDrop forgets a contact on block or forget: its capability is
// revoked on our mailboxes (now, or by the loop if a mailbox is away),
// its prekeys deleted, and what it told us about its own mailbox dropped.
func (n *Node) mailboxDrop(pid string) {
	mb := n.mbox
	if mb == nil {
		return
	}
	if mb.owner != nil {
		mb.ownerMu.Lock()
		if mb.owner.drop(pid) {
			if err := n.saveOwner(); err != nil {
				n.log.Error("store mailbox owner", "err", err)
			}
		}
		mb.ownerMu.Unlock()
		select {
		case mb.fetchNow <- struct{}{}: // the loop revokes
		default:
		}
	}
	mb.mu.Lock()
	delete(mb.peers, pid)
	delete(mb.receipts, pid)
	mb.mu.Unlock()
	if err := n.store.DeleteMailboxRecord(peerRecordName(pid)); err != nil {
		n.log.Error("delete contact mailbox", "err", err)
	}
}

// MailboxStatus is one of the node's own mailboxes, as [Node.Mailboxes]
// found it.
type MailboxStatus struct {
	// Addr is the mailbox's address, as configured.
	Addr string
	// Reachable is whether the mailbox answered; Err says why not.
	Reachable bool
	Err       string
	// Waiting and Bytes are the envelopes it holds for this node.
	Waiting int
	Bytes   int64
	// QuotaBytes and FreeBytes are the mailbox's total quota, shared by
	// its owners, and what is left of it.
	QuotaBytes int64
	FreeBytes  int64
}

// Mailboxes asks each of the node's own mailboxes (Config.Mailboxes) for
// its status, in the configured order.
func (n *Node) Mailboxes(ctx context.Context) []MailboxStatus {
	if err := n.enter(); err != nil {
		return nil
	}
	defer n.wg.Done()
	out := make([]MailboxStatus, 0, len(n.mbox.own))
	for i, m := range n.mbox.own {
		cctx, cancel := context.WithTimeout(ctx, n.set.mailboxTimeout)
		st, err := n.mbox.client.Status(cctx, m.ID)
		cancel()
		ms := MailboxStatus{Addr: n.mbox.ownAddrs[i].String(), Reachable: err == nil}
		if err != nil {
			ms.Err = err.Error()
		} else {
			ms.Waiting, ms.Bytes, ms.QuotaBytes, ms.FreeBytes = st.Waiting, st.Bytes, st.QuotaBytes, st.FreeBytes
		}
		out = append(out, ms)
	}
	return out
}
