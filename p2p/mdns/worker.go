package mdns

import (
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// worker is the state of the Discovery's worker goroutine; only that
// goroutine touches it.
type worker struct {
	d         *Discovery
	recent    map[peer.ID]time.Time // when each peer was last Found
	pending   map[peer.ID]waiting   // dials due later
	restartAt time.Time             // when to look at the addresses; zero: not planned
	timer     *time.Timer           // fires at the earliest of the above
}

// waiting is a discovered peer whose dial is due later.
type waiting struct {
	ai  peer.AddrInfo
	due time.Time
}

// run is the worker: it takes discoveries from the queue, dials the peers
// that are ours to dial, and restarts the service when the addresses
// change, until Close.
func (d *Discovery) run(sub event.Subscription) {
	defer d.wg.Done()
	var addrEvents <-chan any
	if sub != nil {
		// The event bus blocks its emitter on a full subscriber: the
		// worker drains it until it closes the subscription.
		defer sub.Close()
		addrEvents = sub.Out()
	}
	var poll <-chan time.Time
	if !d.cfg.Passive {
		ticker := time.NewTicker(pollInterval)
		defer ticker.Stop()
		poll = ticker.C
	}
	w := &worker{
		d:       d,
		recent:  make(map[peer.ID]time.Time),
		pending: make(map[peer.ID]waiting),
		timer:   time.NewTimer(time.Hour),
	}
	defer w.timer.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case ai := <-d.found:
			w.discovered(ai)
		case _, ok := <-addrEvents:
			if !ok {
				addrEvents = nil
				continue
			}
			w.checkAddrs(debounce)
		case <-poll:
			w.checkAddrs(0)
		case <-w.timer.C:
		}
		w.runDue(time.Now())
	}
}

// checkAddrs plans a look at the addresses after delay, and no sooner than
// minRestart after the last restart.
func (w *worker) checkAddrs(delay time.Duration) {
	at := time.Now().Add(delay)
	if earliest := w.d.lastRestart().Add(minRestart); at.Before(earliest) {
		at = earliest
	}
	if w.restartAt.IsZero() || at.Before(w.restartAt) {
		w.restartAt = at
	}
}

// runDue does what is due at now (a restart, deferred dials) and sets the
// timer for what comes next.
func (w *worker) runDue(now time.Time) {
	if !w.restartAt.IsZero() && !now.Before(w.restartAt) {
		w.restartAt = time.Time{}
		w.d.restart()
	}
	w.dialDue(now)
	w.resetTimer()
}

// dialDue dials the pending peers due at now that are not busy by now.
func (w *worker) dialDue(now time.Time) {
	for p, wt := range w.pending {
		if now.Before(wt.due) {
			continue
		}
		delete(w.pending, p)
		if _, busy := w.state(p); !busy {
			w.dial(wt.ai)
		}
	}
}

// resetTimer sets the timer for the earliest of the planned restart and
// the pending dials, or stops it if there is none.
func (w *worker) resetTimer() {
	next := w.restartAt
	for _, wt := range w.pending {
		if next.IsZero() || wt.due.Before(next) {
			next = wt.due
		}
	}
	// Since Go 1.23 Stop and Reset leave no stale tick in the channel.
	w.timer.Stop()
	if !next.IsZero() {
		w.timer.Reset(time.Until(next))
	}
}

// discovered handles one announcement of ai.
func (w *worker) discovered(ai peer.AddrInfo) {
	ai, ok := w.usable(ai)
	if !ok {
		return
	}
	live, busy := w.state(ai.ID)
	if live {
		return // an announcement of a peer we talk to
	}
	now := time.Now()
	w.found(ai, now)
	if !busy { // else a handshake or a dial is under way
		w.schedule(ai, now)
	}
}

// usable returns ai with only the addresses a LAN peer can dial, and
// whether it is a peer to act on at all: not ourselves, a valid ID, some
// address left, a wanted peer.
func (w *worker) usable(ai peer.AddrInfo) (peer.AddrInfo, bool) {
	d := w.d
	if ai.ID == d.host.ID() || ai.ID.Validate() != nil {
		return ai, false
	}
	ai.Addrs = lanAddrs(ai.Addrs, maxRemoteAddrs, 0, d.cfg.LoopbackOK)
	if len(ai.Addrs) == 0 {
		d.log.Debug("mDNS: peer announced no usable address", "peer_id", ai.ID.String())
		return ai, false
	}
	return ai, d.peers.Wanted(ai.ID)
}

// found raises Found for ai unless it was raised less than foundQuiet ago.
func (w *worker) found(ai peer.AddrInfo, now time.Time) {
	if last, ok := w.recent[ai.ID]; ok && now.Sub(last) < foundQuiet {
		return
	}
	if len(w.recent) >= maxTracked {
		for p, t := range w.recent {
			if now.Sub(t) >= foundQuiet {
				delete(w.recent, p)
			}
		}
		if len(w.recent) >= maxTracked {
			clear(w.recent)
		}
	}
	w.recent[ai.ID] = now
	w.d.peers.Found(ai)
}

// schedule dials ai now if the lower peer ID is ours, or after the
// fallback delay if not. A peer already waiting keeps its due time and
// takes the new addresses.
func (w *worker) schedule(ai peer.AddrInfo, now time.Time) {
	if wt, ok := w.pending[ai.ID]; ok {
		w.pending[ai.ID] = waiting{ai: ai, due: wt.due}
		return
	}
	if w.d.host.ID() < ai.ID {
		w.dial(ai)
		return
	}
	w.later(ai, now.Add(w.d.cfg.Fallback))
}

// later puts ai in pending, due at due, if there is room.
func (w *worker) later(ai peer.AddrInfo, due time.Time) {
	if len(w.pending) < maxTracked {
		w.pending[ai.ID] = waiting{ai: ai, due: due}
	}
}

// state is [Peers.State] with the dials of discovery added to busy.
func (w *worker) state(p peer.ID) (live, busy bool) {
	live, busy = w.d.peers.State(p)
	d := w.d
	d.mu.Lock()
	defer d.mu.Unlock()
	return live, busy || d.inflight[p]
}

// dial starts a dial of ai on a goroutine of the Discovery, or puts it
// back in pending if maxDials dials are in flight.
func (w *worker) dial(ai peer.AddrInfo) {
	d := w.d
	suffix, err := multiaddr.NewComponent("p2p", ai.ID.String())
	if err != nil || d.ctx.Err() != nil {
		return
	}
	addr := ai.Addrs[0].Encapsulate(suffix.Multiaddr())
	select {
	case d.dials <- struct{}{}:
	default:
		w.later(ai, time.Now().Add(dialRetry))
		return
	}
	d.mu.Lock()
	d.inflight[ai.ID] = true
	d.mu.Unlock()
	// The worker is itself counted in wg, so this Add never races
	// Close's Wait.
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() {
			d.mu.Lock()
			delete(d.inflight, ai.ID)
			d.mu.Unlock()
			<-d.dials
		}()
		d.peers.Dial(d.ctx, ai, addr)
	}()
}
