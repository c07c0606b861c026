package p2p

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// Strangers (SECURITY.md, "Relays, mailboxes, invites, strangers"). A peer
// that completes a handshake is not a contact: anyone on the LAN, or anyone
// who learnt an address, can do that from ever new peer IDs. It is a
// stranger until the user writes to it ([Node.Send]), connects to it
// ([Node.Connect], [Node.ConnectInvite]) or accepts it ([Node.Verify],
// [Node.TrustNewKey]); then it is promoted to a contact in the store.
//
// Strangers live in memory only, in a table bounded in number
// ([maxStrangers]) and in the bytes of their messages ([maxStrangerBytes]
// each, [maxStrangersBytes] in all); past a bound the stranger seen least
// recently is dropped, and its live session, if any, ends. A stranger is
// never redialled and costs the redialer nothing.
//
// While it is tracked, a stranger's fingerprint is pinned as a contact's
// is: a session under another key is refused with a key_changed alert,
// and the new key waits for [Node.TrustNewKey] (which promotes it). Once it
// is dropped (or the node restarts) its pin is forgotten: its next session
// is a first contact again, trust on first use, as for any new peer. The
// user never wrote to it, connected to it or accepted it, so no
// conversation is silently carried over to a new key; the history shown
// for it starts afresh.
//
// A stranger's messages are shown (MessageReceived with Stranger set) and
// receipted like a contact's; they are kept in its table entry, not in the
// store, and go into the store's history when it is promoted. A receipt
// from a stranger's node therefore means "shown and held in memory", not
// "on disk". A message resent after the stranger was dropped is shown
// again (the dedupe set went with it).
const (
	// maxStrangers bounds the strangers tracked at once.
	maxStrangers = 256
	// maxStrangerBytes bounds the message texts kept for one stranger;
	// its oldest messages go first, its newest is always kept.
	maxStrangerBytes = 64 << 10
	// maxStrangersBytes bounds the texts kept over all strangers.
	maxStrangersBytes = 4 << 20
)

// strangerEntry is what the node keeps of one stranger.
type strangerEntry struct {
	fp        e2e.Fingerprint
	pending   e2e.Fingerprint // another key seen, awaiting TrustNewKey
	identity  []byte          // store.EncodePublicIdentity of the pinned key
	name      string
	addrs     []string
	firstSeen time.Time
	lastSeen  time.Time
	msgs      []store.Message
	bytes     int
}

// strangerTable holds the tracked strangers. Its mutex is a leaf: nothing
// else is locked while it is held.
type strangerTable struct {
	mu    sync.Mutex
	m     map[peer.ID]*strangerEntry
	bytes int
	// wanted counts the user's dials in progress (Connect) per peer: a
	// session with such a peer makes it a contact at once.
	wanted map[peer.ID]int
}

func newStrangerTable() *strangerTable {
	return &strangerTable{m: make(map[peer.ID]*strangerEntry), wanted: make(map[peer.ID]int)}
}

// want marks p as a peer the user is connecting to, until the returned
// function is called.
func (t *strangerTable) want(p peer.ID) (done func()) {
	t.mu.Lock()
	t.wanted[p]++
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		if t.wanted[p]--; t.wanted[p] <= 0 {
			delete(t.wanted, p)
		}
		t.mu.Unlock()
	}
}

// isWanted reports whether the user is connecting to p.
func (t *strangerTable) isWanted(p peer.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.wanted[p] > 0
}

// admit is checkContact's part for a peer that is no contact: a peer seen
// for the first time is tracked under fp; a tracked one must present its
// pinned fp, else its new key is kept as pending and errKeyChanged is
// returned with the alert text. evicted lists the strangers dropped to
// make room.
func (t *strangerTable) admit(p peer.ID, fp e2e.Fingerprint, addrs []string, now time.Time) (alert string, evicted []peer.ID, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.m[p]; s != nil {
		if !s.fp.Equal(fp) {
			s.pending = fp
			return fmt.Sprintf("peer %s presented identity %s, but %s is pinned; sending is blocked until the new key is accepted",
				p, fp, s.fp), nil, errKeyChanged
		}
		s.lastSeen = now
		if len(addrs) > 0 {
			s.addrs = addrs
		}
		return "", nil, nil
	}
	for len(t.m) >= maxStrangers {
		evicted = append(evicted, t.evictOldest(""))
	}
	t.m[p] = &strangerEntry{fp: fp, addrs: addrs, firstSeen: now, lastSeen: now}
	return "", evicted, nil
}

// evictOldest drops the stranger seen least recently, other than keep, and
// returns its peer ID. The caller holds t.mu.
func (t *strangerTable) evictOldest(keep peer.ID) peer.ID {
	var oldest peer.ID
	var at time.Time
	for id, s := range t.m {
		if id != keep && (oldest == "" || s.lastSeen.Before(at)) {
			oldest, at = id, s.lastSeen
		}
	}
	if s := t.m[oldest]; s != nil {
		t.bytes -= s.bytes
		delete(t.m, oldest)
	}
	return oldest
}

// has reports whether p is a tracked stranger.
func (t *strangerTable) has(p peer.ID) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[p] != nil
}

// get returns a copy of p's entry (its message list shared, read only).
func (t *strangerTable) get(p peer.ID) (strangerEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[p]
	if s == nil {
		return strangerEntry{}, false
	}
	return *s, true
}

