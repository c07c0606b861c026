package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/store"
)

// handleStream is the /securechat/1.0.0 handler: the remote peer dialled us,
// so we are the responder.
func (n *Node) handleStream(st network.Stream) {
	if n.enter() != nil {
		_ = st.Reset()
		return
	}
	defer n.wg.Done()
	remote := st.Conn().RemotePeer()
	// Admission before a single byte is read: a flood costs no RSA work
	// (ratelimit.go). runSession ends the allowed handshake.
	if !n.allowHandshake(remote) {
		_ = st.Reset()
		return
	}
	n.mu.Lock()
	n.peer(remote).pending++
	n.mu.Unlock()
	n.runSession(st, false)
}

// runSession runs the handshake, the trust check and, if both pass and the
// session wins any tie-break, the session itself, on st. The caller has
// counted the attempt in the peer's pending handshakes; runSession ends
// that count.
func (n *Node) runSession(st network.Stream, initiator bool) {
	remote := st.Conn().RemotePeer()
	// Cancel blocking reads and writes when the node closes.
	stop := context.AfterFunc(n.ctx, func() { _ = st.Reset() })
	defer stop()

	ss, err := n.handshake(st, initiator)
	if !initiator {
		n.handshakeDone(remote)
	}
	if err != nil {
		n.endPending(remote)
		_ = st.Reset()
		if n.ctx.Err() == nil {
			// Remote-caused: logged at debug, one generic alert.
			n.logRemote(slog.LevelDebug, "handshake failed", "peer_id", remote.String(), "err", err)
			n.alert(AlertHandshakeFailed, remote, "end-to-end handshake failed")
		}
		return
	}
	trust, stranger, err := n.checkTrust(remote, ss.fp, n.remoteAddrs(st, initiator))
	if err != nil {
		n.endPending(remote)
		_ = st.Reset()
		n.log.Debug("session refused", "peer_id", remote.String(), "err", err)
		return
	}
	ss.trust = trust
	ss.stranger.Store(stranger)
	if !n.register(ss) {
		// Lost a tie-break: ended without a word to the user.
		_ = st.Reset()
		return
	}
	// Our HELLO goes out here, before the writer starts (sendHello).
	if err := ss.sendHello(); err != nil {
		close(ss.done)
		n.unregister(ss, "cut")
		_ = st.Reset()
		return
	}
	wdone := make(chan struct{})
	if !n.goTracked(func() { defer close(wdone); ss.writeLoop() }) {
		close(ss.done)
		n.unregister(ss, "local")
		_ = st.Reset()
		return
	}
	reason := ss.readLoop()
	close(ss.done)
	n.unregister(ss, reason)
	// The writer stops at its next wake-up; one stuck in a write to a peer
	// that no longer reads is cut loose by the reset.
	clean := reason == "closed" || reason == "local"
	select {
	case <-wdone:
	case <-time.After(writerGrace):
		clean = false
	}
	if clean {
		_ = st.Close()
	} else {
		_ = st.Reset()
	}
}

// writerGrace is how long a session's end waits for its writer to finish a
// record in flight before resetting the stream.
const writerGrace = time.Second

// handshake runs the e2e handshake on st under the node's handshake
// timeout (e2e.HandshakeTimeout). The peer
// IDs come from the authenticated libp2p connection, never from the wire.
func (n *Node) handshake(st network.Stream, initiator bool) (*session, error) {
	conn := st.Conn()
	cfg := e2e.HandshakeConfig{
		Identity:     n.id,
		Bundle:       n.bundle,
		LocalPeerID:  []byte(conn.LocalPeer()),
		RemotePeerID: []byte(conn.RemotePeer()),
		VerifyHost:   verifyHost,
	}
	newHS := e2e.NewResponder
	if initiator {
		newHS = e2e.NewInitiator
	}
	hs, err := newHS(cfg)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(n.set.handshakeTimeout)
	if err := st.SetDeadline(deadline); err != nil {
		return nil, err
	}
	r := bufio.NewReader(st)
	if !initiator {
		if err := n.awaitFirstMessage(st, r, deadline); err != nil {
			return nil, err
		}
	}
	sess, err := hs.Run(r, st)
	if err != nil {
		return nil, err
	}
	bundle := hs.PeerBundle()
	if bundle == nil || string(bundle.PeerID()) != string(conn.RemotePeer()) {
		return nil, e2e.ErrHandshake // the handshake checks it too
	}
	// Sessions live as long as the peers want; the writer sets its own
	// deadlines, and the node's context cancels reads.
	if err := st.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	local, remote := conn.LocalPeer(), conn.RemotePeer()
	lowInitiated := local < remote
	if !initiator {
		lowInitiated = remote < local
	}
	return &session{
		n:                 n,
		peer:              remote,
		pid:               remote.String(),
		st:                st,
		r:                 r,
		sec:               sess,
		preferred:         lowInitiated,
		started:           time.Now(),
		fp:                bundle.Identity().Fingerprint(),
		wake:              make(chan struct{}, 1),
		done:              make(chan struct{}),
		heartbeatInterval: n.set.heartbeatInterval,
	}, nil
}

