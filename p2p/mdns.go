package p2p

import (
	"context"
	"errors"
	stdlog "log"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// MDNSServiceName is the DNS-SD service securechat nodes announce and browse
// for on the LAN: a name of our own, not libp2p's generic "_p2p._udp", so
// that securechat finds securechat nodes and no other libp2p application.
const MDNSServiceName = "_securechat._udp"

// Discovery limits. go-libp2p calls HandlePeerFound on a goroutine of its
// own, once per announcement it sees, for every host on the LAN that
// answers: nothing a LAN host announces may block that call, grow our
// memory or start more than a few dials.
const (
	// mdnsQueue is how many discoveries wait for the worker; more are
	// dropped (the peer announces again, or is found when it answers our
	// next query).
	mdnsQueue = 64
	// mdnsMaxDials bounds the dials discovery has in flight.
	mdnsMaxDials = 4
	// mdnsDialRetry is how soon a dial deferred by mdnsMaxDials is tried
	// again.
	mdnsDialRetry = 500 * time.Millisecond
	// mdnsFoundQuiet is how long after a PeerFound another announcement
	// of the same peer without a session raises no new one. zeroconf
	// already reports each announced instance once; repeats come from a
	// peer's restart or our own service's restart.
	mdnsFoundQuiet = 5 * time.Second
	// mdnsMaxTracked bounds the peers the worker remembers.
	mdnsMaxTracked = 256
	// mdnsDebounce waits for a burst of address changes to settle before
	// the service is restarted with the new addresses.
	mdnsDebounce = time.Second
	// mdnsMinRestart is the least time between two restarts.
	mdnsMinRestart = 5 * time.Second
	// mdnsPoll is how often the interface addresses are checked.
	// go-libp2p caches them for a minute (in the swarm and in the host's
	// address manager), so EvtLocalAddressesUpdated reports a new
	// interface address up to a minute late; a netlink dump every few
	// seconds is cheap.
	mdnsPoll = 5 * time.Second
)

// mdnsFallback is how long the higher peer ID waits for the lower one to
// dial before it dials itself: the lower one may be unable to reach us (a
// firewall on our side), or may not have seen our announcement. Tests
// shorten it.
var mdnsFallback = 8 * time.Second

// discovery is the node's mDNS peer discovery: go-libp2p's mDNS service,
// announcing a filtered snapshot of our addresses, and one worker goroutine
// that turns the service's notifications into at most one PeerFound per
// discovery and at most one dial per peer.
//
// Only one side dials, as in the go-libp2p chat-with-mdns example: the lower
// peer ID, the side whose session handler.go's tie-break keeps when both
// dial at once. The higher one dials only after mdnsFallback without a
// session. A peer with a live session, a handshake or a dial in flight is
// not dialled.
type discovery struct {
	n     *Node
	found chan peer.AddrInfo // HandlePeerFound -> worker
	dials chan struct{}      // one token per dial in flight
	// loopbackOK lets tests discover peers on 127.0.0.1 without multicast.
	loopbackOK bool

	mu        sync.Mutex // guards the fields below
	svc       mdns.Service
	announced []multiaddr.Multiaddr // what svc announces
	restarted time.Time
	started   bool // restart ran at least once
	stopped   bool
	inflight  map[peer.ID]bool // dials started and not yet ended
}

// waiting is a discovered peer whose dial is due later.
type waiting struct {
	ai  peer.AddrInfo
	due time.Time
}

// startDiscovery starts the discovery worker and, with announce, the mDNS
// service itself. Without announce (tests) peers are fed to
// [discovery.HandlePeerFound] directly.
func (n *Node) startDiscovery(announce bool) *discovery {
	d := &discovery{
		n:        n,
		found:    make(chan peer.AddrInfo, mdnsQueue),
		dials:    make(chan struct{}, mdnsMaxDials),
		inflight: make(map[peer.ID]bool),
	}
	var sub event.Subscription
	if announce {
		var err error
		sub, err = n.host.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
		if err != nil {
			sub = nil
			n.log.Warn("mDNS: no address updates; announcing the start addresses only", "err", err)
		}
		d.restart()
	}
	if !n.goTracked(func() { d.run(announce, sub) }) {
		d.stop()
		if sub != nil {
			_ = sub.Close()
		}
	}
	return d
}

// HandlePeerFound implements [mdns.Notifee]. It never blocks: the peer is
// queued for the worker, or dropped if the queue is full.
func (d *discovery) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == d.n.host.ID() {
		return
	}
	select {
	case d.found <- ai:
	default:
		d.n.log.Debug("mDNS: queue full; announcement dropped", "peer_id", ai.ID.String())
	}
}

