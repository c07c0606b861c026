package p2p

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p/files"
	"github.com/securechat/securechat/p2p/store"
)

// The node's table of file transfers: every current transfer in memory
// (and in the store, filestore.go), the file payloads waiting for a
// session's writer, and the transfers that ended lately.

// Bounds on what a peer's offers can make the node keep.
const (
	// maxOffersPerPeer is how many unanswered offers a peer may have at
	// once; more are refused (an offer flood).
	maxOffersPerPeer = 16
	// maxOffers bounds the unanswered offers of all peers together.
	maxOffers = 128
	// maxCtlPerPeer bounds the file payloads waiting for one peer's
	// session.
	maxCtlPerPeer = 1024
	// maxEnded is how many ended transfers are remembered, so that an
	// offer or accept for one is refused instead of starting again.
	maxEnded = 4096
	// progressEvery is the least time between two FileProgress events of
	// a transfer (ten a second).
	progressEvery = 100 * time.Millisecond
	// checkpointEvery is the least time between two checkpoints of a
	// received transfer (sync and store write).
	checkpointEvery = time.Second
)

// xferKey names a transfer: file IDs are the sender's choice, so unique per
// peer and direction only.
type xferKey struct {
	peer peer.ID
	id   e2e.FileID
	out  bool
}

// xfer is one current transfer. Its fields are guarded by fileState.mu,
// except part, which only the goroutine running the transfer's stream (or
// the one accepting it, before) uses.
type xfer struct {
	key     xferKey
	pid     string
	offer   *e2e.FileOffer
	name    string // sanitized: shown, and the saved file's name
	src     string // outgoing: the file sent
	dest    string // incoming: AcceptFile's path, or "" for downloads
	dir     string // incoming: the partial file's folder
	state   string
	bytes   int64
	waiting string
	created time.Time

	part     *files.Partial // incoming, once accepted
	from     uint64         // incoming: the first chunk of our last accept
	acceptOn *session       // incoming: the session our last accept went on
	badFirst int            // incoming: streams whose first chunk failed
	retries  int            // incoming: cut streams in a row
	at       int64          // incoming: last checkpoint
	check    []byte

	busy   bool           // a stream runs for it
	stop   chan struct{}  // outgoing: closed to end the running stream
	stream network.Stream // the running stream
	lastEv time.Time
}

// ctlItem is a file payload waiting for the peer's session writer; drop
// names a store record to delete once it is written (a reject owed).
type ctlItem struct {
	payload []byte
	drop    string
}

// fileState is the node's file-transfer table.
type fileState struct {
	st        store.FileStore // nil when the store keeps no transfers
	downloads string
	maxSize   int64

	mu         sync.Mutex
	xfers      map[xferKey]*xfer
	ctl        map[peer.ID][]ctlItem
	ended      map[xferKey]bool
	endedOrder []xferKey
	whole      []*xfer // incoming transfers found whole at start
}

// newFileState sets up the table and loads the stored transfers.
func newFileState(cfg Config, st store.Store, log interface {
	Error(string, ...any)
}) (*fileState, error) {
	fs := &fileState{
		maxSize: cfg.MaxFileSize,
		xfers:   make(map[xferKey]*xfer),
		ctl:     make(map[peer.ID][]ctlItem),
		ended:   make(map[xferKey]bool),
	}
	if fs.maxSize < 0 {
		return nil, errors.New("p2p: the maximum file size must not be negative")
	}
	if fs.maxSize == 0 {
		fs.maxSize = DefaultMaxFileSize
	}
	switch {
	case cfg.Downloads != "":
		fs.downloads = cfg.Downloads
	case cfg.Ephemeral:
		// A folder of its own under the temporary directory, made at the
		// first accept (downloadDir).
	default:
		fs.downloads = filepath.Join(cfg.Home, "downloads")
	}
	fs.st, _ = st.(store.FileStore)
	if fs.st == nil {
		return fs, nil
	}
	recs, err := fs.st.Transfers()
	if err != nil {
		log.Error("some file transfers could not be read", "err", err)
	}
	for _, b := range recs {
		r, err := decodeFileRecord(b)
		if err != nil {
			log.Error("a file transfer record is malformed")
			continue
		}
		fs.load(r, log)
	}
	return fs, nil
}

