package p2p

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/relay"
)

// Reachability values, as [AddrsChanged] and [Node.Reachability] give them.
const (
	ReachabilityPublic  = "public"
	ReachabilityPrivate = "private"
	ReachabilityUnknown = "unknown"
)

// wanState is the node's part beyond the LAN: its reservations on relays
// (Config.Relays), the relay service (Config.ServeRelay), hole punching
// and the path switch (path.go), and the watch on its own addresses that
// raises AddrsChanged.
//
// AutoNAT v2 (autonat.go) runs only beyond the LAN: its server on a node
// with Config.ServeRelay, its client there and on a node with
// Config.Relays. An ordinary LAN node neither probes nor serves, and its
// reachability stays "unknown" unless some peer's AutoNAT v1 service tells
// otherwise (libp2p's v1 client runs as it always did).
type wanState struct {
	relays   []peer.AddrInfo
	private  bool // Config.HolePunchPrivate
	onlyCirc bool // Config.circuitsOnly

	// circuits are the keeper's circuit addresses, which the host's
	// address factory appends to its own: they reach identify, the signed
	// peer record and Node.Addrs while their reservations hold.
	circuits atomic.Pointer[[]multiaddr.Multiaddr]

	keeper   *relay.Keeper
	service  *relayv2.Relay
	hps      *holepunch.Service // own service with HolePunchPrivate
	emitter  event.Emitter      // EvtAutoRelayAddrsUpdated: makes the host recompute its addresses
	sub      event.Subscription // the host's address events, read by watchAddrs
	observed observedAddrs
	punches  punchLog // doctor.go

	reach   atomic.Value // string: the last reachability AutoNAT v1 gave
	reachV2 atomic.Value // string: the last verdict of AutoNAT v2 (autonat.go)
	autonat autonatMode

	paths chan peer.ID // path.go
	recv  [recvStripes]sync.Mutex
}

// newWAN checks cfg's relay settings and returns the state and the host
// options it needs (address factory, hole punching).
func newWAN(cfg Config) (*wanState, []libp2p.Option, error) {
	w := &wanState{private: cfg.HolePunchPrivate, onlyCirc: cfg.circuitsOnly, paths: make(chan peer.ID, pathQueue)}
	w.reach.Store(ReachabilityUnknown)
	w.reachV2.Store(ReachabilityUnknown)
	if len(cfg.Relays) > 0 {
		infos, err := relay.ParseRelays(cfg.Relays)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrBadAddress, err)
		}
		w.relays = infos
	}
	opts := []libp2p.Option{libp2p.AddrsFactory(w.addrsFactory)}
	w.autonat = autonatModeFor(cfg)
	if w.autonat != autonatOff {
		opts = append(opts, libp2p.EnableAutoNATv2())
	}
	if !w.private {
		// libp2p's own service punches to public addresses only.
		opts = append(opts, libp2p.EnableHolePunching(holepunch.WithAddrFilter(quicOnly{}), holepunch.WithTracer(&w.punches)))
	}
	return w, opts, nil
}

func (w *wanState) addrsFactory(addrs []multiaddr.Multiaddr) []multiaddr.Multiaddr {
	if w.onlyCirc {
		addrs = nil
	}
	if c := w.circuits.Load(); c != nil {
		return append(slices.Clone(addrs), *c...)
	}
	return addrs
}

// startWAN starts what cfg asked for, once the host runs.
func (n *Node) startWAN(cfg Config) error {
	w := n.wan
	var err error
	w.emitter, err = n.host.EventBus().Emitter(new(event.EvtAutoRelayAddrsUpdated), eventbus.Stateful)
	if err != nil {
		return fmt.Errorf("event emitter: %w", err)
	}
	// Identify's observed addresses feed hole punching with
	// HolePunchPrivate, and Diagnostics always.
	types := []any{new(event.EvtLocalAddressesUpdated), new(event.EvtLocalReachabilityChanged),
		new(event.EvtHostReachableAddrsChanged), new(event.EvtPeerIdentificationCompleted)}
	w.sub, err = n.host.EventBus().Subscribe(types, eventbus.Name("securechat addrs"))
	if err != nil {
		return fmt.Errorf("event subscription: %w", err)
	}
	if cfg.ServeRelay {
		if w.service, err = relay.NewService(n.host); err != nil {
			return fmt.Errorf("relay service: %w", err)
		}
	}
	if w.private {
		if err := n.startHolePunch(); err != nil {
			return err
		}
	}
	n.startPaths()
	if len(w.relays) > 0 {
		w.keeper = relay.NewKeeper(n.host, w.relays, n.circuitsChanged)
		w.keeper.Start()
	}
	return nil
}