// noteAddrs keeps addrs (already merged and capped, mergeAddrs) as the
// addresses of fp's session with p, so that they go into its contact
// record if the user makes it one. It does nothing if p is not tracked
// under fp.
func (t *strangerTable) noteAddrs(p peer.ID, fp e2e.Fingerprint, addrs func(old []string) []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.m[p]; s != nil && s.fp.Equal(fp) {
		s.addrs = addrs(s.addrs)
	}
}

// take removes p's entry and returns it (for promotion or a block).
func (t *strangerTable) take(p peer.ID) (*strangerEntry, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[p]
	if s == nil {
		return nil, false
	}
	t.bytes -= s.bytes
	delete(t.m, p)
	return s, true
}

// noteHello records the name and identity of fp's session with p, and
// reports whether the name changed. It does nothing if p is not tracked
// under fp.
func (t *strangerTable) noteHello(p peer.ID, fp e2e.Fingerprint, name string, pub *e2e.PublicIdentity) (renamed, tracked bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[p]
	if s == nil || !s.fp.Equal(fp) {
		return false, false
	}
	if pub != nil && pub.Fingerprint().Equal(s.fp) && s.identity == nil {
		s.identity = store.EncodePublicIdentity(pub)
	}
	renamed = s.name != name
	s.name = name
	return renamed, true
}

// receive keeps m for p if p is tracked under fp: it reports whether m is
// new (not a resend of a message kept) and whether p is tracked at all.
// evicted lists the strangers dropped to stay within the byte bounds.
func (t *strangerTable) receive(p peer.ID, fp e2e.Fingerprint, m store.Message, now time.Time) (fresh, tracked bool, evicted []peer.ID) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.m[p]
	if s == nil || !s.fp.Equal(fp) {
		return false, false, nil
	}
	for _, old := range s.msgs {
		if old.ID == m.ID {
			return false, true, nil
		}
	}
	m.State = store.StateDelivered
	s.msgs = append(s.msgs, m)
	s.bytes += len(m.Text)
	t.bytes += len(m.Text)
	s.lastSeen = now
	for s.bytes > maxStrangerBytes && len(s.msgs) > 1 {
		s.bytes -= len(s.msgs[0].Text)
		t.bytes -= len(s.msgs[0].Text)
		s.msgs = s.msgs[1:]
	}
	for t.bytes > maxStrangersBytes && len(t.m) > 1 {
		evicted = append(evicted, t.evictOldest(p))
	}
	return true, true, evicted
}

// list returns the tracked strangers as [PeerInfo]s, sorted by peer ID,
// all offline (the caller fills in the session state).
func (t *strangerTable) list() []PeerInfo {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]PeerInfo, 0, len(t.m))
	for id, s := range t.m {
		out = append(out, PeerInfo{PeerID: id.String(), Fingerprint: s.fp, Name: s.name, State: PeerOffline,
			Conn: "none", Trust: TrustNew, KeyChanged: !s.pending.IsZero(), PendingFingerprint: s.pending, Stranger: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PeerID < out[j].PeerID })
	return out
}

// dropStrangers ends the live sessions of strangers that the table
// dropped.
func (n *Node) dropStrangers(evicted []peer.ID) {
	if len(evicted) == 0 {
		return
	}
	n.mu.Lock()
	for _, p := range evicted {
		if ps := n.peers[p]; ps != nil && ps.current != nil {
			_ = ps.current.st.Reset()
		}
	}
	n.mu.Unlock()
	n.log.Debug("strangers dropped", "count", len(evicted))
}

// promote makes p a contact if it is a tracked stranger: its pin, name,
// identity and addresses go into the store, then its messages into the
// history. A peer that is already a contact, or unknown, is left as it is.
// The caller holds n.trustMu.
func (n *Node) promoteLocked(p peer.ID) error {
	s, ok := n.strangers.get(p)
	if !ok {
		return nil
	}
	if _, known, err := n.store.Contact(p.String()); err != nil || known {
		n.strangers.take(p)
		return err
	}
	c := store.Contact{PeerID: p.String(), Fingerprint: s.fp, Identity: s.identity, Name: s.name, Trust: TrustNew,
		Addrs: s.addrs, PendingFingerprint: s.pending, FirstSeen: s.firstSeen, LastSeen: s.lastSeen}
	if err := n.store.PutContact(c); err != nil {
		return fmt.Errorf("store contact: %w", err)
	}
	// From here on the peer's messages go to the store (onChat); those
	// kept so far follow them.
	taken, ok := n.strangers.take(p)
	if !ok {
		return nil
	}
	for _, m := range taken.msgs {
		if _, _, err := n.store.Receive(m); err != nil {
			return fmt.Errorf("store a stranger's messages: %w", err)
		}
	}
	var promoted *session
	n.mu.Lock()
	var cur *session
	if ps := n.peers[p]; ps != nil && ps.current != nil {
		cur = ps.current
		cur.stranger.Store(false)
		if ps.up {
			promoted = cur
		}
	}
	n.mu.Unlock()
	if cur != nil {
		// A contact now: it gets its resumption ticket (resume.go).
		n.goTracked(func() { n.issueTicket(cur) })
	}
	if promoted != nil {
		n.mailboxPromoted(promoted) // mailbox.go
	}
	return nil
}

// promote is promoteLocked for a caller that does not hold n.trustMu.
func (n *Node) promote(p peer.ID) error {
	n.trustMu.Lock()
	defer n.trustMu.Unlock()
	return n.promoteLocked(p)
}