// load brings a stored transfer back.
func (fs *fileState) load(r *fileRecord, log interface{ Error(string, ...any) }) {
	k := xferKey{peer: r.peer, id: r.offer.ID, out: r.flags&recOut != 0}
	if r.flags&recEnded != 0 {
		fs.ended[k] = true
		fs.endedOrder = append(fs.endedOrder, k)
		fs.ctl[r.peer] = append(fs.ctl[r.peer], ctlItem{
			payload: e2e.FileReject{ID: k.id, Reason: r.reason}.Encode(), drop: recordName(k),
		})
		return
	}
	x := &xfer{
		key: k, pid: r.peer.String(), offer: r.offer, src: r.src, dest: r.dest, dir: r.dir,
		name: r.name, created: r.created, at: r.at, check: r.check, waiting: WaitingPeer,
		state: TransferOffered,
	}
	if k.out {
		x.name = files.SanitizeName(filepath.Base(r.src))
		if r.flags&recAccepted != 0 {
			x.state = TransferAccepted
		}
	} else {
		if r.flags&recAccepted == 0 {
			return // unanswered offers are not kept; this is not written
		}
		part, err := files.OpenPartial(files.PartialPath(x.dir, partialKey(k)), int64(x.offer.Size), x.at, x.check)
		if err != nil {
			log.Error("a partial file could not be reopened; the transfer starts over", "err", err)
			return
		}
		x.part, x.state, x.from, x.bytes = part, TransferAccepted, part.Chunks(), part.Len()
		if x.from >= e2e.FileChunks(x.offer.Size) {
			fs.whole = append(fs.whole, x)
		}
	}
	fs.xfers[k] = x
}

// save writes x's record; errors are logged by the caller.
func (fs *fileState) save(x *xfer) error {
	if fs.st == nil {
		return nil
	}
	r := fileRecord{peer: x.key.peer, offer: x.offer, src: x.src, dest: x.dest, dir: x.dir, name: x.name, at: x.at, check: x.check, created: x.created}
	if x.key.out {
		r.flags |= recOut
	}
	if x.state != TransferOffered {
		r.flags |= recAccepted
	}
	return fs.st.PutTransfer(recordName(x.key), r.encode())
}

// saveEnded keeps a reject owed to an offline peer.
func (fs *fileState) saveEnded(x *xfer, reason e2e.FileReason) error {
	if fs.st == nil {
		return nil
	}
	r := fileRecord{flags: recEnded, reason: reason, peer: x.key.peer, offer: x.offer, created: x.created}
	if x.key.out {
		r.flags |= recOut
	}
	return fs.st.PutTransfer(recordName(x.key), r.encode())
}

func (fs *fileState) drop(name string) error {
	if fs.st == nil {
		return nil
	}
	return fs.st.DeleteTransfer(name)
}

// endLocked removes x from the table and remembers that it ended.
func (fs *fileState) endLocked(x *xfer) {
	delete(fs.xfers, x.key)
	if !fs.ended[x.key] {
		fs.ended[x.key] = true
		fs.endedOrder = append(fs.endedOrder, x.key)
		if len(fs.endedOrder) > maxEnded {
			delete(fs.ended, fs.endedOrder[0])
			fs.endedOrder = slices.Delete(fs.endedOrder, 0, 1)
		}
	}
	if x.stop != nil {
		close(x.stop)
		x.stop = nil
	}
	if x.stream != nil {
		_ = x.stream.Reset()
	}
}

