package relay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/multiformats/go-multiaddr"
)

// Reservation timing. libp2p's autorelay backs off an hour after a failed
// reservation; a chat node that lost its relay to a restart wants it back
// within seconds, so the [Keeper] retries on its own schedule.
const (
	// RetryMin is the first wait after a failed reservation; each further
	// failure doubles it up to RetryMax. The wait is drawn from
	// [d/2, d] so that many nodes behind one relay do not retry in step.
	RetryMin = 500 * time.Millisecond
	// RetryMax caps the wait between attempts: a relay that comes back is
	// reserved on again within RetryMax plus one attempt.
	RetryMax = 8 * time.Second
	// ReserveTimeout bounds one reservation attempt (dial and exchange).
	ReserveTimeout = 15 * time.Second
	// RefreshBefore is how long before a reservation expires the keeper
	// renews it; a reservation shorter than twice this is renewed at half
	// its life.
	RefreshBefore = 5 * time.Minute
)

// protectTag keeps the connection manager from trimming the connection
// that a reservation lives on (the relay drops the reservation with it).
const protectTag = "securechat-relay-reservation"

// A Keeper holds a reservation on each of its relays, so that peers can
// reach this node at <relay>/p2p-circuit/p2p/<self>. It refreshes each
// reservation before it expires and takes it again as soon as it is lost
// (the relay restarted, the connection to it dropped). [Keeper.Addrs] lists
// the circuit addresses of the reservations held right now. Its goroutines
// end with [Keeper.Close].
type Keeper struct {
	h        host.Host
	relays   []peer.AddrInfo
	onChange func()

	mu     sync.Mutex
	held   map[peer.ID][]multiaddr.Multiaddr
	status map[peer.ID]*Status // status.go
	kicks  map[peer.ID]chan struct{}

	notifiee network.Notifiee
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// ParseRelays groups relay addresses, each ending in /p2p/<relay-id>, by
// relay. An address without a transport part or without /p2p is refused.
func ParseRelays(addrs []multiaddr.Multiaddr) ([]peer.AddrInfo, error) {
	for _, a := range addrs {
		t, id := peer.SplitAddr(a)
		if t == nil || id == "" {
			return nil, fmt.Errorf("relay address %s: must be a transport address ending in /p2p/<relay-id>", a)
		}
		if _, err := t.ValueForProtocol(multiaddr.P_CIRCUIT); err == nil {
			return nil, fmt.Errorf("relay address %s: is itself a circuit address", a)
		}
	}
	infos, err := peer.AddrInfosFromP2pAddrs(addrs...)
	if err != nil {
		return nil, fmt.Errorf("relay addresses: %w", err)
	}
	return infos, nil
}

// NewKeeper returns a keeper for the given relays on h; Start starts it.
// onChange, if not nil, is called (from the keeper's goroutines, never
// with a lock held) whenever the set of held reservations changes.
func NewKeeper(h host.Host, relays []peer.AddrInfo, onChange func()) *Keeper {
	k := &Keeper{
		h:        h,
		relays:   relays,
		onChange: onChange,
		held:     make(map[peer.ID][]multiaddr.Multiaddr),
		status:   make(map[peer.ID]*Status),
		kicks:    make(map[peer.ID]chan struct{}),
	}
	for _, r := range relays {
		k.kicks[r.ID] = make(chan struct{}, 1)
		k.status[r.ID] = &Status{Relay: r.ID.String()}
	}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	return k
}

// Start begins holding the reservations, one goroutine per relay.
func (k *Keeper) Start() {
	k.notifiee = &network.NotifyBundle{DisconnectedF: k.disconnected}
	k.h.Network().Notify(k.notifiee)
	for _, r := range k.relays {
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.hold(r)
		}()
	}
}

// Close stops the keeper and waits for its goroutines. The reservations
// lapse on the relays by themselves.
func (k *Keeper) Close() {
	k.cancel()
	if k.notifiee != nil {
		k.h.Network().StopNotify(k.notifiee)
	}
	k.wg.Wait()
	for _, r := range k.relays {
		k.h.ConnManager().Unprotect(r.ID, protectTag)
	}
}

// Addrs returns the circuit addresses (<relay>/p2p/<relay-id>/p2p-circuit)
// of the reservations held now, without this node's /p2p suffix.
func (k *Keeper) Addrs() []multiaddr.Multiaddr {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []multiaddr.Multiaddr
	for _, r := range k.relays {
		out = append(out, k.held[r.ID]...)
	}
	return out
}

// disconnected wakes the relay's goroutine when its last connection to the
// relay went: the reservation went with it.
func (k *Keeper) disconnected(n network.Network, c network.Conn) {
	ch := k.kicks[c.RemotePeer()] // read-only after NewKeeper
	if ch == nil || n.Connectedness(c.RemotePeer()) == network.Connected {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// hold keeps one relay's reservation until Close.
func (k *Keeper) hold(r peer.AddrInfo) {
	circuits := make([]multiaddr.Multiaddr, 0, len(r.Addrs))
	for _, a := range r.Addrs {
		circuits = append(circuits, a.Encapsulate(multiaddr.StringCast("/p2p/"+r.ID.String()+"/p2p-circuit")))
	}
	kick := k.kicks[r.ID]
	delay := RetryMin
	var wait time.Duration
	for {
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-k.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			case <-kick:
				t.Stop()
				// A lost connection ends the reservation now: its circuit
				// addresses go at once, and the retry follows.
				if k.h.Network().Connectedness(r.ID) != network.Connected {
					k.set(r.ID, nil)
				}
			}
		}
		if k.ctx.Err() != nil {
			return
		}
		ctx, cancel := context.WithTimeout(k.ctx, ReserveTimeout)
		rsvp, err := client.Reserve(ctx, k.h, r)
		cancel()
		k.record(r.ID, rsvp, err)
		if err != nil {
			if k.ctx.Err() != nil {
				return
			}
			k.set(r.ID, nil)
			wait = delay/2 + rand.N(delay/2+1)
			delay = min(2*delay, RetryMax)
			continue
		}
		delay = RetryMin
		k.h.ConnManager().Protect(r.ID, protectTag)
		k.set(r.ID, circuits)
		life := time.Until(rsvp.Expiration)
		wait = life - RefreshBefore
		if life < 2*RefreshBefore {
			wait = life / 2
		}
		wait = max(wait, RetryMin)
	}
}

// set records the circuit addresses held on relay id and reports a change.
func (k *Keeper) set(id peer.ID, addrs []multiaddr.Multiaddr) {
	k.mu.Lock()
	old := k.held[id]
	changed := !slices.EqualFunc(old, addrs, multiaddr.Multiaddr.Equal)
	if len(addrs) == 0 {
		delete(k.held, id)
	} else {
		k.held[id] = addrs
	}
	k.mu.Unlock()
	if changed && k.onChange != nil {
		k.onChange()
	}
}