// stop closes the mDNS service; the worker ends with the node's context.
func (d *discovery) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	if d.svc != nil {
		_ = d.svc.Close()
		d.svc = nil
	}
}

// restart (re)starts the mDNS service if the addresses to announce changed.
// The service snapshots them when it starts, so a change of listen
// addresses needs a new service (and a new instance name, which peers see
// as a new announcement).
func (d *discovery) restart() {
	h := d.n.host
	addrs := lanAddrs(currentAddrs(h.Network().ListenAddresses()), mdnsMaxAdvertised, len(h.ID().String()), false)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped || (d.started && sameAddrs(addrs, d.announced)) {
		return
	}
	if d.svc != nil {
		_ = d.svc.Close()
		d.svc = nil
	}
	d.announced, d.restarted, d.started = addrs, time.Now(), true
	if len(addrs) == 0 {
		d.n.log.Info("mDNS: no LAN address to announce yet")
		return
	}
	stdLogOnce.Do(routeStdLog)
	svc := mdns.NewMdnsService(mdnsHost{Host: h, addrs: addrs}, MDNSServiceName, d)
	if err := svc.Start(); err != nil {
		_ = svc.Close()
		d.n.log.Warn("mDNS: cannot start; LAN discovery is off until the addresses change", "err", err)
		return
	}
	d.svc = svc
	d.n.log.Info("mDNS: announcing", "service", MDNSServiceName, "addrs", len(addrs))
}

// currentAddrs expands the unspecified IPs of listen to the interfaces'
// current addresses (not go-libp2p's minute-old cache).
func currentAddrs(listen []multiaddr.Multiaddr) []multiaddr.Multiaddr {
	ifaces, err := manet.InterfaceMultiaddrs()
	if err != nil {
		return nil
	}
	out, err := manet.ResolveUnspecifiedAddresses(listen, ifaces)
	if err != nil {
		return nil
	}
	return out
}

