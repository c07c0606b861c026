package p2p

import (
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// A bucket is a token bucket: rate tokens a second, up to burst.
type bucket struct {
	tokens float64
	last   time.Time
}

// take refills b for the time since its last use and takes one token if
// there is one.
func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	b.fill(now, rate, burst)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *bucket) fill(now time.Time, rate float64, burst int) {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(float64(burst), b.tokens+d.Seconds()*rate)
	}
	b.last = now
}

// full reports whether b would be full at now (so it can be forgotten).
func (b *bucket) full(now time.Time, rate float64, burst int) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rate >= float64(burst)
}

// admission decides, before anything is read from an incoming chat stream,
// whether a responder handshake may start: the peer's and the node's
// handshakes in flight must be under their caps, and both token buckets
// must have a token. A refused stream is reset at once, so a flood of
// handshakes costs a stream open each and no RSA work.
//
// Contacts have slots of their own: once the shared ones are taken (or the
// global bucket is empty), a contact may still start a handshake in a
// reserved pool of maxContactHandshakes, without a global token (the
// per-peer limits still hold). Its peer ID is authenticated by the
// transport before the stream exists, so silent streams or a flood from
// throwaway peer IDs cannot lock contacts out.
type admission struct {
	mu       sync.Mutex
	inFlight int
	// contactInFlight counts the handshakes in the contacts' pool, and
	// contactHeld those of each peer.
	contactInFlight int
	contactHeld     map[peer.ID]int
	perPeer         map[peer.ID]int
	global          bucket
	peers           map[peer.ID]*bucket
	now             func() time.Time
	refused         uint64 // streams refused, for tests
}

func newAdmission() *admission {
	return &admission{perPeer: make(map[peer.ID]int), contactHeld: make(map[peer.ID]int),
		peers: make(map[peer.ID]*bucket), now: time.Now}
}

// acquire reports whether p may start a responder handshake now; if so,
// the caller must call release(p) when the handshake ends. contact, which
// reports whether p is a contact, is asked only when a global limit would
// refuse. reason says why a stream was refused.
func (a *admission) acquire(p peer.ID, contact func() bool) (ok bool, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if a.perPeer[p] >= maxHandshakesPerPeer {
		return a.refuse("peer handshakes in flight")
	}
	pb := a.peers[p]
	if pb == nil {
		a.prune(now)
		pb = &bucket{}
		a.peers[p] = pb
	}
	pb.fill(now, peerHandshakeRate, peerHandshakeBurst)
	if pb.tokens < 1 {
		return a.refuse("peer handshake rate")
	}
	if a.inFlight >= maxHandshakesInFlight || !a.global.take(now, handshakeRate, handshakeBurst) {
		// The contact lookup happens only under pressure.
		a.mu.Unlock()
		isContact := contact()
		a.mu.Lock()
		if !isContact || a.contactInFlight >= maxContactHandshakes {
			return a.refuse("node handshake limit")
		}
		pb.tokens--
		a.contactInFlight++
		a.contactHeld[p]++
		a.perPeer[p]++
		return true, ""
	}
	pb.tokens--
	a.inFlight++
	a.perPeer[p]++
	return true, ""
}

func (a *admission) refuse(reason string) (bool, string) {
	a.refused++
	return false, reason
}

// prune drops the buckets of peers with no handshake in flight once the
// map is at its cap: first the full ones, then, if an attacker cycles
// through peer IDs faster than buckets refill, all of them (the global
// bucket still holds).
func (a *admission) prune(now time.Time) {
	if len(a.peers) < maxTrackedPeers {
		return
	}
	for id, b := range a.peers {
		if a.perPeer[id] == 0 && b.full(now, peerHandshakeRate, peerHandshakeBurst) {
			delete(a.peers, id)
		}
	}
	if len(a.peers) >= maxTrackedPeers {
		for id := range a.peers {
			if a.perPeer[id] == 0 {
				delete(a.peers, id)
			}
		}
	}
}

// release ends a handshake that acquire let start.
func (a *admission) release(p peer.ID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.contactHeld[p] > 0:
		a.contactInFlight--
		if a.contactHeld[p]--; a.contactHeld[p] == 0 {
			delete(a.contactHeld, p)
		}
	case a.inFlight > 0:
		a.inFlight--
	}
	if a.perPeer[p] <= 1 {
		delete(a.perPeer, p)
	} else {
		a.perPeer[p]--
	}
}

// allowHandshake is the node's gate in front of every incoming chat stream:
// blocked peers (which the connection gater normally stops earlier) and
// handshakes over the limits are refused with a reset and a rate-limited
// debug line, and never an alert: nothing was authenticated.
func (n *Node) allowHandshake(p peer.ID) bool {
	if n.gater != nil && n.gater.isBlocked(p) {
		n.logRemote(slog.LevelDebug, "stream from blocked peer refused", "peer_id", p.String())
		return false
	}
	if n.admission == nil {
		return true
	}
	ok, reason := n.admission.acquire(p, func() bool { return n.isContactPeer(p) })
	if !ok {
		n.logRemote(slog.LevelDebug, "handshake refused", "peer_id", p.String(), "reason", reason)
	}
	return ok
}

// handshakeDone ends a responder handshake that allowHandshake let start.
func (n *Node) handshakeDone(p peer.ID) {
	if n.admission != nil {
		n.admission.release(p)
	}
}

// isContactPeer reports whether p is a contact with a pin that the user did
// not block. It reads the cached contact list (contactcache.go): a flood
// of streams costs no decryption.
func (n *Node) isContactPeer(p peer.ID) bool {
	c, ok := n.contacts.contactFor(p.String())
	return ok && !c.Blocked && !c.Fingerprint.IsZero()
}
