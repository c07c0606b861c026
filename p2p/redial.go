package p2p

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/multiformats/go-multiaddr"
)

// Redial timing. A peer with messages waiting, or one talked to recently,
// is dialled at its last known addresses (the contact's, which the peer
// announced: peeraddrs.go; then the peerstore's) at start, soon after its
// session is cut, and then with exponential backoff; any other contact
// with addresses gets one attempt at start (redialer.owed). Each failure
// doubles the delay, from redialMin up to redialMax (docs/INTERFACE.md: capped
// at 30 s), and the actual wait is drawn from [delay/2, delay] so that two
// nodes that lost each other do not dial in lock step.
const (
	redialMin = time.Second
	redialMax = 30 * time.Second
	// redialFirst bounds the jittered wait before the first attempt, at
	// start or after a cut.
	redialFirst = 250 * time.Millisecond
	// redialRecent is how long after its last session a peer without
	// waiting messages is still redialled.
	redialRecent = time.Hour
	// maxContactAddrs bounds the addresses kept per contact
	// (peeraddrs.go).
	maxContactAddrs = 16
	// maxRedialsInFlight bounds the redials running at once; the others
	// wait for a later wake-up.
	maxRedialsInFlight = 8
	// redialMinWake is the least time between two wake-ups of the
	// redialer: kicks in between (every session that ends kicks it)
	// are served together.
	redialMinWake = 100 * time.Millisecond
)

// redialer is the node's redial state: one backoff per peer. Its loop is
// one goroutine owned by the node, started by [Node.startRedial] and
// ended by Close (the node's context).
type redialer struct {
	mu       sync.Mutex
	backoff  map[peer.ID]*backoff
	inflight int           // attempts running, at most maxRedialsInFlight
	wake     chan struct{} // cap 1
	// owed are the contacts due one attempt because the node started:
	// each contact with stored addresses is tried once, however long ago
	// it was seen, so that of two contacts the one that starts last finds
	// the other (both keep their ports across restarts: ports.go).
	owed map[peer.ID]bool
}

// backoff is one peer's redial schedule.
type backoff struct {
	next     time.Time     // the next attempt is due then
	delay    time.Duration // the wait after the next failure, before jitter
	inflight bool          // an attempt is running
}

// newBackoff is the schedule of a peer not tried yet: a first attempt
// within redialFirst of now.
func newBackoff(now time.Time) *backoff {
	return &backoff{next: now.Add(jitter(redialFirst)), delay: redialMin}
}

// failed schedules the attempt after one that failed at now: after a
// jittered delay, which doubles for the next failure, up to redialMax.
func (b *backoff) failed(now time.Time) {
	b.next = now.Add(jitter(b.delay))
	b.delay = min(2*b.delay, redialMax)
}

// kick makes the loop look at its peers now.
func (r *redialer) kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// reset forgets p's backoff: the next attempt comes after redialFirst at
// most. A session coming up resets it; so should an mDNS find
// (peerFound hook).
func (r *redialer) reset(p peer.ID) {
	r.mu.Lock()
	if b := r.backoff[p]; b != nil && !b.inflight {
		delete(r.backoff, p)
	}
	delete(r.owed, p)
	r.mu.Unlock()
	r.kick()
}

func (n *Node) startRedial() {
	n.redial.backoff = make(map[peer.ID]*backoff)
	n.redial.wake = make(chan struct{}, 1)
	n.redial.owed = make(map[peer.ID]bool)
	contacts, err := n.store.Contacts()
	if err != nil {
		n.log.Error("redial: read contacts", "err", err)
	}
	for _, c := range contacts {
		if p, err := peer.Decode(c.PeerID); err == nil && !c.Blocked && len(c.Addrs) > 0 {
			n.redial.owed[p] = true
		}
	}
	n.goTracked(n.redialLoop)
}

func (n *Node) redialLoop() {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last time.Time
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-timer.C:
		case <-n.redial.wake:
			if d := redialMinWake - time.Since(last); d > 0 {
				// Too soon: the timer serves this kick.
				timer.Reset(d)
				continue
			}
		}
		last = time.Now()
		wait := n.redialDue(last)
		timer.Reset(max(wait, redialMinWake))
	}
}

