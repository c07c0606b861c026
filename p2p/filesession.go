package p2p

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/files"
)

// The file payloads inside the chat session (offer, accept, reject:
// e2e/PROTOCOL.md "File transfer") and the API calls that send them.

// freeSpaceMargin is kept free beyond the file when accepting.
const freeSpaceMargin = 16 << 20

// sendFile implements Node.SendFile.
func (n *Node) sendFile(ctx context.Context, to, path string) (string, string, error) {
	if err := n.enter(); err != nil {
		return "", "", err
	}
	defer n.wg.Done()
	p, pid, err := n.resolve(to)
	if err != nil {
		return "", "", err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "", err
	}
	f, err := os.Open(abs)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	if !st.Mode().IsRegular() {
		return "", "", ErrNotRegularFile
	}
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", "", err
	}
	st2, err := f.Stat()
	if err != nil {
		return "", "", err
	}
	if st2.Size() != st.Size() || !st2.ModTime().Equal(st.ModTime()) {
		return "", "", errors.New("p2p: the file changed while it was read")
	}
	var sum [32]byte
	h.Sum(sum[:0])
	name := files.SanitizeName(filepath.Base(abs))
	offer, err := e2e.NewFileOffer(name, uint64(st.Size()), sum)
	if err != nil {
		return "", "", err
	}
	x := &xfer{
		key: xferKey{peer: p, id: offer.ID, out: true}, pid: pid, offer: offer, name: name,
		src: abs, state: TransferOffered, waiting: WaitingAccept, created: time.Now(),
	}
	fst := n.files
	fst.mu.Lock()
	fst.xfers[x.key] = x
	err = fst.save(x)
	if err != nil {
		delete(fst.xfers, x.key)
		fst.mu.Unlock()
		return "", "", fmt.Errorf("save transfer: %w", err)
	}
	fst.queueLocked(p, ctlItem{payload: offer.Encode()})
	fst.mu.Unlock()
	n.kickPeer(p)
	n.redial.kick() // an offline peer is dialled as for a message (redial.go)
	return pid, offer.ID.String(), nil
}

// ctxReader ends a long read when ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// kickPeer wakes the writer of p's live session, if any.
func (n *Node) kickPeer(p peer.ID) {
	n.mu.Lock()
	ss := n.liveLocked(p)
	n.mu.Unlock()
	if ss != nil {
		ss.kick()
	}
}

// liveSession returns p's live session under its pin, or nil.
func (n *Node) liveSession(p peer.ID) *session {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.liveLocked(p)
}

// acceptFile implements Node.AcceptFile.
func (n *Node) acceptFile(fileID, path string) error {
	id, err := e2e.ParseFileID(fileID)
	if err != nil {
		return ErrUnknownFile
	}
	fst := n.files
	fst.mu.Lock()
	x := fst.findLocked(id)
	if x == nil {
		fst.mu.Unlock()
		return ErrUnknownFile
	}
	if x.key.out || x.state != TransferOffered || x.busy {
		fst.mu.Unlock()
		return ErrFileState
	}
	x.busy = true // no second accept while this one works
	fst.mu.Unlock()
	part, dir, dest, err := n.openForAccept(x, path)
	fst.mu.Lock()
	x.busy = false
	if err != nil {
		fst.mu.Unlock()
		return err
	}
	if fst.xfers[x.key] != x { // rejected or cancelled meanwhile
		fst.mu.Unlock()
		part.Remove()
		return ErrUnknownFile
	}
	x.part, x.dir, x.dest, x.state, x.from = part, dir, dest, TransferAccepted, part.Chunks()
	if err := fst.save(x); err != nil {
		n.log.Error("save transfer", "err", err)
	}
	ss := n.liveSession(x.key.peer)
	if ss != nil {
		x.acceptOn, x.waiting = ss, ""
		fst.queueLocked(x.key.peer, ctlItem{payload: e2e.FileAccept{ID: id, From: x.from}.Encode()})
	} else {
		x.waiting = WaitingPeer
	}
	fst.mu.Unlock()
	if ss != nil {
		ss.kick()
	}
	return nil
}

