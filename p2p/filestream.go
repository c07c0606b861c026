package p2p

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/files"
)

// File streams (FileProtocolID): the sender opens one per accept and
// writes the header and the chunks (p2p/files.Send); the receiver opens
// them into its partial file (p2p/files.Receive), checks the whole file's
// SHA-256, and answers with one byte, fileAckDone, before both close.

// fileAckDone is the receiver's last byte on a file stream: the file is
// whole, its SHA-256 matched and it is saved.
const fileAckDone = 0x01

// Timeouts of file streams.
const (
	// fileIOTimeout bounds each read and write on a file stream.
	fileIOTimeout = 30 * time.Second
	// fileAckTimeout bounds the sender's wait for the receiver's answer
	// after the final chunk (the receiver syncs and renames the file).
	fileAckTimeout = 2 * time.Minute
	// fileRetryMax caps the wait before a receiver asks again after a cut.
	fileRetryMax = 30 * time.Second
	// maxBadFirst is how many streams may fail at their first chunk (a
	// session replaced between accept and stream) before the transfer is
	// given up as corrupt.
	maxBadFirst = 2
)

// fileTestHooks let tests slow a transfer down or play a hostile sender or
// a full disk.
type fileTestHooks struct {
	recvDelay time.Duration              // slept after each chunk received
	sendWrap  func(io.Writer) io.Writer  // wraps the sender's stream
	sinkWrap  func(io.Writer) io.Writer  // wraps the receiver's partial file
	sealed    func(from uint64, ok bool) // told of each stream the sender ran
}

// deadlineRW sets a deadline before every read and write of a stream.
type deadlineRW struct{ st network.Stream }

func (d deadlineRW) Read(b []byte) (int, error) {
	_ = d.st.SetReadDeadline(time.Now().Add(fileIOTimeout))
	return d.st.Read(b)
}

func (d deadlineRW) Write(b []byte) (int, error) {
	_ = d.st.SetWriteDeadline(time.Now().Add(fileIOTimeout))
	return d.st.Write(b)
}

// setWaiting changes why x is paused and raises FileProgress if it changed.
func (n *Node) setWaiting(x *xfer, waiting string) {
	fst := n.files
	fst.mu.Lock()
	if x.waiting == waiting || fst.xfers[x.key] != x {
		fst.mu.Unlock()
		return
	}
	x.waiting = waiting
	ev := x.progress()
	x.lastEv = time.Now()
	fst.mu.Unlock()
	n.emit(ev)
}

// moved records bytes done and raises FileProgress at most every
// progressEvery (always when final).
func (n *Node) moved(x *xfer, bytes int64, final bool) {
	fst := n.files
	fst.mu.Lock()
	x.bytes = bytes
	now := time.Now()
	if !final && now.Sub(x.lastEv) < progressEvery {
		fst.mu.Unlock()
		return
	}
	x.lastEv = now
	ev := x.progress()
	fst.mu.Unlock()
	n.emit(ev)
}

