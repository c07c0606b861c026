package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/mdns"
	"github.com/securechat/securechat/p2p/store"
)

// eventBuffer is how many events wait for a slow reader before the session
// goroutines block (back pressure on the peers, never lost events).
const eventBuffer = 256

// closeGrace bounds how long Close waits for peers to answer our CLOSE by
// closing their side, before it resets what is left.
const closeGrace = 2 * time.Second

// A Node is one securechat participant: a go-libp2p host, its identity, its
// sessions and its store. Its methods are safe for concurrent use.
type Node struct {
	log     *slog.Logger
	host    host.Host
	selfID  string // host.ID().String(), encoded once
	rm      network.ResourceManager
	hostKey crypto.PrivKey
	id      *e2e.Identity
	bundle  *e2e.Bundle
	store   store.Store
	// contacts is store with its contact list cached (contactcache.go);
	// strangers are the peers that are no contacts yet (stranger.go).
	contacts  *contactCache
	strangers *strangerTable
	outbox    outbox
	outq      *outQueue // in-memory mirror of the outbox (outqueue.go)
	events    chan Event
	redial    redialer   // see redial.go
	files     *fileState // file transfers (filestate.go)

	// Defences against hostile peers (gater.go, ratelimit.go).
	gater     *gater     // blocked peers, refused at the connection
	admission *admission // responder handshake limits
	rlog      *remoteLog // rate limit of remote-caused log lines

	// set holds the node's timings (settings.go); read only.
	set settings

	// disc is the mDNS discovery (discovery.go); nil without Config.MDNS.
	disc *mdns.Discovery

	// wan holds relays, hole punching and the address watch
	// (reachability.go, path.go).
	wan *wanState

	// ctx ends when Close starts tearing down; AfterFuncs on it reset
	// every stream so no read blocks past Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the node starts or tracks

	// mu guards the fields below. evMu orders events: it is taken while
	// mu is still held (see unlockAndEmit), so events leave in the order
	// of the state changes that caused them, without sending on the
	// channel while holding mu.
	mu        sync.Mutex
	evMu      sync.Mutex
	closed    bool
	peers     map[peer.ID]*peerState
	trustMu   sync.Mutex // serializes read-modify-write of contacts
	nameMu    sync.Mutex // guards name (nick.go)
	name      string     // the own nickname, sent in HELLO and NAME
	closeOnce sync.Once
	closeErr  error
}

// peerState is what the node knows about one remote peer while it runs.
type peerState struct {
	current  *session      // the live session, if any
	pending  int           // handshakes in flight (dials and incoming)
	up       bool          // SessionUp raised and no SessionDown since
	down     string        // SessionDown reason held while pending > 0
	changed  chan struct{} // closed and replaced on every change above
	dialing  chan struct{} // non-nil while Connect dials; closed at its end
	lastSeen time.Time
	conn     string // ConnDirect or ConnRelayed: the path last reported (path.go)
	// pin is the fingerprint pinned for the peer when its last session
	// was admitted, or that the user accepted since (TrustNewKey): a
	// session under any other key is not used (pin.go).
	pin e2e.Fingerprint
}

// notify wakes everything waiting for a change of ps.
func (ps *peerState) notify() {
	close(ps.changed)
	ps.changed = make(chan struct{})
}

// nodeKeys are a node's long-term secrets.
type nodeKeys struct {
	host    crypto.PrivKey
	id      *e2e.Identity
	storage [32]byte
}

// New starts a node: it unlocks (or creates) the key file in cfg.Home, or
// makes fresh keys in memory with cfg.Ephemeral, opens the store, starts
// the libp2p host and raises [Ready] as the first event.
func New(ctx context.Context, cfg Config) (*Node, error) {
	return newNode(ctx, cfg, defaultSettings())
}

// newNode is [New] with the given settings (settings.go).
func newNode(ctx context.Context, cfg Config, set settings) (*Node, error) {
	if cfg.MaxSessions < 0 {
		return nil, fmt.Errorf("p2p: MaxSessions %d is negative", cfg.MaxSessions)
	}
	keys, err := loadKeys(cfg, set.newIdentity)
	if err != nil {
		return nil, err
	}
	var st store.Store
	if cfg.Ephemeral {
		st = store.OpenMemory(keys.storage)
	} else {
		st, err = openStore(cfg.Home, keys.storage)
		if err != nil {
			return nil, err
		}
	}
	n, err := start(ctx, cfg, set, keys, st)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return n, nil
}

