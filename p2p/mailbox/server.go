package mailbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
)

// Defaults of [ServerConfig].
const (
	DefaultPerCapabilityBytes     = 16 << 20
	DefaultPerCapabilityEnvelopes = 10_000
	DefaultTotalBytes             = 1 << 30
	DefaultTotalEnvelopes         = 200_000
	DefaultMaxCapabilities        = 10_000
	DefaultTTL                    = 30 * 24 * time.Hour
	// DefaultRequestsPerSecond bounds the requests of one remote peer: a
	// token bucket per peer, holding four seconds' worth.
	DefaultRequestsPerSecond = 50
)

// Bounds on what one peer can make a mailbox spend. Frame sizes are
// bounded in wire.go.
const (
	// maxStreams is the most request streams of non-owners handled at
	// once.
	maxStreams = 64
	// maxStreamsPerPeer is the most request streams of one peer at once.
	maxStreamsPerPeer = 8
	// maxWatchesPerOwner is the most live watch streams of one owner.
	maxWatchesPerOwner = 4
	// streamTimeout is the deadline of a request stream, from its start
	// to its last byte.
	streamTimeout = 30 * time.Second
	// writeTimeout bounds one write on a watch stream.
	writeTimeout = 10 * time.Second
	// maxRatePeers bounds the rate limiter's table.
	maxRatePeers = 4096
)

// keepaliveInterval is how often a watch stream carries a keepalive tick,
// so that both ends find a dead stream; a variable for tests.
var keepaliveInterval = 30 * time.Second

// ServerConfig configures a mailbox. Zero fields take the defaults above.
type ServerConfig struct {
	// Dir holds the store, Dir/mailbox.db (directory 0700, file 0600).
	Dir string
	// Owners are the only peers that may register, grant, revoke, fetch,
	// delete, ask the status and watch. At least one.
	Owners []peer.ID
	// PerCapabilityBytes and PerCapabilityEnvelopes bound what is held
	// under one capability (defaults 16 MiB and 10,000); TotalBytes and
	// TotalEnvelopes what the mailbox holds in all (1 GiB and 200,000).
	PerCapabilityBytes     int64
	TotalBytes             int64
	PerCapabilityEnvelopes int
	TotalEnvelopes         int
	// MaxCapabilities bounds the grants held, over all owners (10,000).
	MaxCapabilities int
	// RequestsPerSecond bounds the requests (streams) of one remote peer,
	// owners included, with a burst of four seconds' worth (50).
	RequestsPerSecond int
	// TTL is how long an envelope is kept (30 days). An expired envelope
	// is never served, and is deleted at start and by a timer.
	TTL time.Duration
	// Now is the clock (time.Now); tests set it.
	Now func() time.Time
	// Logger receives the mailbox's logs (none if nil). Deposits are
	// logged at debug level only, and never with the depositor's peer.
	Logger *slog.Logger
}

// A Server is a mailbox: it holds sealed envelopes for its owners, on a
// libp2p host, under [ProtocolID].
type Server struct {
	h      host.Host
	cfg    ServerConfig
	qs     quotas
	db     *db
	log    *slog.Logger
	owners map[peer.ID]queueID

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// jobs hands deposits to the committer (unbuffered: a job taken is
	// a job answered).
	jobs chan *depositJob

	mu       sync.Mutex
	closed   bool
	streams  int
	perPeer  map[peer.ID]int
	rate     map[peer.ID]*bucket
	watchers map[queueID]map[chan struct{}]struct{}
}

