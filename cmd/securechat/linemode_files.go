package main

import (
	"fmt"
	"os"
	"sort"
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
			lm.printf("!!! the transfer of %s %s %s failed: %s\n", t.label(), dir, who, xfer.Reason(e.Reason))
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
