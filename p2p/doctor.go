package p2p

import (
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"

	"github.com/securechat/securechat/p2p/relay"
)

// This file answers "why can't my friend reach me?": a read-only snapshot
// of what the node listens on, how it looks from outside, its relays and
// how its last hole punches went.

// RelayStatus is the state of one of Config.Relays (see [relay.Status]).
type RelayStatus = relay.Status

// HolePunch is the last hole-punch outcome with one peer.
type HolePunch struct {
	PeerID string
	At     time.Time
	// Kind is "direct_dial" (the peer's address was dialled straight,
	// before any punch) or "hole_punch" (a synchronised punch).
	Kind    string
	Success bool
	Error   string // why it failed, or ""
}

// Diagnostics is what [Node.Diagnostics] reports.
type Diagnostics struct {
	PeerID string
	// Listen are the addresses the node's transports are bound to.
	Listen []string
	// Addrs are the full addresses the node advertises (Ready and
	// AddrsChanged list the same), circuits included while reserved.
	Addrs []string
	// Observed are this node's addresses as its peers saw them, newest
	// first: behind a NAT, the NAT's outside address.
	Observed []string
	// Reachability is "public", "private" or "unknown".
	Reachability string
	// Relays lists Config.Relays in their order.
	Relays []RelayStatus
	// ServeRelay reports that the node is a relay for others.
	ServeRelay bool
	// HolePunchPrivate reports Config.HolePunchPrivate.
	HolePunchPrivate bool
	// HolePunches are the last outcomes per peer, newest first.
	HolePunches []HolePunch
	// MDNS reports whether LAN discovery runs.
	MDNS bool
}

// Diagnostics returns a snapshot of the node's reachability. It only reads.
func (n *Node) Diagnostics() Diagnostics {
	d := Diagnostics{
		PeerID:           n.selfID,
		Addrs:            n.Addrs(),
		Reachability:     n.Reachability(),
		ServeRelay:       n.wan.service != nil,
		HolePunchPrivate: n.wan.private,
		HolePunches:      n.wan.punches.list(),
		MDNS:             n.disc != nil,
		Listen:           []string{},
		Observed:         []string{},
		Relays:           []RelayStatus{},
	}
	// The sockets bound; the circuit transport's pseudo-address is not one.
	for _, a := range n.host.Network().ListenAddresses() {
		if !isCircuit(a) {
			d.Listen = append(d.Listen, a.String())
		}
	}
	for _, a := range n.wan.observed.list() {
		d.Observed = append(d.Observed, a.String())
	}
	if n.wan.keeper != nil {
		d.Relays = n.wan.keeper.Status()
	}
	return d
}

// maxPunchRecords bounds the peers whose last hole punch is remembered.
const maxPunchRecords = 64

// punchLog keeps the last hole-punch outcome per peer; it is the hole-punch
// service's event tracer.
type punchLog struct {
	mu   sync.Mutex
	last map[peer.ID]HolePunch
}

var _ holepunch.EventTracer = (*punchLog)(nil)

// Trace records the end of a direct dial or of a hole punch.
func (l *punchLog) Trace(e *holepunch.Event) {
	var h HolePunch
	switch ev := e.Evt.(type) {
	case *holepunch.DirectDialEvt:
		h = HolePunch{Kind: "direct_dial", Success: ev.Success, Error: ev.Error}
	case *holepunch.EndHolePunchEvt:
		h = HolePunch{Kind: "hole_punch", Success: ev.Success, Error: ev.Error}
	default:
		return
	}
	h.PeerID, h.At = e.Remote.String(), time.Unix(0, e.Timestamp)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = make(map[peer.ID]HolePunch)
	}
	if _, ok := l.last[e.Remote]; !ok && len(l.last) >= maxPunchRecords {
		// Forget the oldest.
		var oldest peer.ID
		for p, r := range l.last {
			if oldest == "" || r.At.Before(l.last[oldest].At) {
				oldest = p
			}
		}
		delete(l.last, oldest)
	}
	l.last[e.Remote] = h
}

// list returns the records, newest first.
func (l *punchLog) list() []HolePunch {
	l.mu.Lock()
	out := make([]HolePunch, 0, len(l.last))
	for _, r := range l.last {
		out = append(out, r)
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return slices.Clip(out)
}
