package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/xfer"
	"github.com/securechat/securechat/p2p"
)

// File transfers in the line interface: /send, /accept, /reject, /cancel
// and /files, offers and progress as plain lines. Progress is printed at
// 10% steps, at most every [lineProgressEvery], and at least every
// [lineProgressQuiet] while bytes move, so a fast transfer does not flood
// the terminal and a slow one still shows life.

// Pacing of the progress lines.
const (
	lineProgressEvery = 2 * time.Second
	lineProgressQuiet = 30 * time.Second
)

// lineTransfer is what the line interface knows of one transfer.
type lineTransfer struct {
	id, peer, name string
	size, bytes    int64
	outgoing       bool
	offered        bool // an incoming offer awaiting an answer
	waiting        string
	seq            int
	meter          xfer.Meter
	printed        time.Time // the last progress line
	step           int       // its 10% step
	paste          string    // a paste file to remove when it ends
}

// label is the transfer's name for a line, or its short ID.
func (t *lineTransfer) label() string {
	if t.name == "" {
		return "file " + xfer.ShortID(t.id)
	}
	return `"` + t.name + `"`
}

// lineFiles holds the transfers; the event pump and the command loop both
// use it.
type lineFiles struct {
	mu  sync.Mutex
	ts  map[string]*lineTransfer // by peer and file ID
	seq int
	now func() time.Time
	// quiet lists the transfers /reject or /cancel ended, which said so:
	// the node's FileFailed that follows prints nothing.
	quiet map[string]bool
}

// get returns the transfer (peer, id), adding it; lf.mu is held.
func (lf *lineFiles) get(peer, id string, outgoing bool) *lineTransfer {
	if lf.ts == nil {
		lf.ts = map[string]*lineTransfer{}
	}
	k := peer + " " + id
	t, ok := lf.ts[k]
	if !ok {
		lf.seq++
		t = &lineTransfer{id: id, peer: peer, outgoing: outgoing, seq: lf.seq}
		lf.ts[k] = t
	}
	return t
}

// end forgets a transfer and returns it; lf.mu is held.
func (lf *lineFiles) end(peer, id string, outgoing bool) *lineTransfer {
	t := lf.get(peer, id, outgoing)
	delete(lf.ts, peer+" "+id)
	return t
}

// sorted lists the transfers that keep, oldest first; lf.mu is held.
func (lf *lineFiles) sorted(keep func(*lineTransfer) bool) []*lineTransfer {
	var ts []*lineTransfer
	for _, t := range lf.ts {
		if keep(t) {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].seq < ts[j].seq })
	return ts
}

// merge folds the node's list of transfers in and returns the incoming
// offers it did not know of; lf.mu is held.
func (lf *lineFiles) merge(list []p2p.Transfer) []*lineTransfer {
	var fresh []*lineTransfer
	for _, x := range list {
		_, known := lf.ts[x.Peer+" "+x.ID]
		t := lf.get(x.Peer, x.ID, x.Outgoing)
		t.name, t.size, t.bytes, t.waiting = cleanFileName(x.Name), x.Size, x.Bytes, sanitizeName(x.Waiting)
		t.offered = !x.Outgoing && x.State == p2p.TransferOffered
		if !known && t.offered {
			fresh = append(fresh, t)
		}
	}
	return fresh
}

// cleanFileName is a remote file name made fit for one line.
func cleanFileName(s string) string {
	s = sanitizeName(s)
	if r := []rune(s); len(r) > 80 {
		s = string(r[:60]) + "…" + string(r[len(r)-19:])
	}
	return s
}

// showPendingOffers prints the offers that still await an answer (after
// a restart).
func (lm *lineMode) showPendingOffers() {
	list := lm.node.Transfers()
	lm.files.mu.Lock()
	fresh := lm.files.merge(list)
	lm.files.mu.Unlock()
	for _, t := range fresh {
		lm.printOffer(t)
	}
}