// runSend sends x from chunk from on a new stream, with the key of ss,
// the session the accept came on. A cut leaves x waiting for the
// receiver's next accept; the receiver's answer ends it.
func (n *Node) runSend(x *xfer, ss *session, from uint64, stop chan struct{}) {
	fst := n.files
	fst.mu.Lock()
	if fst.xfers[x.key] != x || x.stop != stop {
		fst.mu.Unlock()
		return
	}
	x.busy = true
	fst.mu.Unlock()
	defer func() {
		fst.mu.Lock()
		if x.stop == stop {
			x.busy, x.stream = false, nil
		}
		fst.mu.Unlock()
	}()
	key, err := ss.sec.SendFileKey(x.offer)
	if err != nil {
		n.setWaiting(x, WaitingPeer) // the session ended: the next one asks again
		return
	}
	defer key.Wipe()
	sealer, err := key.NewSealer(from)
	if err != nil {
		n.endTransfer(x, FileReasonFailed, e2e.FileFailed)
		return
	}
	f, err := os.Open(x.src)
	if err != nil {
		n.log.Info("a file being sent cannot be read", "err", err)
		n.endTransfer(x, FileReasonFailed, e2e.FileFailed)
		return
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() != int64(x.offer.Size) {
		n.endTransfer(x, FileReasonChanged, e2e.FileFailed)
		return
	}
	if _, err := f.Seek(int64(from)*e2e.FileChunkSize, io.SeekStart); err != nil {
		n.endTransfer(x, FileReasonFailed, e2e.FileFailed)
		return
	}
	st := n.openFileStream(x, stop)
	if st == nil {
		return
	}
	defer context.AfterFunc(n.ctx, func() { _ = st.Reset() })()
	fst.mu.Lock()
	if x.stop != stop {
		fst.mu.Unlock()
		_ = st.Reset()
		return
	}
	x.stream = st
	fst.mu.Unlock()
	n.setWaiting(x, "")
	base := int64(from) * e2e.FileChunkSize
	var w io.Writer = deadlineRW{st}
	if h := n.set.fileTest; h != nil && h.sendWrap != nil {
		w = h.sendWrap(w)
	}
	if h := n.set.fileTest; h != nil && h.sealed != nil {
		h.sealed(from, true)
	}
	err = files.Send(w, f, sealer, stop, func(sent int64) {
		n.moved(x, base+sent, false)
	})
	if err != nil {
		_ = st.Reset()
		if errors.Is(err, files.ErrRead) {
			n.endTransfer(x, FileReasonFailed, e2e.FileFailed)
			return
		}
		n.setWaiting(x, WaitingPeer)
		return
	}
	_ = st.CloseWrite()
	_ = st.SetReadDeadline(time.Now().Add(fileAckTimeout))
	var ack [1]byte
	if _, err := io.ReadFull(st, ack[:]); err != nil || ack[0] != fileAckDone {
		_ = st.Reset() // a reject in the session says why, or an accept asks again
		return
	}
	_ = st.Close()
	n.moved(x, int64(x.offer.Size), true)
	n.finishTransfer(x, x.src)
}

// openFileStream opens a file stream to x's peer. It never uses a limited
// (relayed) connection: while the peer is reachable only through one, it
// waits for a direct one and says so. It returns nil when stop is closed,
// the node closes or the peer is gone (the next session's accept starts
// the transfer again).
func (n *Node) openFileStream(x *xfer, stop chan struct{}) network.Stream {
	p := x.key.peer
	for {
		// Over a limited connection NewStream waits (up to the timeout)
		// for a direct one, from a hole punch or a dial: say so first.
		if n.onlyLimited(p) {
			n.setWaiting(x, WaitingDirect)
		}
		ctx, cancel := context.WithTimeout(n.ctx, DialTimeout)
		go func() { // ends with ctx, which cancel ends at the latest
			select {
			case <-stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		st, err := n.host.NewStream(ctx, p, protocol.ID(FileProtocolID))
		cancel()
		if err == nil {
			return st
		}
		waiting := WaitingPeer
		if n.onlyLimited(p) {
			waiting = WaitingDirect
		}
		n.setWaiting(x, waiting)
		if waiting == WaitingPeer && n.liveSession(p) == nil {
			return nil
		}
		select {
		case <-stop:
			return nil
		case <-n.ctx.Done():
			return nil
		case <-time.After(n.set.fileRetry):
		}
	}
}

// handleFileStream receives a file stream for a transfer this node
// accepted.
func (n *Node) handleFileStream(st network.Stream) {
	if n.enter() != nil {
		_ = st.Reset()
		return
	}
	defer n.wg.Done()
	defer context.AfterFunc(n.ctx, func() { _ = st.Reset() })()
	p := st.Conn().RemotePeer()
	br := bufio.NewReaderSize(deadlineRW{st}, 256<<10)
	frame, err := e2e.ReadFrame(br, e2e.MaxFileFrameSize)
	if err != nil {
		_ = st.Reset()
		return
	}
	h, err := e2e.ParseFileStreamHeader(frame)
	if err != nil {
		n.logRemote(slog.LevelDebug, "bad file stream header", "peer_id", p.String())
		_ = st.Reset()
		return
	}
	fst := n.files
	fst.mu.Lock()
	x := fst.xfers[xferKey{peer: p, id: h.ID}]
	if x == nil || x.state != TransferAccepted || x.busy || x.part == nil || h.First != x.from {
		fst.mu.Unlock()
		_ = st.Reset()
		return
	}
	ss := x.acceptOn
	if ss == nil {
		fst.mu.Unlock()
		_ = st.Reset()
		return
	}
	x.busy, x.stream, x.waiting = true, st, ""
	part, from := x.part, x.from
	fst.mu.Unlock()
	n.receive(x, ss, st, br, h, part, from)
}

// receive runs one file stream into x's partial file and acts on how it
// ended.
func (n *Node) receive(x *xfer, ss *session, st network.Stream, br *bufio.Reader, h e2e.FileStreamHeader, part *files.Partial, from uint64) {
	fst := n.files
	var opener *e2e.FileOpener
	key, err := ss.sec.RecvFileKey(x.offer)
	if err == nil {
		opener, err = key.NewOpener(h, from)
		key.Wipe()
	}
	if err != nil {
		_ = st.Reset()
		n.releaseIn(x, part)
		n.retryAccept(x)
		return
	}
	lastCheck := time.Now()
	var sink io.Writer = part
	hooks := n.set.fileTest
	if hooks != nil && hooks.sinkWrap != nil {
		sink = hooks.sinkWrap(part)
	}
	err = files.Receive(br, opener, sink, func() { _ = st.Reset() }, func(next uint64, _ int64) {
		if hooks != nil && hooks.recvDelay > 0 {
			time.Sleep(hooks.recvDelay)
		}
		n.moved(x, part.Len(), false)
		if time.Since(lastCheck) >= checkpointEvery {
			lastCheck = time.Now()
			n.checkpoint(x, part)
		}
	})
	switch {
	case err == nil:
		path, ferr := part.Finish(x.offer.SHA256, x.name, x.dest)
		if ferr == nil {
			_ = st.SetWriteDeadline(time.Now().Add(fileIOTimeout))
			_, _ = st.Write([]byte{fileAckDone})
			_ = st.Close()
			n.releaseIn(x, nil)
			n.moved(x, int64(x.offer.Size), true)
			n.finishTransfer(x, path)
			return
		}
		_ = st.Reset()
		n.releaseIn(x, nil)
		if errors.Is(ferr, files.ErrCorrupt) {
			n.endTransfer(x, FileReasonCorrupt, e2e.FileCorrupt)
		} else {
			n.log.Info("a received file could not be saved", "err", ferr)
			n.endTransfer(x, FileReasonFailed, e2e.FileFailed)
		}
	case errors.Is(err, files.ErrBadStream):
		_ = st.Reset()
		n.logRemote(slog.LevelDebug, "bad file stream", "peer_id", x.pid)
		if n.releaseIn(x, part) {
			return
		}
		fst.mu.Lock()
		x.badFirst++
		again := opener.Next() == from && x.badFirst <= maxBadFirst
		fst.mu.Unlock()
		if again {
			n.retryAccept(x)
		} else {
			n.endTransfer(x, FileReasonCorrupt, e2e.FileCorrupt)
		}
	case errors.Is(err, files.ErrWrite):
		_ = st.Reset()
		n.log.Info("a received file could not be written", "err", err)
		if n.releaseIn(x, part) {
			return
		}
		why := FileReasonFailed
		if files.IsNoSpace(err) {
			why = FileReasonNoSpace
		}
		n.endTransfer(x, why, e2e.FileFailed)
	default: // cut
		_ = st.Reset()
		n.checkpoint(x, part)
		if n.releaseIn(x, part) {
			return
		}
		n.retryAccept(x)
	}
}

// releaseIn ends a stream's hold on incoming x; if x ended meanwhile, it
// removes part (when given) and reports true.
func (n *Node) releaseIn(x *xfer, part *files.Partial) bool {
	fst := n.files
	fst.mu.Lock()
	x.busy, x.stream = false, nil
	ended := fst.xfers[x.key] != x
	fst.mu.Unlock()
	if ended && part != nil {
		part.Remove()
	}
	return ended
}

// checkpoint stores what x's partial file holds.
func (n *Node) checkpoint(x *xfer, part *files.Partial) {
	at, check, err := part.Checkpoint()
	if err != nil {
		return
	}
	fst := n.files
	fst.mu.Lock()
	if fst.xfers[x.key] == x {
		x.at, x.check = at, check
		err = fst.save(x)
	}
	fst.mu.Unlock()
	if err != nil {
		n.log.Error("save transfer", "err", err)
	}
}

// retryAccept asks again for the rest of x after a pause that grows with
// each cut in a row, on the live session; without one, the next session's
// start asks.
func (n *Node) retryAccept(x *xfer) {
	fst := n.files
	fst.mu.Lock()
	x.retries++
	wait := min(n.set.fileRetry<<min(x.retries-1, 8), fileRetryMax)
	x.waiting = WaitingPeer
	ev := x.progress()
	fst.mu.Unlock()
	n.emit(ev)
	n.goTracked(func() {
		select {
		case <-n.ctx.Done():
			return
		case <-time.After(wait):
		}
		fst.mu.Lock()
		defer fst.mu.Unlock()
		if fst.xfers[x.key] != x || x.busy || x.part == nil {
			return
		}
		ss := n.liveSession(x.key.peer)
		if ss == nil {
			return
		}
		x.from, x.acceptOn = x.part.Chunks(), ss
		fst.queueLocked(x.key.peer, ctlItem{payload: e2e.FileAccept{ID: x.key.id, From: x.from}.Encode()})
		ss.kick()
	})
}

// onlyLimited reports whether every connection to p is a limited
// (relayed) one, and there is at least one.
func (n *Node) onlyLimited(p peer.ID) bool {
	conns := n.host.Network().ConnsToPeer(p)
	for _, c := range conns {
		if !c.Stat().Limited {
			return false
		}
	}
	return len(conns) > 0
}