// start brings a node up with the given settings, keys and store, which it
// then owns.
func start(ctx context.Context, cfg Config, set settings, keys nodeKeys, st store.Store) (*Node, error) {
	log := cfg.Logger
	if log == nil {
		log = discardLogger
	}
	cc := newContactCache(st)
	n := &Node{
		log:       log,
		set:       set,
		hostKey:   keys.host,
		id:        keys.id,
		store:     cc,
		contacts:  cc,
		strangers: newStrangerTable(),
		outbox:    storeOutbox{st},
		events:    make(chan Event, eventBuffer),
		peers:     make(map[peer.ID]*peerState),
	}
	n.outq = newOutQueue(n.outbox)
	files, err := newFileState(cfg, st, log) // filestate.go
	if err != nil {
		return nil, err
	}
	n.files = files
	name, err := startName(st, cfg) // nick.go
	if err != nil {
		return nil, err
	}
	n.name = name
	if cfg.Logger != nil {
		libp2pLogs.root.set(n, cfg.Logger)
	}
	pid, err := peer.IDFromPrivateKey(keys.host)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	n.selfID = pid.String()
	// The bundle is signed once: every handshake sends the same bytes.
	n.bundle, err = e2e.NewBundle(keys.id, []byte(pid), hostSigner{keys.host})
	if err != nil {
		return nil, fmt.Errorf("identity bundle: %w", err)
	}
	n.gater, n.admission, n.rlog = newGater(), newAdmission(), &remoteLog{}
	if err := n.gater.load(st); err != nil {
		return nil, err
	}
	capacity := capacityLimits(cfg.MaxSessions)
	n.rm, err = newResourceManager(capacity)
	if err != nil {
		return nil, err
	}
	var wanOpts []libp2p.Option
	n.wan, wanOpts, err = newWAN(cfg)
	if err != nil {
		libp2pLogs.root.clear(n)
		_ = n.rm.Close()
		return nil, err
	}
	n.host, err = newHost(keys.host, cfg.ListenAddrs, n.rm, capacity, append(wanOpts, libp2p.ConnectionGater(n.gater))...)
	if err == nil {
		n.wan.dropAutoNATServer(n.host) // before it listens on its defaults (autonat.go)
	}
	if err == nil && len(cfg.ListenAddrs) == 0 {
		home := cfg.Home
		if cfg.Ephemeral {
			home = "" // no ports kept
		}
		if err = listenDefaults(n.host, set.listenDefaults, home, log); err != nil {
			_ = n.host.Close()
		}
	}
	if err != nil {
		libp2pLogs.root.clear(n)
		_ = n.rm.Close()
		return nil, err
	}
	// The node's lifetime is its own; ctx only bounds the start.
	n.ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := n.startWAN(cfg); err != nil {
		n.cancel()
		n.wg.Wait()
		n.stopWAN()
		_ = n.host.Close()
		_ = n.rm.Close()
		libp2pLogs.root.clear(n)
		return nil, err
	}

	// Ready goes into the buffer before the handler exists, so it is the
	// first event whatever a peer does.
	ready := Ready{PeerID: n.PeerID(), Fingerprint: n.Fingerprint(), Name: n.Name(), Addrs: n.Addrs()}
	n.emit(ready)
	n.watchAddrs(ready.Addrs) // AddrsChanged from now on (reachability.go)
	n.host.SetStreamHandler(protocol.ID(e2e.ProtocolID), n.handleStream)
	n.host.SetStreamHandler(protocol.ID(FileProtocolID), n.handleFileStream)
	n.startFiles() // filestate.go
	if cfg.MDNS {
		n.disc = n.startDiscovery(mdns.Config{})
	}
	n.startRedial()
	// At the default level the log names no identity, this node's
	// included (SECURITY.md, "At rest"); debug has them.
	n.log.Info("node started")
	n.log.Debug("node identity", "peer_id", n.PeerID(), "fingerprint", n.Fingerprint().String())
	return n, nil
}

// Events returns the node's event channel. [Ready] comes first; the
// channel is closed by [Node.Close] once every goroutine of the node ended.
func (n *Node) Events() <-chan Event { return n.events }

// PeerID returns the node's libp2p peer ID.
func (n *Node) PeerID() string { return n.selfID }

// Fingerprint returns the fingerprint of the node's RSA identity.
func (n *Node) Fingerprint() e2e.Fingerprint { return n.id.Fingerprint() }

// Addrs returns the node's listen addresses, each ending in /p2p/<id>.
func (n *Node) Addrs() []string { return fullAddrs(n.host) }

// enter registers a caller (an API call or a goroutine) with the node's wait
// group, unless the node is closing.
func (n *Node) enter() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	n.wg.Add(1)
	return nil
}