// openForAccept checks the size, the place and the free space, and opens
// the partial file.
func (n *Node) openForAccept(x *xfer, path string) (*files.Partial, string, string, error) {
	size := int64(x.offer.Size)
	if x.offer.Size > uint64(n.files.maxSize) {
		return nil, "", "", ErrFileTooLarge
	}
	var dir string
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, "", "", ErrFilePath
		}
		if _, err := os.Lstat(abs); !errors.Is(err, fs.ErrNotExist) {
			return nil, "", "", ErrFilePath
		}
		if st, err := os.Stat(filepath.Dir(abs)); err != nil || !st.IsDir() {
			return nil, "", "", ErrFilePath
		}
		path, dir = abs, filepath.Dir(abs)
	} else {
		d, err := n.files.downloadDir()
		if err != nil {
			return nil, "", "", fmt.Errorf("%w: %v", ErrFilePath, err)
		}
		dir = d
	}
	free, err := files.FreeSpace(dir)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %v", ErrFilePath, err)
	}
	if uint64(size)+freeSpaceMargin > free {
		return nil, "", "", ErrNoSpace
	}
	part, err := files.OpenPartial(files.PartialPath(dir, partialKey(x.key)), size, 0, nil)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: %v", ErrFilePath, err)
	}
	return part, dir, path, nil
}

// rejectFile implements Node.RejectFile.
func (n *Node) rejectFile(fileID string) error {
	id, err := e2e.ParseFileID(fileID)
	if err != nil {
		return ErrUnknownFile
	}
	fst := n.files
	fst.mu.Lock()
	x := fst.findLocked(id)
	fst.mu.Unlock()
	if x == nil {
		return ErrUnknownFile
	}
	reason, why := e2e.FileCancelled, FileReasonCancelled
	if !x.key.out && x.state == TransferOffered {
		reason, why = e2e.FileRejected, FileReasonRejected
	}
	n.endTransfer(x, why, reason)
	return nil
}

// endTransfer ends x without the file: its stream stops, its partial file
// goes, the peer is told with a reject of the given reason (none if 0: the
// peer ended it), and FileFailed is raised.
func (n *Node) endTransfer(x *xfer, why string, tell e2e.FileReason) {
	fst := n.files
	fst.mu.Lock()
	if fst.xfers[x.key] != x {
		fst.mu.Unlock()
		return
	}
	fst.endLocked(x)
	part := x.part
	x.part = nil
	var err error
	if tell != 0 {
		if n.liveSession(x.key.peer) != nil {
			fst.queueLocked(x.key.peer, ctlItem{payload: e2e.FileReject{ID: x.key.id, Reason: tell}.Encode(), drop: recordName(x.key)})
			err = fst.drop(recordName(x.key))
		} else {
			err = fst.saveEnded(x, tell)
			fst.queueLocked(x.key.peer, ctlItem{payload: e2e.FileReject{ID: x.key.id, Reason: tell}.Encode(), drop: recordName(x.key)})
		}
	} else {
		err = fst.drop(recordName(x.key))
	}
	fst.mu.Unlock()
	if err != nil {
		n.log.Error("save transfer", "err", err)
	}
	if part != nil && !x.busy {
		part.Remove()
	} else if part != nil {
		x.part = part // the stream's goroutine removes it when it ends
	}
	if tell != 0 {
		n.kickPeer(x.key.peer)
	}
	n.emit(FileFailed{Peer: x.pid, FileID: x.key.id.String(), Reason: why, Outgoing: x.key.out})
}

// finishTransfer ends x with the file: FileDone.
func (n *Node) finishTransfer(x *xfer, path string) {
	fst := n.files
	fst.mu.Lock()
	if fst.xfers[x.key] != x {
		fst.mu.Unlock()
		return
	}
	fst.endLocked(x)
	err := fst.drop(recordName(x.key))
	fst.mu.Unlock()
	if err != nil {
		n.log.Error("save transfer", "err", err)
	}
	n.emit(FileDone{Peer: x.pid, FileID: x.key.id.String(), SHA256: hex.EncodeToString(x.offer.SHA256[:]), Path: path, Outgoing: x.key.out})
}