// fileEvent prints a file event; false if ev is none.
func (lm *lineMode) fileEvent(ev p2p.Event) bool {
	switch e := ev.(type) {
	case p2p.FileOffered:
		lm.files.mu.Lock()
		t := lm.files.get(e.Peer, e.FileID, false)
		t.name, t.size, t.offered = cleanFileName(e.Name), e.Size, true
		lm.files.mu.Unlock()
		lm.printOffer(t)
	case p2p.FileProgress:
		lm.fileProgress(e)
	case p2p.FileDone:
		lm.files.mu.Lock()
		t := lm.files.end(e.Peer, e.FileID, e.Outgoing)
		lm.files.mu.Unlock()
		removePaste(t)
		who := peerLabel(lm.peer(e.Peer))
		if e.Outgoing {
			lm.printf("*** %s received %s (%s); its SHA-256 matches\n", who, t.label(), xfer.Size(t.size))
		} else {
			lm.printf("*** received %s (%s) from %s; its SHA-256 matches. Saved as %s\n",
				t.label(), xfer.Size(t.size), who, sanitizeName(e.Path))
		}
	case p2p.FileFailed:
		lm.files.mu.Lock()
		k := e.Peer + " " + e.FileID
		quiet := lm.files.quiet[k]
		delete(lm.files.quiet, k)
		t := lm.files.end(e.Peer, e.FileID, e.Outgoing)
		lm.files.mu.Unlock()
		if quiet {
			return true
		}
		removePaste(t)
		who := peerLabel(lm.peer(e.Peer))
		switch e.Reason {
		case p2p.FileReasonRejected:
			lm.printf("*** %s declined %s\n", who, t.label())
		case p2p.FileReasonCancelled:
			lm.printf("*** the transfer of %s was cancelled\n", t.label())
		default:
			dir := "from"
			if e.Outgoing {
				dir = "to"
			}
			lm.printf("!!! the transfer of %s %s %s failed: %s\n", t.label(), dir, who, sanitizeName(e.Reason))
		}
	default:
		return false
	}
	return true
}

// printOffer prints an incoming offer with the sender's trust, loud when
// its key is new or changed, and how to answer.
func (lm *lineMode) printOffer(t *lineTransfer) {
	p := lm.peer(t.peer)
	id := xfer.ShortID(t.id)
	trust, mark := "verified", "***"
	switch {
	case p.KeyChanged:
		trust, mark = "KEY CHANGED: this may not be the peer you know", "!!!"
	case p.Stranger:
		trust, mark = "a STRANGER, NEW KEY, NOT VERIFIED: /verify before you open it", "!!!"
	case p.Trust == p2p.TrustPinned:
		trust = "known key, not verified"
	case p.Trust != p2p.TrustVerified:
		trust, mark = "NEW KEY, NOT VERIFIED: /verify before you open it", "!!!"
	}
	lm.printf("%s file offer from %s [%s]: %s, %s\n", mark, peerLabel(p), trust, t.label(), xfer.Size(t.size))
	lm.printf("    /accept %s saves it in your downloads, /reject %s refuses it\n", id, id)
}

// fileProgress prints a transfer's progress, paced.
func (lm *lineMode) fileProgress(e p2p.FileProgress) {
	now := lm.files.now()
	lm.files.mu.Lock()
	if _, known := lm.files.ts[e.Peer+" "+e.FileID]; !known {
		// A transfer resumed after a restart: the node's list names it.
		lm.files.mu.Unlock()
		lm.nameTransfers()
		lm.files.mu.Lock()
	}
	t := lm.files.get(e.Peer, e.FileID, e.Outgoing)
	waiting := sanitizeName(e.Waiting)
	changed := waiting != t.waiting
	t.bytes, t.size, t.waiting = e.Bytes, e.Size, waiting
	if e.Waiting != p2p.WaitingAccept {
		t.offered = false
	}
	if waiting != "" {
		t.meter.Pause()
	} else {
		t.meter.Observe(now, e.Bytes)
	}
	step := 0
	if e.Size > 0 {
		step = int(e.Bytes * 10 / e.Size)
	}
	due := step > t.step && now.Sub(t.printed) >= lineProgressEvery ||
		e.Bytes > 0 && now.Sub(t.printed) >= lineProgressQuiet
	if !changed && (!due || waiting != "") {
		lm.files.mu.Unlock()
		return
	}
	t.printed, t.step = now, step
	snap := *t
	lm.files.mu.Unlock()
	lm.printf("%s\n", progressLine(&snap, peerLabel(lm.peer(snap.peer))))
}