// NewServer opens (or creates) the store in cfg.Dir, purges expired
// envelopes and sets the mailbox's stream handler on h. Close removes it.
func NewServer(h host.Host, cfg ServerConfig) (*Server, error) {
	if len(cfg.Owners) == 0 {
		return nil, errors.New("mailbox: no owners")
	}
	if cfg.PerCapabilityBytes < 0 || cfg.TotalBytes < 0 || cfg.PerCapabilityEnvelopes < 0 ||
		cfg.TotalEnvelopes < 0 || cfg.MaxCapabilities < 0 || cfg.RequestsPerSecond < 0 || cfg.TTL < 0 {
		return nil, errors.New("mailbox: negative limit")
	}
	cfg.PerCapabilityBytes = orDefault(cfg.PerCapabilityBytes, DefaultPerCapabilityBytes)
	cfg.TotalBytes = orDefault(cfg.TotalBytes, DefaultTotalBytes)
	cfg.PerCapabilityEnvelopes = orDefault(cfg.PerCapabilityEnvelopes, DefaultPerCapabilityEnvelopes)
	cfg.TotalEnvelopes = orDefault(cfg.TotalEnvelopes, DefaultTotalEnvelopes)
	cfg.MaxCapabilities = orDefault(cfg.MaxCapabilities, DefaultMaxCapabilities)
	cfg.RequestsPerSecond = orDefault(cfg.RequestsPerSecond, DefaultRequestsPerSecond)
	cfg.TTL = orDefault(cfg.TTL, DefaultTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d, err := openDB(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Server{
		h: h, cfg: cfg, db: d, log: log,
		qs: quotas{
			capBytes: cfg.PerCapabilityBytes, totalBytes: cfg.TotalBytes,
			capEnvelopes: int64(cfg.PerCapabilityEnvelopes), totalEnvelopes: int64(cfg.TotalEnvelopes),
			maxCapabilities: cfg.MaxCapabilities,
		},
		owners:   make(map[peer.ID]queueID, len(cfg.Owners)),
		jobs:     make(chan *depositJob),
		perPeer:  make(map[peer.ID]int),
		rate:     make(map[peer.ID]*bucket),
		watchers: make(map[queueID]map[chan struct{}]struct{}),
	}
	s.qs.live = make(map[queueID]bool, len(cfg.Owners))
	for _, o := range cfg.Owners {
		s.owners[o] = d.queue(o)
		s.qs.live[s.owners[o]] = true
	}
	if n, err := d.purge(cfg.Now().Add(-cfg.TTL)); err != nil {
		_ = d.close()
		return nil, fmt.Errorf("mailbox: purge: %w", err)
	} else if n > 0 {
		log.Info("mailbox: expired envelopes deleted", "count", n)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.purgeLoop()
	go s.committer()
	h.SetStreamHandler(ProtocolID, s.handle)
	return s, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Close removes the stream handler, ends every stream in progress (watches
// included), waits for their handlers and closes the store. A deposit
// whose answer had not been written may or may not be stored; its sender
// deposits it again.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.h.RemoveStreamHandler(ProtocolID)
	s.cancel()
	s.wg.Wait()
	return s.db.close()
}

// purgeLoop deletes expired envelopes and idle rate-limit entries, until
// Close.
func (s *Server) purgeLoop() {
	defer s.wg.Done()
	t := time.NewTicker(max(min(s.cfg.TTL/4, time.Hour), time.Second))
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.purge(s.cfg.Now().Add(-s.cfg.TTL))
		s.mu.Lock()
		s.pruneRate(time.Now())
		s.mu.Unlock()
	}
}

// purge deletes the envelopes received at or before cutoff. It costs one
// read transaction when none is due, so fetch and status run it first and
// count and serve only live envelopes.
func (s *Server) purge(cutoff time.Time) {
	if n, err := s.db.purge(cutoff); err != nil {
		s.log.Warn("mailbox: purge failed", "err", err)
	} else if n > 0 {
		s.log.Info("mailbox: expired envelopes deleted", "count", n)
	}
}

// admit takes a stream slot for p, or refuses: closing, too many streams,
// or p over its request rate. Owners are held to their own per-peer
// bounds only, so that a crowd of other peers cannot lock them out of
// their mailbox.
func (s *Server) admit(p peer.ID) bool {
	_, owner := s.owners[p]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || (!owner && s.streams >= maxStreams) || s.perPeer[p] >= maxStreamsPerPeer ||
		!s.allow(p, owner, time.Now()) {
		return false
	}
	s.streams++
	s.perPeer[p]++
	s.wg.Add(1)
	return true
}

// release gives back p's stream slot.
func (s *Server) release(p peer.ID) {
	s.mu.Lock()
	s.streams--
	if s.perPeer[p]--; s.perPeer[p] <= 0 {
		delete(s.perPeer, p)
	}
	s.mu.Unlock()
	s.wg.Done()
}

// handle serves one stream: one request, one answer.
func (s *Server) handle(st network.Stream) {
	p := st.Conn().RemotePeer()
	if !s.admit(p) {
		// Told in one short write, so that a busy mailbox is not taken
		// for an unreachable one.
		if st.SetDeadline(time.Now().Add(time.Second)) == nil {
			s.answer(st, codeUnavailable, nil)
		} else {
			_ = st.Reset()
		}
		return
	}
	defer s.release(p)
	stop := context.AfterFunc(s.ctx, func() { _ = st.Reset() })
	defer stop()
	if err := st.SetDeadline(time.Now().Add(streamTimeout)); err != nil {
		_ = st.Reset()
		return
	}
	body, err := e2e.ReadFrame(bufio.NewReader(st), maxRequestSize)
	if err != nil {
		s.log.Debug("mailbox: bad request frame", "err", err)
		if errors.Is(err, e2e.ErrFrameTooLarge) {
			// Refused from its length alone, its body unread.
			s.answer(st, codeTooLarge, nil)
			return
		}
		_ = st.Reset()
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		s.answer(st, errorCode(err), nil)
		return
	}
	q, owner := s.owners[p]
	if req.op != opDeposit && !owner {
		s.log.Debug("mailbox: owner request from a non-owner", "op", req.op)
		s.answer(st, codeNotOwner, nil)
		return
	}
	switch req.op {
	case opRegister:
		s.answer(st, codeOK, nil)
	case opGrant:
		s.answerErr(st, s.db.grant(q, req.cap, s.qs.maxCapabilities))
	case opRevoke:
		s.answerErr(st, s.db.revoke(q, req.cap))
	case opDeposit:
		s.deposit(st, req)
	case opFetch:
		s.fetch(st, q, req.max)
	case opDelete:
		s.answerErr(st, s.db.remove(q, req.keys))
	case opStatus:
		s.status(st, q)
	case opWatch:
		s.watch(st, q)
	}
}

// maxBatch bounds the deposits of one group commit.
const maxBatch = 64

// committer stores the deposits handed to it, all those waiting in one
// transaction and one fsync, until Close.
func (s *Server) committer() {
	defer s.wg.Done()
	for {
		var batch []*depositJob
		select {
		case <-s.ctx.Done():
			return
		case j := <-s.jobs:
			batch = append(batch, j)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		if err := s.db.depositBatch(batch, s.qs); err != nil {
			for _, j := range batch {
				j.err = err
			}
		}
		for _, j := range batch {
			close(j.done)
		}
	}
}

// deposit stores one envelope and answers once it is on disk.
func (s *Server) deposit(st network.Stream, req request) {
	j := &depositJob{cp: req.cap, env: req.envelope, now: s.cfg.Now(), done: make(chan struct{})}
	select {
	case s.jobs <- j:
	case <-s.ctx.Done():
		s.answer(st, codeUnavailable, nil)
		return
	}
	<-j.done
	q, fresh, err := j.q, j.fresh, j.err
	if err != nil {
		s.log.Debug("mailbox: deposit refused", "err", err)
		s.answerErr(st, err)
		return
	}
	if fresh {
		s.notify(q)
	}
	s.answer(st, codeOK, nil)
}

// fetch answers with q's oldest unexpired envelopes.
func (s *Server) fetch(st network.Stream, q queueID, max int) {
	cutoff := s.cfg.Now().Add(-s.cfg.TTL)
	s.purge(cutoff)
	items, err := s.db.fetch(q, max, cutoff)
	if err != nil {
		s.answerErr(st, err)
		return
	}
	buf := e2e.AppendFrame(nil, []byte{codeOK, byte(len(items) >> 8), byte(len(items))})
	for _, it := range items {
		buf = e2e.AppendFrame(buf, appendItem(make([]byte, 0, itemHeaderSize+len(it.Data)), it))
	}
	if _, err := st.Write(buf); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// status answers with q's counts.
func (s *Server) status(st network.Stream, q queueID) {
	s.purge(s.cfg.Now().Add(-s.cfg.TTL))
	qc, total, err := s.db.status(q)
	if err != nil {
		s.answerErr(st, err)
		return
	}
	s.answer(st, codeOK, appendStatus(nil, Status{
		Waiting: int(qc.n), Bytes: qc.bytes,
		QuotaBytes: s.cfg.TotalBytes, FreeBytes: max(s.cfg.TotalBytes-total.bytes, 0),
	}))
}

// answerErr answers with err's code; an error that is not the package's
// (a storage failure) is logged and answered as unavailable.
func (s *Server) answerErr(st network.Stream, err error) {
	code := errorCode(err)
	if code == codeUnavailable {
		s.log.Warn("mailbox: request failed", "err", err)
	}
	s.answer(st, code, nil)
}

// answer writes one response frame and closes the stream.
func (s *Server) answer(st network.Stream, code byte, body []byte) {
	if err := e2e.WriteFrame(st, append([]byte{code}, body...)); err != nil {
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// bucket is a token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// allow takes a token of p's bucket. A full table refuses new peers
// but never an owner. s.mu is held.
func (s *Server) allow(p peer.ID, owner bool, now time.Time) bool {
	b := s.rate[p]
	if b == nil {
		if len(s.rate) >= maxRatePeers && !owner {
			s.pruneRate(now)
			if len(s.rate) >= maxRatePeers {
				return false
			}
		}
		b = &bucket{tokens: 4 * float64(s.cfg.RequestsPerSecond), last: now}
		s.rate[p] = b
	}
	rate := float64(s.cfg.RequestsPerSecond)
	b.tokens = min(4*rate, b.tokens+now.Sub(b.last).Seconds()*rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// pruneRate forgets the buckets that have refilled: they are the same as
// new ones. s.mu is held.
func (s *Server) pruneRate(now time.Time) {
	rate := float64(s.cfg.RequestsPerSecond)
	for p, b := range s.rate {
		if b.tokens+now.Sub(b.last).Seconds()*rate >= 4*rate {
			delete(s.rate, p)
		}
	}
}
