package p2p

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
)

// writeTimeout bounds one record write: a peer that stops reading loses its
// session instead of holding our writer forever.
const writeTimeout = 30 * time.Second

// maxQueuedReceipts bounds the receipts waiting to be written. A peer that
// sends messages without reading its own stream would otherwise grow the
// queue without bound; past the limit the session is ended.
const maxQueuedReceipts = 4096

// replayMemory is how many recent records' hashes a session keeps to tell a
// replayed record from any other failure when Open refuses it.
const replayMemory = 64

// youngSession is how long a new session counts as part of a possible
// simultaneous dial: within it, the tie-break rule keeps the session that
// the lower peer ID initiated; after it, a new session always replaces the
// old one, which the peer evidently lost.
const youngSession = 2 * e2e.HandshakeTimeout

// A session is one live end-to-end session with a peer, on one stream. The
// reader runs in the goroutine that ran the handshake; one writer goroutine
// sends everything else, so records are sealed and written in one order.
type session struct {
	n         *Node
	peer      peer.ID
	pid       string // peer.String(), which base58-encodes on every call
	st        network.Stream
	r         *bufio.Reader
	sec       *e2e.Session // sealing, opening and the ratchet
	preferred bool         // initiated by the lower peer ID: wins a tie-break
	started   time.Time
	fp        e2e.Fingerprint
	trust     Trust
	// stranger is set while the peer is a stranger (stranger.go): its
	// messages are kept in memory, not in the store.
	stranger atomic.Bool

	wmu sync.Mutex // one record sealed and written at a time
	// helloSent and announced (the name our last HELLO or NAME carried)
	// are guarded by wmu: a NAME goes out only after our HELLO (nick.go).
	helloSent bool
	announced string

	mu             sync.Mutex // guards the fields below
	receipts       [][messageIDLen]byte
	heartbeat      bool
	recvUnanswered time.Time // first record received since our last ratchet step
	localClose     bool      // we sent CLOSE (Node.Close)
	helloSeen      bool
	addrsDue       bool // our addresses changed: the writer sends ADDRS (peeraddrs.go)

	addrsSent   []byte // the last ADDRS payload sent: sendHello, then the writer
	addrsWrites int    // contact writes the peer's ADDRS caused: the reader

	wake chan struct{} // cap 1: the writer has work
	done chan struct{} // closed when the reader ended

	heartbeatInterval time.Duration
	recent            [replayMemory][16]byte // truncated hashes of records opened
	recentN           int
}

func (ss *session) kick() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
}

// sendHello writes our HELLO, the first record of the session, and our
// ADDRS right after it (peeraddrs.go). runSession
// calls it as soon as the session is registered, before the writer and the
// reader start: SessionUp on the peer waits for this record (it carries our
// name), and leaving it to the writer goroutine added a wake-up to every
// session setup. It still goes out only after the handshake, the trust
// check and any tie-break passed, and under wmu like every record.
func (ss *session) sendHello() error {
	b := recordBatch{ss: ss}
	err := b.add(func() ([]byte, error) {
		ss.helloSent, ss.announced = true, ss.n.Name()
		return ss.sec.Seal(encodeHello(ss.announced))
	})
	if err == nil {
		err = b.add(func() ([]byte, error) { return ss.sec.Seal(ss.addrsUpdate()) })
	}
	if werr := b.write(); err == nil {
		err = werr
	}
	return err
}

// closeLocal sends our authenticated CLOSE and closes our writing side; the
// reader then waits for the peer to close its side.
func (ss *session) closeLocal(deadline time.Time) {
	ss.mu.Lock()
	ss.localClose = true
	ss.mu.Unlock()
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	rec, err := ss.sec.SealClose()
	if err != nil {
		return
	}
	_ = ss.st.SetWriteDeadline(deadline)
	if err := e2e.WriteFrame(ss.st, rec); err == nil {
		_ = ss.st.CloseWrite()
	}
}

// writeLoop sends, after the HELLO that runSession already sent
// (sendHello), receipts, unacknowledged messages in order and heartbeats,
// until the reader ends. An error resets the stream, which ends the reader.
func (ss *session) writeLoop() {
	n := ss.n
	tick := time.NewTicker(ss.heartbeatInterval / 4)
	defer tick.Stop()
	var nextSeq uint64 // every unacknowledged message goes out on each new session
	for {
		if err := ss.flush(&nextSeq); err != nil {
			n.log.Debug("session write failed", "peer_id", ss.pid, "err", err)
			_ = ss.st.Reset()
			return
		}
		select {
		case <-ss.wake:
		case <-tick.C:
		case <-ss.done:
			return
		}
	}
}