// redialTarget is a peer to dial and where.
type redialTarget struct {
	id    peer.ID
	addrs []multiaddr.Multiaddr
}

// redialTargets lists the contacts that should have a session and do
// not: those with messages in the outbox, those seen within redialRecent
// and those owed their attempt at start, neither blocked nor awaiting a
// new key, with addresses to try. Strangers are never redialled
// (stranger.go); the contacts come from the cached list (contactcache.go),
// so a wake-up decrypts nothing.
func (n *Node) redialTargets(now time.Time) []redialTarget {
	waiting, err := n.outbox.Peers()
	if err != nil {
		n.log.Error("redial: read outbox", "err", err)
	}
	waiting = append(waiting, n.files.waitingPeers()...) // filestate.go
	contacts, _, err := n.contacts.snapshot()
	if err != nil {
		n.log.Error("redial: read contacts", "err", err)
	}
	var out []redialTarget
	for _, c := range contacts {
		if c.Blocked || !c.PendingFingerprint.IsZero() {
			continue
		}
		p, err := peer.Decode(c.PeerID)
		if err != nil || p == n.host.ID() {
			continue
		}
		if !slices.Contains(waiting, c.PeerID) && now.Sub(c.LastSeen) > redialRecent && !n.redial.isOwed(p) {
			continue
		}
		n.mu.Lock()
		ps := n.peers[p]
		busy := ps != nil && (ps.current != nil || ps.pending > 0 || ps.dialing != nil)
		n.mu.Unlock()
		if busy {
			continue
		}
		addrs := parseAddrs(c.Addrs)
		addrs = append(addrs, n.host.Peerstore().Addrs(p)...)
		if len(addrs) == 0 {
			continue
		}
		out = append(out, redialTarget{id: p, addrs: addrs})
	}
	return out
}

// isOwed reports whether p is owed its attempt at start.
func (r *redialer) isOwed(p peer.ID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owed[p]
}

// parseAddrs turns stored address strings into transport multiaddrs
// without the /p2p suffix, skipping any that do not parse.
func parseAddrs(ss []string) []multiaddr.Multiaddr {
	var out []multiaddr.Multiaddr
	for _, s := range ss {
		a, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if t, _ := peer.SplitAddr(a); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// redialDue starts the attempts that are due and returns how long to wait
// before the next one.
func (n *Node) redialDue(now time.Time) time.Duration {
	wait := redialMax
	r := &n.redial
	for _, t := range n.redialTargets(now) {
		r.mu.Lock()
		b := r.backoff[t.id]
		if b == nil {
			b = newBackoff(now)
			r.backoff[t.id] = b
		}
		switch {
		case b.inflight:
		case now.Before(b.next):
			wait = min(wait, b.next.Sub(now))
		case r.inflight >= maxRedialsInFlight:
			// Due, but the cap is reached: the next wake-up (an
			// attempt's end kicks) starts it.
			wait = min(wait, redialMinWake)
		default:
			b.inflight = true
			r.inflight++
			t := t
			if !n.goTracked(func() { n.redialOne(t) }) {
				b.inflight = false
				r.inflight--
			}
		}
		r.mu.Unlock()
	}
	return wait
}

// jitter returns a duration in [d/2, d].
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// redialOne makes one attempt and updates the peer's backoff.
func (n *Node) redialOne(t redialTarget) {
	// libp2p's swarm keeps its own backoff for addresses that failed;
	// ours is the one that counts, and a restarted peer is usually back
	// at the very address that failed a moment ago.
	if sw, ok := n.host.Network().(*swarm.Swarm); ok {
		sw.Backoff().Clear(t.id)
	}
	err := n.dial(n.ctx, &peer.AddrInfo{ID: t.id, Addrs: t.addrs}, "redial "+t.id.String())
	r := &n.redial
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	r.kick() // a slot is free
	b := r.backoff[t.id]
	if b == nil {
		return
	}
	b.inflight = false
	delete(r.owed, t.id)
	if err == nil {
		delete(r.backoff, t.id)
		return
	}
	n.log.Debug("redial failed", "peer_id", t.id.String(), "err", err)
	b.failed(time.Now())
	// The loop computed its wait while this attempt was in flight, without
	// it: it must look again, or the next attempt waits up to redialMax.
	r.kick()
}