// circuitsChanged runs when the keeper's reservations changed: the host
// recomputes its addresses, and the watch raises AddrsChanged.
func (n *Node) circuitsChanged() {
	c := n.wan.keeper.Addrs()
	n.wan.circuits.Store(&c)
	if err := n.wan.emitter.Emit(event.EvtAutoRelayAddrsUpdated{RelayAddrs: c}); err != nil {
		n.log.Debug("relay addresses event", "err", err)
	}
}

// stopWAN stops the keeper and the services, before the host closes.
func (n *Node) stopWAN() {
	w := n.wan
	if w.keeper != nil {
		w.keeper.Close()
	}
	if w.service != nil {
		_ = w.service.Close()
	}
	if w.hps != nil {
		_ = w.hps.Close()
	}
	if w.emitter != nil {
		_ = w.emitter.Close()
	}
	if w.sub != nil {
		_ = w.sub.Close()
	}
}

// Reachability is what libp2p last said about the node's reachability from
// outside: "public", "private" or "unknown" (the usual case on a LAN: see
// wanState). AutoNAT v2's verdict, where it has one, goes before v1's.
func (n *Node) Reachability() string {
	if r := n.wan.reachV2.Load().(string); r != ReachabilityUnknown {
		return r
	}
	return n.wan.reach.Load().(string)
}

// watchAddrs starts the goroutine that raises AddrsChanged whenever the
// node's dialable addresses or its reachability differ from what was last
// reported, starting from Ready's addresses. It ends with the node.
func (n *Node) watchAddrs(ready []string) {
	last := sortedAddrs(slices.Clone(ready))
	lastReach := n.Reachability()
	sub := n.wan.sub
	n.goTracked(func() { n.watchLoop(sub, last, lastReach) })
}

func (n *Node) watchLoop(sub event.Subscription, last []string, lastReach string) {
	for {
		select {
		case <-n.ctx.Done():
			return
		case e, ok := <-sub.Out():
			if !ok {
				return
			}
			switch e := e.(type) {
			case event.EvtLocalReachabilityChanged:
				n.wan.reach.Store(reachabilityString(e.Reachability))
			case event.EvtHostReachableAddrsChanged:
				n.wan.reachV2.Store(reachabilityV2(e))
			case event.EvtPeerIdentificationCompleted:
				if e.Conn != nil && !isRelayed(e.Conn) {
					n.wan.observed.add(e.ObservedAddr)
				}
				continue
			}
		}
		addrs, reach := sortedAddrs(n.Addrs()), n.Reachability()
		if slices.Equal(addrs, last) && reach == lastReach {
			continue
		}
		if !slices.Equal(addrs, last) {
			n.announceAddrs() // to every live session (peeraddrs.go)
		}
		last, lastReach = addrs, reach
		n.emit(AddrsChanged{Addrs: slices.Clone(addrs), Reachability: reach})
	}
}

func sortedAddrs(a []string) []string {
	slices.Sort(a)
	return slices.Compact(a)
}

func reachabilityString(r network.Reachability) string {
	switch r {
	case network.ReachabilityPublic:
		return ReachabilityPublic
	case network.ReachabilityPrivate:
		return ReachabilityPrivate
	}
	return ReachabilityUnknown
}

// isCircuit reports whether a is a relayed (p2p-circuit) address.
func isCircuit(a multiaddr.Multiaddr) bool {
	if a == nil {
		return false
	}
	_, err := a.ValueForProtocol(multiaddr.P_CIRCUIT)
	return err == nil
}