func (ss *session) flush(nextSeq *uint64) error {
	ss.mu.Lock()
	receipts := ss.receipts
	ss.receipts = nil
	heartbeat := ss.heartbeat
	ss.heartbeat = false
	addrs := ss.addrsDue
	ss.addrsDue = false
	if t := ss.recvUnanswered; !t.IsZero() && time.Since(t) >= ss.heartbeatInterval {
		heartbeat = true
	}
	closing := ss.localClose
	ss.mu.Unlock()
	if closing {
		return nil
	}
	b := recordBatch{ss: ss}
	written, err := ss.fill(&b, receipts, heartbeat, addrs, nextSeq)
	if werr := b.write(); err == nil {
		err = werr
	}
	if err != nil || len(written) == 0 {
		return err
	}
	// The messages are on the stream: their texts leave the outbox mirror
	// (a later session reads them from the store) and their history state
	// becomes "sent" (a failure there loses nothing).
	pid := ss.pid
	ss.n.outq.written(pid, *nextSeq-1)
	if err := ss.n.outbox.MarkSent(pid, written); err != nil {
		ss.n.log.Error("mark sent", "err", err)
	}
	return nil
}

// fill seals into b the receipts, then our addresses if they changed since
// the peer last had them (addrs: they may have), then the unacknowledged
// messages this session has not written yet, then a heartbeat if one is
// due, and returns the IDs of the messages.
func (ss *session) fill(b *recordBatch, receipts [][messageIDLen]byte, heartbeat, addrs bool, nextSeq *uint64) ([][messageIDLen]byte, error) {
	// A receipt carries no user content: it is sealed without a ratchet
	// step (e2e.Session.SealControl), so answering each message costs no
	// X25519 work; the heartbeat still steps (PROTOCOL.md).
	for _, id := range receipts {
		if err := b.add(func() ([]byte, error) { return ss.sec.SealControl(encodeReceipt(id)) }); err != nil {
			return nil, err
		}
	}
	var update []byte
	if addrs {
		if update = ss.addrsUpdate(); update != nil {
			if err := b.add(func() ([]byte, error) { return ss.sec.Seal(update) }); err != nil {
				return nil, err
			}
		}
	}
	if err := ss.fillFiles(b); err != nil { // filesession.go
		return nil, err
	}
	var written [][messageIDLen]byte
	if ss.n.isCurrent(ss) {
		var err error
		if written, err = ss.fillOutbox(b, nextSeq); err != nil {
			return nil, err
		}
	}
	// A chat message carries a fresh ratchet key, a receipt does not: the
	// heartbeat is needed when nothing went out (it then also keeps the
	// session alive) or when only receipts did and a step is still owed.
	sent := len(receipts) > 0 || len(written) > 0 || update != nil
	if heartbeat && (!sent || ss.sec.StepOwed()) {
		if err := b.add(ss.sec.SealHeartbeat); err != nil {
			return nil, err
		}
	}
	return written, nil
}

// fillOutbox seals into b the unacknowledged messages this session has not
// written yet (seq >= *nextSeq), in order, advances *nextSeq and returns
// their IDs. It reads the outbox's in-memory mirror (outqueue.go), so a
// flush costs O(new messages); only the messages an earlier session already
// wrote (whose texts the mirror dropped) are read from the store, once, at
// this session's first flush.
func (ss *session) fillOutbox(b *recordBatch, nextSeq *uint64) ([][messageIDLen]byte, error) {
	pid := ss.pid
	msgs, missing, hasMissing, err := ss.n.outq.next(pid, *nextSeq)
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	if hasMissing {
		stored, err := ss.n.outbox.Pending(pid, missing)
		if err != nil {
			return nil, err
		}
		texts := make(map[uint64]string, len(stored))
		for _, m := range stored {
			texts[m.seq] = m.text
		}
		kept := msgs[:0]
		for _, m := range msgs {
			if m.seq >= missing {
				t, ok := texts[m.seq]
				if !ok {
					continue // acknowledged meanwhile
				}
				m.text = t
			}
			kept = append(kept, m)
		}
		msgs = kept
	}
	written := make([][messageIDLen]byte, 0, len(msgs))
	for _, m := range msgs {
		if err := b.add(func() ([]byte, error) { return ss.sec.Seal(encodeChat(m.id, m.sentAt, m.text)) }); err != nil {
			return nil, err
		}
		*nextSeq = m.seq + 1
		written = append(written, m.id)
	}
	return written, nil
}

// readLoop reads and opens records until the stream ends, and returns the
// reason the session ended.
func (ss *session) readLoop() string {
	n := ss.n
	for {
		frame, err := ss.readFrame() // under the idle and frame deadlines (limits.go)
		if err != nil {
			if isTimeout(err) && ss.n.ctx.Err() == nil {
				n.logRemote(slog.LevelDebug, "session stream timed out", "peer_id", ss.pid)
				return ss.endReason("timeout")
			}
			if errors.Is(err, e2e.ErrFrameTooLarge) || errors.Is(err, e2e.ErrBadFrame) {
				n.logRemote(slog.LevelDebug, "bad frame", "peer_id", ss.pid, "err", err)
				n.alert(AlertBadFrame, ss.peer, "malformed or oversized frame; session ended")
				return "error"
			}
			return ss.endReason("cut")
		}
		h := replayDigest(frame)
		typ, pt, err := ss.sec.Open(frame)
		if err != nil {
			// The session is dead either way; the alert only tells the
			// user whether the record was a copy of one already opened.
			kind, msg := AlertBadFrame, "a record failed authentication; session ended"
			if ss.seenRecord(h) {
				kind, msg = AlertReplay, "a record was replayed; session ended"
			}
			n.logRemote(slog.LevelDebug, "record refused", "peer_id", ss.pid, "err", err)
			n.alert(kind, ss.peer, msg)
			return "error"
		}
		ss.rememberRecord(h)
		ss.mu.Lock()
		if ss.recvUnanswered.IsZero() {
			ss.recvUnanswered = time.Now()
		}
		ss.mu.Unlock()
		switch typ {
		case e2e.RecordClose:
			return "closed"
		case e2e.RecordData:
			if !ss.handlePayload(pt) {
				return "error"
			}
		}
		if ss.sec.HeartbeatDue() {
			ss.mu.Lock()
			ss.heartbeat = true
			ss.mu.Unlock()
			ss.kick()
		}
	}
}