// isFilePayload reports whether a chat payload is a file record (types
// 16-18), which handleFilePayload takes.
func isFilePayload(pt []byte) bool {
	return len(pt) > 0 && pt[0] >= e2e.FileOfferType && pt[0] <= e2e.FileRejectType
}

// handleFilePayload acts on an offer, accept or reject from the peer; false
// (a record that does not parse) ends the session.
func (ss *session) handleFilePayload(pt []byte) bool {
	n := ss.n
	var err error
	switch pt[0] {
	case e2e.FileOfferType:
		var o *e2e.FileOffer
		if o, err = e2e.ParseFileOffer(pt); err == nil {
			n.onFileOffer(ss, o)
		}
	case e2e.FileAcceptType:
		var a e2e.FileAccept
		if a, err = e2e.ParseFileAccept(pt); err == nil {
			n.onFileAccept(ss, a)
		}
	case e2e.FileRejectType:
		var r e2e.FileReject
		if r, err = e2e.ParseFileReject(pt); err == nil {
			n.onFileReject(ss, r)
		}
	}
	if err != nil {
		n.logRemote(slog.LevelDebug, "bad file record", "peer_id", ss.pid)
		n.alert(AlertBadFrame, ss.peer, "malformed file record; session ended")
		return false
	}
	return true
}

// onFileOffer handles an offer: a new one raises FileOffered; one already
// known is answered again (the sender restarted or lost our answer).
func (n *Node) onFileOffer(ss *session, o *e2e.FileOffer) {
	if !n.isCurrent(ss) {
		return // the sender offers again on the session that won
	}
	k := xferKey{peer: ss.peer, id: o.ID}
	fst := n.files
	fst.mu.Lock()
	if x := fst.xfers[k]; x != nil {
		if x.state == TransferAccepted && !x.busy && x.acceptOn != ss && x.part != nil {
			x.acceptOn, x.from = ss, x.part.Chunks()
			fst.queueLocked(k.peer, ctlItem{payload: e2e.FileAccept{ID: o.ID, From: x.from}.Encode()})
			fst.mu.Unlock()
			ss.kick()
			return
		}
		fst.mu.Unlock()
		return
	}
	if fst.ended[k] {
		fst.queueLocked(k.peer, ctlItem{payload: e2e.FileReject{ID: o.ID, Reason: e2e.FileCancelled}.Encode()})
		fst.mu.Unlock()
		ss.kick()
		return
	}
	refuse, why := e2e.FileReason(0), ""
	if o.Size > uint64(fst.maxSize) || o.Size > 1<<62 {
		refuse, why = e2e.FileTooLarge, FileReasonTooLarge
	} else {
		mine, all := 0, 0
		for xk, x := range fst.xfers {
			if !xk.out && x.state == TransferOffered {
				all++
				if xk.peer == k.peer {
					mine++
				}
			}
		}
		if mine >= maxOffersPerPeer || all >= maxOffers {
			refuse, why = e2e.FileRejected, FileReasonTooMany
		}
	}
	x := &xfer{key: k, pid: ss.pid, offer: o, name: files.SanitizeName(o.Name), state: TransferOffered, created: time.Now()}
	var ev Event
	if refuse != 0 {
		fst.endLocked(x)
		fst.queueLocked(k.peer, ctlItem{payload: e2e.FileReject{ID: o.ID, Reason: refuse}.Encode()})
		ev = FileFailed{Peer: ss.pid, FileID: o.ID.String(), Reason: why}
	} else {
		fst.xfers[k] = x
		ev = FileOffered{Peer: ss.pid, FileID: o.ID.String(), Name: x.name, Size: int64(o.Size), SHA256: hex.EncodeToString(o.SHA256[:])}
	}
	fst.mu.Unlock()
	if refuse != 0 {
		ss.kick()
		n.logRemote(slog.LevelDebug, "file offer refused", "peer_id", ss.pid, "reason", why)
	}
	n.emit(ev)
}

// queueReply queues a reject for ss's peer, outside the table.
func (n *Node) queueReply(ss *session, r e2e.FileReject) {
	n.files.mu.Lock()
	n.files.queueLocked(ss.peer, ctlItem{payload: r.Encode()})
	n.files.mu.Unlock()
	ss.kick()
}