// progressLine describes a transfer's progress with peer who.
func progressLine(t *lineTransfer, who string) string {
	arrow, dir := "↓", "from"
	if t.outgoing {
		arrow, dir = "↑", "to"
	}
	pct := 0
	if t.size > 0 {
		pct = int(t.bytes * 100 / t.size)
	}
	s := fmt.Sprintf("*** %s %s %s %s: %d%% (%s of %s)", arrow, t.label(), dir, who, pct, xfer.Size(t.bytes), xfer.Size(t.size))
	if t.waiting != "" {
		return s + ", " + t.waiting
	}
	if r := t.meter.BytesPerSecond(); r > 0 {
		s += ", " + xfer.Rate(r)
		if left, ok := t.meter.Left(t.bytes, t.size); ok {
			s += ", " + xfer.Duration(left) + " left"
		}
	}
	return s
}

// nameTransfers reads the names of transfers the interface did not hear
// of (resumed after a restart) from the node.
func (lm *lineMode) nameTransfers() {
	list := lm.node.Transfers()
	lm.files.mu.Lock()
	lm.files.merge(list)
	lm.files.mu.Unlock()
}

// removePaste deletes the paste file a transfer sent, if any.
func removePaste(t *lineTransfer) {
	if t.paste != "" {
		os.Remove(t.paste)
	}
}

// fileCommand runs /send, /accept, /reject, /cancel and /files.
func (lm *lineMode) fileCommand(ctx context.Context, cmd, rest string) {
	switch cmd {
	case "/send":
		if rest == "" {
			lm.printf("usage: /send PATH\n")
			return
		}
		p, ok := lm.currentPeer()
		if !ok {
			return
		}
		lm.sendFile(ctx, p, expandHome(rest), 0)
	case "/files":
		lm.listFiles()
	default:
		lm.answerFile(strings.TrimPrefix(cmd, "/"), rest)
	}
}

// expandHome replaces a leading "~/" with the user's home directory.
func expandHome(path string) string {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, path[1:])
	}
	return path
}

// sendFile offers the file at path to p; paste is the length of the paste
// it holds, if it is one.
func (lm *lineMode) sendFile(ctx context.Context, p p2p.PeerInfo, path string, paste int) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	fi, err := os.Stat(path)
	if err == nil && !fi.Mode().IsRegular() {
		err = p2p.ErrNotRegularFile
	}
	var id string
	if err == nil {
		// The node reads the whole file for its hash first: only the
		// interface's own end bounds it.
		_, id, err = lm.node.SendFile(ctx, p.PeerID, path)
	}
	name := cleanFileName(filepath.Base(path))
	if err != nil {
		if paste > 0 {
			os.Remove(path)
			lm.printf("*** the paste (%s) was not sent: %s\n", xfer.Size(int64(paste)), fileErrLine(err))
			return
		}
		lm.printf("*** not sent: %s: %s\n", name, fileErrLine(err))
		return
	}
	lm.files.mu.Lock()
	t := lm.files.get(p.PeerID, id, true)
	if t.name == "" {
		t.name, t.size = name, fi.Size()
	}
	if paste > 0 {
		t.paste = path
	}
	lm.files.mu.Unlock()
	short := xfer.ShortID(id)
	if paste > 0 {
		lm.printf("*** the text (%s) is over the %d KiB of a message: offered it to %s as the file %s instead [%s]; /cancel %s withdraws it\n",
			xfer.Size(int64(paste)), p2p.MaxMessageText>>10, peerLabel(p), name, short, short)
		return
	}
	lm.printf("*** offered %s (%s) to %s [%s]; it goes once they accept. /cancel %s withdraws it\n",
		t.label(), xfer.Size(fi.Size()), peerLabel(p), short, short)
}

// sendPaste writes text, too long for a message, to a paste file and
// offers it to p.
func (lm *lineMode) sendPaste(ctx context.Context, p p2p.PeerInfo, text string) {
	dir := lm.pasteDir
	if dir == "" {
		var err error
		if dir, err = xfer.PasteDir(""); err != nil {
			lm.printf("*** the text (%s) was not sent: %s\n", xfer.Size(int64(len(text))), oneLine(err.Error()))
			return
		}
	}
	path, err := xfer.WritePaste(dir, []byte(text), time.Now())
	if err != nil {
		lm.printf("*** the text (%s) was not sent: %s\n", xfer.Size(int64(len(text))), oneLine(err.Error()))
		return
	}
	lm.sendFile(ctx, p, path, len(text))
}