// goTracked runs f in a goroutine owned by the node; it reports false if the
// node is closing and f was not started.
func (n *Node) goTracked(f func()) bool {
	if n.enter() != nil {
		return false
	}
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// peer returns the state for p, creating it. The caller holds n.mu.
func (n *Node) peer(p peer.ID) *peerState {
	ps := n.peers[p]
	if ps == nil {
		ps = &peerState{changed: make(chan struct{})}
		n.peers[p] = ps
	}
	return ps
}

// liveSessionsLocked returns every peer's current session, up or still
// starting. The caller holds n.mu.
func (n *Node) liveSessionsLocked() []*session {
	var live []*session
	for _, ps := range n.peers {
		if ps.current != nil {
			live = append(live, ps.current)
		}
	}
	return live
}

// emit sends ev. It blocks while the buffer is full (slowing the peers
// down), but never once Close has begun: then an event that does not fit
// is dropped.
func (n *Node) emit(ev Event) {
	n.evMu.Lock()
	defer n.evMu.Unlock()
	n.emitLocked(ev)
}

// unlockAndEmit releases n.mu and sends evs, keeping them in the order of
// the state changes made under n.mu.
func (n *Node) unlockAndEmit(evs ...Event) {
	if len(evs) == 0 {
		n.mu.Unlock()
		return
	}
	n.evMu.Lock()
	n.mu.Unlock()
	defer n.evMu.Unlock()
	for _, ev := range evs {
		n.emitLocked(ev)
	}
}

// emitLocked is emit for a caller that holds n.evMu.
func (n *Node) emitLocked(ev Event) {
	select {
	case n.events <- ev:
		return
	default:
	}
	select {
	case n.events <- ev:
	case <-n.ctx.Done():
	}
}

// alert raises a security alert and logs it.
func (n *Node) alert(kind string, p peer.ID, msg string) {
	// Peers cause alerts: their log lines are rate-limited (a flood of
	// failed handshakes from strangers is one line in many), and only a
	// key change (which needs the peer's own host key) is a warning. The
	// warning names no peer: peer IDs, fingerprints and names appear at
	// debug only (SECURITY.md, "At rest"); the user sees them in the
	// alert event.
	if kind == AlertKeyChanged {
		n.logRemote(slog.LevelWarn, "alert", "kind", kind)
	}
	n.logRemote(slog.LevelDebug, "alert", "kind", kind, "peer_id", p.String(), "message", msg)
	n.emit(Alert{Kind: kind, PeerID: p.String(), Message: msg})
}

// Close ends every session with an authenticated CLOSE, stops the host and
// the store, waits for all of the node's goroutines and closes the event
// channel. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	n.mu.Lock()
	n.closed = true
	live := n.liveSessionsLocked()
	n.mu.Unlock()
	n.host.RemoveStreamHandler(protocol.ID(e2e.ProtocolID))
	n.host.RemoveStreamHandler(protocol.ID(FileProtocolID))

	// Say goodbye on every session, then give the peers a moment to close
	// their side: a CLOSE lost in a reset would be reported as a cut.
	deadline := time.Now().Add(closeGrace)
	for _, ss := range live {
		ss.closeLocal(deadline)
	}
	for _, ss := range live {
		select {
		case <-ss.done:
		case <-time.After(time.Until(deadline)):
		}
	}
	n.cancel()
	if n.disc != nil {
		// After cancel: its callbacks emit, which blocks until then.
		// Announcements are ignored from the start of Close (Wanted).
		_ = n.disc.Close()
	}
	n.wg.Wait()
	n.stopWAN() // relay service, reservations, hole punching: before the host
	n.files.close()

	var errs []error
	// Connections and listeners go first, so no identify push can come in
	// while the host closes: go-libp2p v0.51's observed-address manager
	// stops reading its identify subscription without closing it, and an
	// identify handler that then emits blocks forever while holding the
	// event bus lock that AutoNAT's Close needs (host.Close never returned
	// with hundreds of peers closing at once; bench_load_test.go).
	_ = n.host.Network().Close()
	if err := n.host.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close host: %w", err))
	}
	if err := n.rm.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close resource manager: %w", err))
	}
	if err := n.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	libp2pLogs.root.clear(n)
	n.evMu.Lock()
	close(n.events)
	n.evMu.Unlock()
	return errors.Join(errs...)
}

// Peers lists the known peers, the contacts in the store and the strangers
// tracked (Stranger set; stranger.go), sorted by peer ID, with their
// session state. A peer is online only while its live session is under
// its pinned key.
func (n *Node) Peers() []PeerInfo {
	contacts, _, err := n.contacts.snapshot()
	if err != nil {
		n.log.Error("list contacts", "err", err)
		if contacts == nil {
			return []PeerInfo{}
		}
	}
	strangers := n.strangers.list()
	out := make([]PeerInfo, 0, len(contacts)+len(strangers))
	for _, c := range contacts {
		out = append(out, PeerInfo{
			PeerID:      c.PeerID,
			Fingerprint: c.Fingerprint,
			Name:        c.Name,
			State:       PeerOffline,
			Conn:        "none",
			Trust:       c.Trust,
			KeyChanged:  !c.PendingFingerprint.IsZero(),

			PendingFingerprint: c.PendingFingerprint,
			Label:              c.Label,
			Blocked:            c.Blocked,
		})
	}
	out = append(out, strangers...)
	n.mu.Lock()
	for i := range out {
		if p, err := peer.Decode(out[i].PeerID); err == nil {
			if ss := n.liveLocked(p); ss != nil && ss.fp.Equal(out[i].Fingerprint) {
				out[i].State, out[i].Conn = PeerOnline, n.peers[p].conn
			}
		}
	}
	n.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].PeerID < out[j].PeerID })
	markCollisions(out)
	return out
}
