// Package mdns finds securechat peers on the local network with multicast
// DNS and dials them.
//
// A [Discovery] runs go-libp2p's mDNS service under securechat's own
// service name ([ServiceName]), announcing a filtered snapshot of the host's
// LAN addresses that fits one packet, and restarts it when those addresses
// change. What the service reports goes through one worker goroutine that
// raises at most one [Peers.Found] per discovery and starts at most one dial
// per peer, and only from one side: the lower peer ID dials at once, the
// higher one only after [Config.Fallback] without a session. What the node
// knows of its peers (sessions, handshakes, blocked contacts) and how it
// dials come from the [Peers] it passes to [New].
//
// Nothing a host on the LAN announces may block the service, grow memory
// without bound or start more than a few dials: queues, tracked peers,
// dials in flight and addresses taken from an announcement are all capped.
package mdns

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	lpmdns "github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	"github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// ServiceName is the DNS-SD service securechat nodes announce and browse
// for on the LAN: a name of our own, not libp2p's generic "_p2p._udp", so
// that securechat finds securechat nodes and no other libp2p application.
const ServiceName = "_securechat._udp"

// DefaultFallback is the production value of [Config.Fallback].
const DefaultFallback = 8 * time.Second

// Discovery limits. go-libp2p calls HandlePeerFound on a goroutine of its
// own, once per announcement it sees, for every host on the LAN that
// answers.
const (
	// queueSize is how many discoveries wait for the worker; more are
	// dropped (the peer announces again, or is found when it answers our
	// next query).
	queueSize = 64
	// maxDials bounds the dials discovery has in flight.
	maxDials = 4
	// dialRetry is how soon a dial deferred by maxDials is tried again.
	dialRetry = 500 * time.Millisecond
	// foundQuiet is how long after a Found another announcement of the
	// same peer without a session raises no new one. zeroconf already
	// reports each announced instance once; repeats come from a peer's
	// restart or our own service's restart.
	foundQuiet = 5 * time.Second
	// maxTracked bounds the peers the worker remembers.
	maxTracked = 256
	// debounce waits for a burst of address changes to settle before the
	// service is restarted with the new addresses.
	debounce = time.Second
	// minRestart is the least time between two restarts.
	minRestart = 5 * time.Second
	// pollInterval is how often the interface addresses are checked.
	// go-libp2p caches them for a minute (in the swarm and in the host's
	// address manager), so EvtLocalAddressesUpdated reports a new
	// interface address up to a minute late; a netlink dump every few
	// seconds is cheap.
	pollInterval = 5 * time.Second
)

// Peers is the node as discovery sees it. Discovery calls its methods from
// its own goroutines; all but Dial should return promptly.
type Peers interface {
	// Wanted reports whether announcements of p are to be acted on at
	// all (false for a blocked peer).
	Wanted(p peer.ID) bool
	// State reports whether p has a live session, and whether it has a
	// session, a handshake or a dial (ours or the user's) under way.
	State(p peer.ID) (live, busy bool)
	// Found is called once per discovery of a peer (not once per
	// announcement), with the peer's usable addresses.
	Found(ai peer.AddrInfo)
	// Dial connects to ai, trying every address; addr, the preferred
	// one with /p2p/<id>, names the attempt. It runs on a goroutine of
	// the Discovery, at most a few at once, and should return soon
	// after ctx ends, which it does on [Discovery.Close].
	Dial(ctx context.Context, ai peer.AddrInfo, addr multiaddr.Multiaddr)
}

// Config holds a Discovery's settings. The zero value is the production
// setting.
type Config struct {
	// Logger receives discovery's log lines; nil discards them.
	Logger *slog.Logger
	// Fallback is how long the higher peer ID waits for the lower one to
	// dial before it dials itself: the lower one may be unable to reach
	// us (a firewall on our side), or may not have seen our
	// announcement. Zero means [DefaultFallback].
	Fallback time.Duration
	// Passive runs no mDNS service: peers come only through
	// [Discovery.HandlePeerFound]. Tests use it to drive discovery
	// without multicast.
	Passive bool
	// LoopbackOK takes loopback addresses in announcements as LAN ones,
	// so that tests can discover peers on 127.0.0.1.
	LoopbackOK bool
}