// fileErrLine words the errors of the file calls.
func fileErrLine(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, p2p.ErrNotRegularFile):
		return "not a regular file"
	case errors.Is(err, p2p.ErrUnknownFile):
		return "no such transfer (it may have ended)"
	case errors.Is(err, p2p.ErrKeyChanged):
		return "the peer's key changed; compare it, then /trust-new-key"
	}
	return strings.TrimPrefix(oneLine(err.Error()), "p2p: ")
}

// answerFile runs /accept, /reject or /cancel [ID-PREFIX]: by default
// the latest transfer it applies to with the current peer (with no
// current peer: the only peer it applies to).
func (lm *lineMode) answerFile(what, arg string) {
	list := lm.node.Transfers()
	lm.mu.Lock()
	cur := lm.current
	lm.mu.Unlock()
	lm.files.mu.Lock()
	lm.files.merge(list)
	cands := lm.files.sorted(func(t *lineTransfer) bool { return what == "cancel" || !t.outgoing && t.offered })
	var pick *lineTransfer
	var err error
	switch {
	case arg != "":
		ids := make([]string, len(cands))
		for i, t := range cands {
			ids[i] = t.id
		}
		var id string
		if id, err = xfer.Match(ids, arg); err == nil {
			for _, t := range cands {
				if t.id == id {
					pick = t
				}
			}
		}
	default:
		if cur == "" && len(cands) > 0 {
			// No peer chosen: the one peer the candidates are all with.
			cur = cands[0].peer
			for _, t := range cands {
				if t.peer != cur {
					cur = ""
				}
			}
		}
		for _, t := range cands {
			if t.peer == cur {
				pick = t
			}
		}
		if pick == nil {
			err = errors.New("which one? name it by its ID (/files lists them)")
			if len(cands) == 0 {
				err = errors.New("no file offer awaits an answer")
				if what == "cancel" {
					err = errors.New("no file transfer to cancel")
				}
			}
		}
	}
	var t lineTransfer
	if pick != nil {
		t = *pick
	}
	lm.files.mu.Unlock()
	if err != nil {
		lm.printf("*** /%s: %v\n", what, err)
		return
	}
	if what == "accept" {
		err = lm.node.AcceptFile(t.id, "")
	} else {
		err = lm.node.RejectFile(t.id)
	}
	if err != nil {
		lm.printf("*** /%s %s failed: %s\n", what, t.label(), fileErrLine(err))
		return
	}
	who := peerLabel(lm.peer(t.peer))
	switch what {
	case "accept":
		lm.files.mu.Lock()
		pick.offered = false
		lm.files.mu.Unlock()
		lm.printf("*** accepted %s (%s) from %s; it is saved in your downloads folder once whole and checked\n",
			t.label(), xfer.Size(t.size), who)
	case "reject", "cancel":
		lm.files.mu.Lock()
		ended := lm.files.end(t.peer, t.id, t.outgoing)
		if lm.files.quiet == nil {
			lm.files.quiet = map[string]bool{}
		}
		if len(lm.files.quiet) < 1000 { // bounded if the node never answers
			lm.files.quiet[t.peer+" "+t.id] = true
		}
		lm.files.mu.Unlock()
		removePaste(ended)
		if what == "reject" {
			lm.printf("*** refused %s from %s\n", t.label(), who)
		} else {
			lm.printf("*** cancelled %s\n", t.label())
		}
	}
}

// listFiles runs /files.
func (lm *lineMode) listFiles() {
	list := lm.node.Transfers()
	if len(list) == 0 {
		lm.printf("*** no file transfers; /send PATH offers a file to the current peer\n")
		return
	}
	lm.files.mu.Lock()
	lm.files.merge(list)
	lm.files.mu.Unlock()
	for _, x := range list {
		arrow, dir := "↓", "from"
		if x.Outgoing {
			arrow, dir = "↑", "to"
		}
		state := sanitizeName(x.State)
		if x.Waiting != "" {
			state += ", " + sanitizeName(x.Waiting)
		}
		lm.printf("  %s %s %q %s %s  %s of %s  %s\n", xfer.ShortID(x.ID), arrow, cleanFileName(x.Name), dir,
			peerLabel(lm.peer(x.Peer)), xfer.Size(x.Bytes), xfer.Size(x.Size), state)
	}
}