// awaitFirstMessage waits, as the responder, for the initiator's first
// handshake message (or as much of it as r buffers) within the node's
// first-message deadline ([firstMessageTimeout]), shorter than the whole
// handshake's: a stream that says nothing gives its admission slot back
// soon (ratelimit.go). The whole handshake's deadline applies again
// afterwards.
func (n *Node) awaitFirstMessage(st network.Stream, r *bufio.Reader, deadline time.Time) error {
	if err := st.SetReadDeadline(firstDeadline(deadline, n.set.firstMessageTimeout)); err != nil {
		return err
	}
	for k := 1; k <= binary.MaxVarintLen64; k++ {
		head, err := r.Peek(k)
		if err != nil {
			return err
		}
		if head[k-1] >= 0x80 {
			continue
		}
		size, _ := binary.Uvarint(head)
		if size <= e2e.MaxHandshakeMessage {
			if _, err := r.Peek(min(k+int(size), r.Size())); err != nil {
				return err
			}
		}
		break // an oversized length is the handshake's to refuse
	}
	return st.SetReadDeadline(deadline)
}

// firstDeadline is the earlier of deadline and d from now.
func firstDeadline(deadline time.Time, d time.Duration) time.Time {
	if t := time.Now().Add(d); t.Before(deadline) {
		return t
	}
	return deadline
}

// remoteAddrs returns the addresses to redial the peer at: the one we
// dialled, or those the peer announced (an inbound connection's remote
// address is a port the peer's kernel picked).
func (n *Node) remoteAddrs(st network.Stream, initiator bool) []string {
	var out []string
	if initiator {
		out = append(out, st.Conn().RemoteMultiaddr().String())
	}
	for _, a := range n.host.Peerstore().Addrs(st.Conn().RemotePeer()) {
		if s := a.String(); len(out) == 0 || s != out[0] {
			out = append(out, s)
		}
	}
	return out
}

// endPending ends one pending handshake for p that did not produce a
// session. If it was the last one and the peer's session had ended while it
// ran, the held SessionDown goes out now.
func (n *Node) endPending(p peer.ID) {
	n.mu.Lock()
	ps := n.peer(p)
	ps.pending--
	ps.notify()
	if ps.pending == 0 && ps.current == nil && ps.up {
		ps.up = false
		n.unlockAndEmit(SessionDown{PeerID: p.String(), Reason: ps.down})
		return
	}
	n.prune(p, ps)
	n.mu.Unlock()
}

// prune forgets ps if it holds nothing worth keeping, so that streams from
// ever new peer IDs that never get a session leave no state behind. The
// caller holds n.mu.
func (n *Node) prune(p peer.ID, ps *peerState) {
	if ps.current == nil && ps.pending == 0 && !ps.up && ps.dialing == nil {
		delete(n.peers, p)
	}
}

// register makes ss the peer's live session, unless the current one wins the
// tie-break; it reports whether ss is live. One rule both sides apply alike:
// between two young sessions, the one the lower peer ID initiated wins;
// otherwise the newer one replaces the older, which the peer has evidently
// given up. The loser goes without SessionUp or SessionDown.
func (n *Node) register(ss *session) bool {
	n.mu.Lock()
	ps := n.peer(ss.peer)
	ps.pending--
	ps.notify()
	if n.closed {
		n.mu.Unlock()
		return false
	}
	if !ss.fp.Equal(ps.pin) {
		// The user accepted another key since checkTrust (pin.go).
		n.mu.Unlock()
		return false
	}
	if cur := ps.current; cur != nil {
		if cur.preferred && !ss.preferred && time.Since(cur.started) < youngSession {
			n.mu.Unlock()
			return false
		}
		// cur is no longer current, so its end is silent.
		_ = cur.st.Reset()
	}
	ps.current = ss
	n.mu.Unlock()
	// A peer with a live session is never trimmed by the connection
	// manager; the tag goes when the session does.
	n.host.ConnManager().Protect(ss.peer, sessionProtectTag)
	return true
}

// sessionProtectTag marks connections that carry a live chat session.
const sessionProtectTag = "securechat-session"

