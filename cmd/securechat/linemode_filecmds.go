package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/xfer"
	"github.com/securechat/securechat/p2p"
)

// The line interface's file commands: /send (and a line too long for a
// message), /accept, /reject, /cancel and /files. Their transfers are
// linemode_files.go's.

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
		lm.pasteDir, lm.pasteTemp = dir, dir // one folder for every paste of this run
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