// onFileAccept handles the receiver's accept of our offer: a stream starts
// from the chunk it asks for (one running stream is replaced).
func (n *Node) onFileAccept(ss *session, a e2e.FileAccept) {
	k := xferKey{peer: ss.peer, id: a.ID, out: true}
	fst := n.files
	fst.mu.Lock()
	x := fst.xfers[k]
	if x == nil {
		fst.mu.Unlock()
		if !fst.ended[k] {
			n.logRemote(slog.LevelDebug, "accept of an unknown file", "peer_id", ss.pid)
		}
		n.queueReply(ss, e2e.FileReject{ID: a.ID, Reason: e2e.FileCancelled})
		return
	}
	if a.From >= e2e.FileChunks(x.offer.Size) {
		fst.mu.Unlock()
		n.logRemote(slog.LevelDebug, "accept past the end of the file", "peer_id", ss.pid)
		n.endTransfer(x, FileReasonFailed, e2e.FileFailed)
		return
	}
	if x.stop != nil {
		close(x.stop)
		x.stop = nil
	}
	if x.stream != nil {
		_ = x.stream.Reset()
	}
	first := x.state == TransferOffered
	x.state = TransferAccepted
	x.bytes = int64(a.From) * e2e.FileChunkSize
	if first {
		if err := fst.save(x); err != nil {
			n.log.Error("save transfer", "err", err)
		}
	}
	stop := make(chan struct{})
	x.stop = stop
	fst.mu.Unlock()
	if !n.goTracked(func() { n.runSend(x, ss, a.From, stop) }) {
		return
	}
}

// onFileReject handles the peer's reject or cancel.
func (n *Node) onFileReject(ss *session, r e2e.FileReject) {
	fst := n.files
	fst.mu.Lock()
	x := fst.xfers[xferKey{peer: ss.peer, id: r.ID, out: true}]
	if x == nil {
		x = fst.xfers[xferKey{peer: ss.peer, id: r.ID}]
	}
	fst.mu.Unlock()
	if x == nil {
		return
	}
	n.endTransfer(x, r.Reason.String(), 0)
}

// fillFiles seals into b the file payloads waiting for ss's peer (the
// session writer calls it), and deletes the records of the rejects that
// went out.
func (ss *session) fillFiles(b *recordBatch) error {
	n := ss.n
	if n.files == nil || !n.isCurrent(ss) {
		return nil
	}
	items := n.files.takeCtl(ss.peer)
	for _, it := range items {
		if err := b.add(func() ([]byte, error) { return ss.sec.Seal(it.payload) }); err != nil {
			return err
		}
		if it.drop != "" {
			n.files.mu.Lock()
			if err := n.files.drop(it.drop); err != nil {
				n.log.Error("save transfer", "err", err)
			}
			n.files.mu.Unlock()
		}
	}
	return nil
}

// filesSessionUp is called when a session with the peer is up: the
// sender offers its unfinished files again and the receiver asks again
// for the rest of the ones it accepted.
func (n *Node) filesSessionUp(ss *session) {
	fst := n.files
	if fst == nil {
		return
	}
	var evs []Event
	fst.mu.Lock()
	for k, x := range fst.xfers {
		if k.peer != ss.peer || x.busy {
			continue
		}
		if k.out {
			fst.queueLocked(k.peer, ctlItem{payload: x.offer.Encode()})
			if x.state == TransferOffered {
				x.waiting = WaitingAccept
			}
		} else if x.state == TransferAccepted && x.part != nil {
			x.acceptOn, x.waiting, x.from = ss, "", x.part.Chunks()
			fst.queueLocked(k.peer, ctlItem{payload: e2e.FileAccept{ID: k.id, From: x.from}.Encode()})
		} else {
			continue
		}
		evs = append(evs, x.progress())
	}
	fst.mu.Unlock()
	ss.kick()
	for _, ev := range evs {
		n.emit(ev)
	}
}

// helloDone reports whether the peer's HELLO arrived: file records, like
// every payload, come after it.
func (ss *session) helloDone() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.helloSeen
}