// unregister ends ss's part in the peer's state. SessionDown is raised only
// for the live session of a peer that was up, and is held while another
// handshake with the peer is in flight (it may take over silently).
func (n *Node) unregister(ss *session, reason string) {
	n.mu.Lock()
	ps := n.peer(ss.peer)
	if ps.current != ss {
		n.mu.Unlock()
		return
	}
	ps.current = nil
	ps.lastSeen = time.Now()
	ps.notify()
	n.host.ConnManager().Unprotect(ss.peer, sessionProtectTag)
	if !ps.up {
		n.prune(ss.peer, ps)
		n.mu.Unlock()
		return
	}
	if ps.pending > 0 {
		ps.down = reason
		n.mu.Unlock()
		return
	}
	ps.up = false
	n.unlockAndEmit(SessionDown{PeerID: ss.pid, Reason: reason})
	n.redial.kick() // a cut session is redialled at once (redial.go)
}

// isCurrent reports whether ss is its peer's live session, under the
// peer's pin (pin.go).
func (n *Node) isCurrent(ss *session) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	ps := n.peers[ss.peer]
	return ps != nil && ps.current == ss && ss.fp.Equal(ps.pin)
}

// onHello handles the peer's HELLO: SessionUp for the first live session.
func (n *Node) onHello(ss *session, name string) {
	n.noteName(ss, name)
	n.mu.Lock()
	ps := n.peer(ss.peer)
	if ps.current == ss && ps.up {
		n.unlockAndEmit(n.pathEvents(ps, ss)...) // it took over a live session (path.go)
		return
	}
	if ps.current != ss || ps.up {
		n.mu.Unlock()
		return
	}
	ps.up = true
	ps.notify()
	stranger := ss.stranger.Load()
	n.unlockAndEmit(SessionUp{PeerID: ss.pid, Fingerprint: ss.fp, Name: name, Trust: ss.trust, Conn: n.sessionPath(ps, ss), Stranger: stranger})
	n.redial.reset(ss.peer) // redial.go
	n.filesSessionUp(ss)    // filesession.go
}

// onChat handles a message: it reports false if ss is not the live session
// (no receipt then); otherwise the message is raised once per ID. The
// message is committed to the history, whose ID index is the persisted
// dedupe set, before it is raised and before its receipt can go out, so
// a receipt always means "stored"; a store failure cuts the session
// (no receipt: the sender resends it, in order, on the next one).
func (n *Node) onChat(ss *session, p payload) bool {
	// While a new session takes over (path.go), the old one's reader may
	// still be here: one at a time, so no message overtakes another.
	mu := n.recvLock(ss.peer)
	mu.Lock()
	defer mu.Unlock()
	if !n.isCurrent(ss) {
		return false
	}
	text := SanitizeText(p.text)
	m := store.Message{PeerID: ss.pid, ID: p.id, Text: text, SentAt: p.sentAt}
	stranger := ss.stranger.Load()
	if stranger {
		// Kept in memory with the stranger (stranger.go).
		fresh, tracked, evicted := n.strangers.receive(ss.peer, ss.fp, m, time.Now())
		n.dropStrangers(evicted)
		switch {
		case tracked && !fresh:
			return true
		case tracked:
			n.emit(MessageReceived{PeerID: ss.pid, ID: hexID(m.ID), Text: text, SentAt: p.sentAt, Stranger: true})
			return true
		}
		// Promoted meanwhile (then it is a contact under this key), or
		// dropped (then its session ends, without a receipt).
		c, ok, err := n.store.Contact(ss.pid)
		if err != nil || !ok || !c.Fingerprint.Equal(ss.fp) {
			_ = ss.st.Reset()
			return false
		}
	}
	m, fresh, err := n.store.Receive(m)
	if err != nil {
		n.log.Error("store received message", "err", err)
		n.log.Debug("store received message", "peer_id", ss.pid, "err", err)
		_ = ss.st.Reset()
		return false
	}
	if !fresh {
		return true
	}
	n.emit(MessageReceived{PeerID: ss.pid, ID: hexID(m.ID), Text: text, SentAt: p.sentAt})
	return true
}

// onReceipt handles a delivery receipt, from any authenticated session.
func (n *Node) onReceipt(ss *session, id [messageIDLen]byte) {
	removed, err := n.outq.remove(ss.pid, id)
	if err != nil {
		n.log.Error("outbox", "err", err)
		return
	}
	if removed {
		n.emit(Delivered{PeerID: ss.pid, ID: hexID(id)})
	}
}

// waitUp waits until p's session is up, or no attempt is left (no live
// session, no handshake in flight), or ctx ends. The caller's own attempt
// counts as pending until it produced a session or failed, so waitUp cannot
// give up before it.
func (n *Node) waitUp(ctx context.Context, p peer.ID) error {
	for {
		n.mu.Lock()
		ps := n.peer(p)
		up := ps.up && ps.current != nil
		idle := ps.current == nil && ps.pending == 0
		changed := ps.changed
		n.mu.Unlock()
		switch {
		case up:
			return nil
		case idle:
			return errors.New("no session")
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