// queueLocked adds a file payload for p's session writer.
func (fs *fileState) queueLocked(p peer.ID, it ctlItem) {
	q := fs.ctl[p]
	if len(q) >= maxCtlPerPeer {
		return // the next session's start sends what matters again
	}
	fs.ctl[p] = append(q, it)
}

// takeCtl hands the file payloads waiting for p to its session writer.
func (fs *fileState) takeCtl(p peer.ID) []ctlItem {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	q := fs.ctl[p]
	delete(fs.ctl, p)
	return q
}

// find returns the current transfer with that file ID: an incoming one
// first (the IDs the user sees in offers), then an outgoing one.
func (fs *fileState) findLocked(id e2e.FileID) *xfer {
	var out *xfer
	for k, x := range fs.xfers {
		if k.id != id {
			continue
		}
		if !k.out {
			return x
		}
		out = x
	}
	return out
}

func (x *xfer) info() Transfer {
	return Transfer{
		ID: x.key.id.String(), Peer: x.pid, Name: x.name, Size: int64(x.offer.Size),
		Bytes: x.bytes, Outgoing: x.key.out, State: x.state, Waiting: x.waiting,
	}
}

func (x *xfer) progress() FileProgress {
	return FileProgress{Peer: x.pid, FileID: x.key.id.String(), Bytes: x.bytes, Size: int64(x.offer.Size), Outgoing: x.key.out, Waiting: x.waiting}
}

// transfers implements Node.Transfers.
func (n *Node) transfers() []Transfer {
	fs := n.files
	fs.mu.Lock()
	xs := make([]*xfer, 0, len(fs.xfers))
	for _, x := range fs.xfers {
		xs = append(xs, x)
	}
	slices.SortFunc(xs, func(a, b *xfer) int { return a.created.Compare(b.created) })
	out := make([]Transfer, len(xs))
	for i, x := range xs {
		out[i] = x.info()
	}
	fs.mu.Unlock()
	return out
}

// startFiles finishes, once the node runs, the received transfers found
// whole at start (stopped between the last chunk and the rename).
func (n *Node) startFiles() {
	fst := n.files
	fst.mu.Lock()
	whole := fst.whole
	fst.whole = nil
	for _, x := range whole {
		x.busy = true
	}
	fst.mu.Unlock()
	for _, x := range whole {
		part := x.part
		path, err := part.Finish(x.offer.SHA256, x.name, x.dest)
		n.releaseIn(x, nil)
		switch {
		case err == nil:
			n.finishTransfer(x, path)
		case errors.Is(err, files.ErrCorrupt):
			n.endTransfer(x, FileReasonCorrupt, e2e.FileCorrupt)
		default:
			n.endTransfer(x, FileReasonFailed, e2e.FileFailed)
		}
	}
}

// close closes the partial files of the transfers left (they are kept for
// resuming). The node's goroutines have ended.
func (fs *fileState) close() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, x := range fs.xfers {
		if x.part != nil {
			_ = x.part.Close()
			x.part = nil
		}
	}
}

// downloadDir returns the download folder, made (0700) if missing; an
// ephemeral node without --downloads makes a new one under the temporary
// directory at its first accept and keeps it.
func (fs *fileState) downloadDir() (string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.downloads == "" {
		d, err := os.MkdirTemp("", "securechat-downloads-")
		if err != nil {
			return "", err
		}
		fs.downloads = d
		return d, nil
	}
	return fs.downloads, os.MkdirAll(fs.downloads, 0o700)
}

// waitingPeers lists the peers that transfers wait for: unfinished
// outgoing or accepted incoming files, or file payloads to deliver. The
// redialer dials them as it dials peers with messages waiting.
func (fs *fileState) waitingPeers() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	seen := make(map[peer.ID]bool)
	var out []string
	add := func(p peer.ID) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p.String())
		}
	}
	for k, x := range fs.xfers {
		if k.out || x.state == TransferAccepted {
			add(k.peer)
		}
	}
	for p, q := range fs.ctl {
		if len(q) > 0 {
			add(p)
		}
	}
	return out
}