// run is the worker: it takes discoveries from the queue, dials the peers
// that are ours to dial, and restarts the service when the addresses change.
func (d *discovery) run(announce bool, sub event.Subscription) {
	n := d.n
	var addrEvents <-chan any
	if sub != nil {
		// The event bus blocks its emitter on a full subscriber: the
		// worker drains it until it closes the subscription.
		defer sub.Close()
		addrEvents = sub.Out()
	}
	pending := make(map[peer.ID]waiting)
	recent := make(map[peer.ID]time.Time)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var poll <-chan time.Time
	if announce {
		ticker := time.NewTicker(mdnsPoll)
		defer ticker.Stop()
		poll = ticker.C
	}
	var restartAt time.Time
	// check schedules a look at the addresses after delay, and no sooner
	// than mdnsMinRestart after the last restart.
	check := func(delay time.Duration) {
		at := time.Now().Add(delay)
		d.mu.Lock()
		if earliest := d.restarted.Add(mdnsMinRestart); at.Before(earliest) {
			at = earliest
		}
		d.mu.Unlock()
		if restartAt.IsZero() || at.Before(restartAt) {
			restartAt = at
		}
	}
	for {
		select {
		case <-n.ctx.Done():
			return
		case ai := <-d.found:
			d.discovered(ai, recent, pending)
		case _, ok := <-addrEvents:
			if !ok {
				addrEvents = nil
				continue
			}
			check(mdnsDebounce)
		case <-poll:
			check(0)
		case <-timer.C:
		}
		now := time.Now()
		if !restartAt.IsZero() && !now.Before(restartAt) {
			restartAt = time.Time{}
			d.restart()
		}
		for p, w := range pending {
			if now.Before(w.due) {
				continue
			}
			delete(pending, p)
			if _, busy := d.state(p); !busy {
				d.dial(w.ai, pending)
			}
		}
		next := restartAt
		for _, w := range pending {
			if next.IsZero() || w.due.Before(next) {
				next = w.due
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if !next.IsZero() {
			timer.Reset(time.Until(next))
		}
	}
}

// discovered handles one announcement of ai.
func (d *discovery) discovered(ai peer.AddrInfo, recent map[peer.ID]time.Time, pending map[peer.ID]waiting) {
	n := d.n
	if ai.ID == n.host.ID() || ai.ID.Validate() != nil {
		return
	}
	ai.Addrs = lanAddrs(ai.Addrs, mdnsMaxRemoteAddrs, 0, d.loopbackOK)
	if len(ai.Addrs) == 0 {
		n.log.Debug("mDNS: peer announced no usable address", "peer_id", ai.ID.String())
		return
	}
	if c, ok, err := n.store.Contact(ai.ID.String()); err != nil || (ok && c.Blocked) {
		return
	}
	live, busy := d.state(ai.ID)
	if live {
		return // an announcement of a peer we talk to
	}
	now := time.Now()
	if last, ok := recent[ai.ID]; !ok || now.Sub(last) >= mdnsFoundQuiet {
		if len(recent) >= mdnsMaxTracked {
			for p, t := range recent {
				if now.Sub(t) >= mdnsFoundQuiet {
					delete(recent, p)
				}
			}
			if len(recent) >= mdnsMaxTracked {
				clear(recent)
			}
		}
		recent[ai.ID] = now
		n.peerFound(ai, "mdns")
	}
	if busy {
		return // a handshake or a dial is under way
	}
	if _, ok := pending[ai.ID]; ok {
		pending[ai.ID] = waiting{ai: ai, due: pending[ai.ID].due}
		return
	}
	if n.host.ID() < ai.ID {
		d.dial(ai, pending)
		return
	}
	if len(pending) < mdnsMaxTracked {
		pending[ai.ID] = waiting{ai: ai, due: now.Add(mdnsFallback)}
	}
}

// state reports whether p has a live session, and whether it has a
// session, a handshake or a dial (ours or the user's) under way.
func (d *discovery) state(p peer.ID) (live, busy bool) {
	n := d.n
	n.mu.Lock()
	if ps := n.peers[p]; ps != nil {
		live = ps.up && ps.current != nil
		busy = ps.current != nil || ps.pending > 0 || ps.dialing != nil
	}
	n.mu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	return live, busy || d.inflight[p]
}

// dial connects to ai in a goroutine of the node, or puts it back in
// pending if mdnsMaxDials dials are in flight.
func (d *discovery) dial(ai peer.AddrInfo, pending map[peer.ID]waiting) {
	n := d.n
	suffix, err := multiaddr.NewComponent("p2p", ai.ID.String())
	if err != nil {
		return
	}
	addr := ai.Addrs[0].Encapsulate(suffix.Multiaddr())
	select {
	case d.dials <- struct{}{}:
	default:
		if len(pending) < mdnsMaxTracked {
			pending[ai.ID] = waiting{ai: ai, due: time.Now().Add(mdnsDialRetry)}
		}
		return
	}
	d.mu.Lock()
	d.inflight[ai.ID] = true
	d.mu.Unlock()
	done := func() {
		d.mu.Lock()
		delete(d.inflight, ai.ID)
		d.mu.Unlock()
		<-d.dials
	}
	if !n.goTracked(func() {
		defer done()
		// The swarm tries every announced address; addr (the preferred
		// one) names the attempt.
		err := n.dial(context.Background(), &ai, addr.String())
		if err == nil || n.ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return
		}
		// A peer refused for a changed key or a block was already
		// reported (alert) or is unwanted: no dial error on top.
		if c, ok, _ := n.store.Contact(ai.ID.String()); ok && (c.Blocked || !c.PendingFingerprint.IsZero()) {
			return
		}
		n.log.Debug("mDNS: dial failed", "peer_id", ai.ID.String(), "err", err)
		n.emit(DialFailed{Addr: addr.String(), Err: err.Error()})
	}) {
		done()
	}
}

// peerFound is called once per discovery of a peer (not once per
// announcement), with the peer's usable addresses and how it was found
// ("mdns"). It raises PeerFound.
//
// Hook for the redial logic (issue 4): a peer just seen on the LAN is
// reachable now, so this is the place to reset its redial backoff (and to
// remember ai.Addrs as its latest addresses). Keep this method cheap and
// non-blocking beyond the event: the discovery worker calls it.
func (n *Node) peerFound(ai peer.AddrInfo, via string) {
	n.emit(PeerFound{PeerID: ai.ID.String(), Via: via})
	n.redial.reset(ai.ID) // reachable now: redial without waiting out the backoff
}

var stdLogOnce sync.Once

// routeStdLog sends the standard log package's output to the node's log.
// zeroconf, under go-libp2p's mDNS service, reports its failures (a send on
// an interface without an address, no IPv6) with the standard logger,
// which writes to stderr: stray lines there would corrupt the terminal UI
// and break the headless contract. The standard logger is process-wide, so
// this is done once, when the first mDNS service starts.
func routeStdLog() {
	stdlog.SetFlags(0)
	stdlog.SetOutput(stdLogWriter{})
}

// stdLogWriter forwards each standard log line to go-libp2p's log route
// (logging.go) as a warning.
type stdLogWriter struct{}

func (stdLogWriter) Write(b []byte) (int, error) {
	r := slog.NewRecord(time.Now(), slog.LevelWarn, strings.TrimSpace(string(b)), 0)
	r.AddAttrs(slog.String("via", "stdlog"))
	_ = libp2pLogs.Handle(context.Background(), r)
	return len(b), nil
}