// A Discovery is mDNS peer discovery for one host: go-libp2p's mDNS service
// and the worker goroutine that turns its notifications into calls of
// [Peers]. Every goroutine it starts ends in [Discovery.Close].
//
// Only one side dials, as in the go-libp2p chat-with-mdns example: the
// lower peer ID, the side whose session the node's tie-break keeps when
// both dial at once. The higher one dials only after [Config.Fallback]
// without a session. A peer with a live session, a handshake or a dial in
// flight is not dialled.
type Discovery struct {
	host  host.Host
	peers Peers
	cfg   Config
	log   *slog.Logger
	found chan peer.AddrInfo // HandlePeerFound -> worker
	dials chan struct{}      // one token per dial in flight

	ctx       context.Context // ends on Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the worker and the dials
	closeOnce sync.Once

	mu        sync.Mutex // guards the fields below
	svc       lpmdns.Service
	announced []multiaddr.Multiaddr // what svc announces
	restarted time.Time
	started   bool // restart ran at least once
	stopped   bool
	inflight  map[peer.ID]bool // dials started and not yet ended
}

// New starts discovery for h: the worker and, unless cfg.Passive, the mDNS
// service. Failures to announce are logged, not returned: the node works
// without discovery, and a later change of addresses tries again.
func New(h host.Host, peers Peers, cfg Config) *Discovery {
	if cfg.Fallback == 0 {
		cfg.Fallback = DefaultFallback
	}
	d := &Discovery{
		host:     h,
		peers:    peers,
		cfg:      cfg,
		log:      cfg.Logger,
		found:    make(chan peer.AddrInfo, queueSize),
		dials:    make(chan struct{}, maxDials),
		inflight: make(map[peer.ID]bool),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	var sub event.Subscription
	if !cfg.Passive {
		var err error
		sub, err = h.EventBus().Subscribe(new(event.EvtLocalAddressesUpdated))
		if err != nil {
			sub = nil
			d.log.Warn("mDNS: no address updates; announcing the start addresses only", "err", err)
		}
		d.restart()
	}
	d.wg.Add(1)
	go d.run(sub)
	return d
}

// HandlePeerFound implements go-libp2p's mdns.Notifee; tests call it to
// feed announcements. It never blocks: the peer is queued for the worker,
// or dropped if the queue is full.
func (d *Discovery) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == d.host.ID() {
		return
	}
	select {
	case d.found <- ai:
	default:
		d.log.Debug("mDNS: queue full; announcement dropped", "peer_id", ai.ID.String())
	}
}

// Close stops the mDNS service, cancels the dials in flight and waits for
// the worker and the dials to end. It is safe to call more than once.
func (d *Discovery) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.stopped = true
		if d.svc != nil {
			_ = d.svc.Close()
			d.svc = nil
		}
		d.mu.Unlock()
		d.cancel()
		d.wg.Wait()
	})
	return nil
}

// restart (re)starts the mDNS service if the addresses to announce changed.
// The service snapshots them when it starts, so a change of listen
// addresses needs a new service (and a new instance name, which peers see
// as a new announcement).
func (d *Discovery) restart() {
	h := d.host
	addrs := lanAddrs(currentAddrs(h.Network().ListenAddresses()), maxAdvertised, len(h.ID().String()), false)
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
		d.log.Info("mDNS: no LAN address to announce yet")
		return
	}
	svc := lpmdns.NewMdnsService(announceHost{Host: h, addrs: addrs}, ServiceName, d)
	if err := svc.Start(); err != nil {
		_ = svc.Close()
		d.log.Warn("mDNS: cannot start; LAN discovery is off until the addresses change", "err", err)
		return
	}
	d.svc = svc
	d.log.Info("mDNS: announcing", "service", ServiceName, "addrs", len(addrs))
}

// lastRestart returns when the service was last (re)started.
func (d *Discovery) lastRestart() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restarted
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