// isTimeout reports whether err is a stream deadline expiring.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readFrame reads one record frame under the stream deadlines: the session
// may be idle for the node's idle timeout, but once a frame has begun it
// must be complete within its frame timeout. A deadline is set only before a read
// that can block: setting one resets a timer, and records that arrive
// together (receipts, bursts) are read from the buffer without any.
func (ss *session) readFrame() ([]byte, error) {
	if ss.r.Buffered() == 0 {
		_ = ss.st.SetReadDeadline(time.Now().Add(ss.n.set.idleTimeout))
		if _, err := ss.r.Peek(1); err != nil {
			return nil, err
		}
	}
	if !frameBuffered(ss.r) {
		_ = ss.st.SetReadDeadline(time.Now().Add(ss.n.set.frameTimeout))
	}
	return e2e.ReadFrame(ss.r, e2e.MaxFrameSize)
}

// frameBuffered reports whether r's buffer holds a whole frame (length and
// body), so that reading it cannot block.
func frameBuffered(r *bufio.Reader) bool {
	head, _ := r.Peek(min(r.Buffered(), binary.MaxVarintLen64))
	n, k := binary.Uvarint(head)
	return k > 0 && n <= uint64(r.Buffered()-k)
}

// endReason is "local" once we sent CLOSE ourselves, else reason.
func (ss *session) endReason(reason string) string {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.localClose {
		return "local"
	}
	return reason
}

// replayDigest identifies a record for the replay alert without hashing
// all of a 64 KiB record on every receive (a third of the receive cost):
// the length, the clear header (ratchet key and counters, which no two
// records of a session share) and the last 16 bytes (the AEAD tag). A
// replay is an exact copy, so it always matches; the digest only chooses
// the alert's wording, the session ends either way.
func replayDigest(frame []byte) [32]byte {
	const head, tail = 64, 16
	if len(frame) <= head+tail {
		return sha256.Sum256(frame)
	}
	var b [8 + head + tail]byte
	binary.BigEndian.PutUint64(b[:8], uint64(len(frame)))
	copy(b[8:], frame[:head])
	copy(b[8+head:], frame[len(frame)-tail:])
	return sha256.Sum256(b[:])
}

func (ss *session) seenRecord(h [32]byte) bool {
	for i := 0; i < min(ss.recentN, replayMemory); i++ {
		if [16]byte(h[:16]) == ss.recent[i] {
			return true
		}
	}
	return false
}

func (ss *session) rememberRecord(h [32]byte) {
	ss.recent[ss.recentN%replayMemory] = [16]byte(h[:16])
	ss.recentN++
}

// handlePayload acts on one chat payload; false ends the session.
func (ss *session) handlePayload(pt []byte) bool {
	n := ss.n
	if isFilePayload(pt) && ss.helloDone() {
		return ss.handleFilePayload(pt) // filesession.go
	}
	p, err := parsePayload(pt)
	ss.mu.Lock()
	first := !ss.helloSeen
	ss.mu.Unlock()
	// The first DATA record of each side is its HELLO, and only the first.
	if err != nil || first != (p.typ == payloadHello) {
		n.logRemote(slog.LevelDebug, "bad chat payload", "peer_id", ss.pid)
		n.alert(AlertBadFrame, ss.peer, "malformed chat payload; session ended")
		return false
	}
	switch p.typ {
	case payloadHello:
		ss.mu.Lock()
		ss.helloSeen = true
		ss.mu.Unlock()
		n.onHello(ss, SanitizeName(p.name))
	case payloadChat:
		// A message on a session that lost a tie-break is dropped without
		// a receipt: the sender resends it on the session that won.
		if !n.onChat(ss, p) || n.set.dropReceipts() {
			return true
		}
		ss.mu.Lock()
		if len(ss.receipts) >= maxQueuedReceipts {
			ss.mu.Unlock()
			n.logRemote(slog.LevelDebug, "peer does not read its receipts", "peer_id", ss.pid)
			return false
		}
		ss.receipts = append(ss.receipts, p.id)
		ss.mu.Unlock()
		ss.kick()
	case payloadReceipt:
		n.onReceipt(ss, p.id)
	case payloadName:
		n.onName(ss, SanitizeName(p.name)) // nick.go
	case payloadAddrs:
		n.onAddrs(ss, p.addrs)
	}
	return true
}
