package tui

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/cmd/securechat/internal/xfer"
	"github.com/securechat/securechat/p2p"
)

// The file commands: /send (and a paste too long for a message), /accept,
// /reject, /cancel and Ctrl+O's offer window. /files is loadTransfers
// (files.go).

// fileSentMsg is the node's answer to a SendFile.
type fileSentMsg struct {
	peer   string
	path   string
	size   int64
	fileID string
	paste  int64  // the length of the paste the file holds, if it is one
	dir    string // the paste folder it made, kept for the next paste
	err    error
}

// sendFile offers the file at arg to the current conversation's peer.
func (m *model) sendFile(arg string) tea.Cmd {
	here := m.current
	if arg == "" {
		m.alert(here, "Usage: /send PATH (Tab completes the path)")
		return nil
	}
	if !m.canSend(here, "/send "+arg) {
		return nil
	}
	path := expandHome(arg)
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	m.system(here, fmt.Sprintf("Reading \"%s\" to offer it to %s …", cleanFileName(filepath.Base(path)), m.senderName(here)))
	ctx, node := m.ctx, m.node
	return func() tea.Msg {
		r := fileSentMsg{peer: here, path: path}
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			r.err = err
		case !fi.Mode().IsRegular():
			r.err = p2p.ErrNotRegularFile
		default:
			// The node reads the whole file for its hash first: no
			// timeout but the interface's own end.
			r.size = fi.Size()
			_, r.fileID, r.err = node.SendFile(ctx, here, path)
		}
		return r
	}
}

// canSend reports whether conversation id can take a message or a file;
// if not it says why, and puts one-line text back in the input line.
func (m *model) canSend(id, text string) bool {
	p, ok := m.peers[id]
	switch {
	case !ok:
		m.alert(m.current, "Not sent: this is the status conversation. Pick a peer with /msg NAME or Ctrl+N.")
		m.restore(text)
		return false
	case p.blocked:
		m.alert(id, fmt.Sprintf("Not sent: you blocked %s. /unblock undoes it.", m.senderName(id)))
		return false
	case p.keyChanged:
		m.alert(id, fmt.Sprintf("Not sent: the key of %s changed. Compare it, then /trust-new-key.", m.senderName(id)))
		m.restore(text)
		return false
	}
	return true
}

// handleFileSent reports the answer to /send or to a long paste.
func (m *model) handleFileSent(r fileSentMsg) tea.Cmd {
	if m.opts.PasteDir == "" && r.dir != "" {
		m.opts.PasteDir, m.pasteTemp = r.dir, r.dir
	}
	name := cleanFileName(filepath.Base(r.path))
	if r.err != nil {
		what := "Not sent: " + name + ": " + fileErrText(r.err)
		if r.paste > 0 {
			what = fmt.Sprintf("The paste (%s) was not sent: %s", xfer.Size(r.paste), fileErrText(r.err))
		}
		m.alert(r.peer, what)
		if r.paste > 0 && r.path != "" {
			path := r.path
			return func() tea.Msg { os.Remove(path); return nil }
		}
		return nil
	}
	t := m.track(r.peer, r.fileID, true)
	t.name, t.size = name, r.size
	id := xfer.ShortID(r.fileID)
	who := m.senderName(r.peer)
	if r.paste > 0 {
		t.paste = r.path
		m.system(r.peer, fmt.Sprintf("The paste (%s) is over the %d KiB of a message: offered it to %s as the file %s instead [%s]. /cancel %s withdraws it.",
			xfer.Size(r.paste), p2p.MaxMessageText>>10, who, name, id, id))
	} else {
		m.system(r.peer, fmt.Sprintf("Offered %s (%s) to %s [%s]; it goes once %s accepts. /cancel %s withdraws it.",
			t.label(), xfer.Size(r.size), who, id, who, id))
	}
	if t.ended() {
		return m.removePaste(t) // it ended before this answer came
	}
	return nil
}

// fileErrText words the errors of the file calls.
func fileErrText(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "no such file"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied"
	case errors.Is(err, p2p.ErrNotRegularFile):
		return "not a regular file (a folder or a device?)"
	case errors.Is(err, p2p.ErrUnknownFile):
		return "no such transfer (it may have ended)"
	case errors.Is(err, p2p.ErrFileState):
		return "the transfer cannot do that now"
	case errors.Is(err, p2p.ErrFileTooLarge):
		return "the file is over the size limit (--max-file-size)"
	case errors.Is(err, p2p.ErrNoSpace):
		return "not enough free space in the downloads folder"
	case errors.Is(err, p2p.ErrFilePath):
		return "cannot save the file there"
	}
	return errText(err)
}

// sendPaste writes text, too long for a message, to a paste file and
// offers that to peer id.
func (m *model) sendPaste(id, text string) tea.Cmd {
	if !m.canSend(id, "") {
		return nil
	}
	ctx, node, dir, now := m.ctx, m.node, m.opts.PasteDir, m.now()
	return func() tea.Msg {
		r := fileSentMsg{peer: id, paste: int64(len(text)), size: int64(len(text))}
		if dir == "" {
			if dir, r.err = xfer.PasteDir(""); r.err != nil {
				return r
			}
			r.dir = dir
		}
		if r.path, r.err = xfer.WritePaste(dir, []byte(text), now); r.err != nil {
			return r
		}
		_, r.fileID, r.err = node.SendFile(ctx, id, r.path)
		return r
	}
}

// fileResultMsg is the node's answer to /accept, /reject or /cancel.
type fileResultMsg struct {
	conv, what string
	t          *transfer
	err        error
}

// fileCommand runs /accept, /reject or /cancel with its optional ID
// prefix.
func (m *model) fileCommand(what, arg string) tea.Cmd {
	here := m.current
	t := m.pickTransfer(what, arg)
	if t == nil {
		return nil
	}
	node, id := m.node, t.id
	return func() tea.Msg {
		var err error
		if what == "accept" {
			err = node.AcceptFile(id, "")
		} else {
			err = node.RejectFile(id)
		}
		return fileResultMsg{conv: here, what: what, t: t, err: err}
	}
}

// pickTransfer finds the transfer a command names: by the start of its
// ID, else the latest one it applies to in this conversation (or
// anywhere, when there is only one). It reports failures itself.
func (m *model) pickTransfer(what, arg string) *transfer {
	here := m.current
	fits := func(t *transfer) bool {
		if what == "cancel" {
			return !t.ended()
		}
		return !t.outgoing && t.state == p2p.TransferOffered
	}
	cands := m.sortedTransfers(fits)
	noun := "file offer awaiting an answer"
	if what == "cancel" {
		noun = "file transfer under way"
	}
	if arg != "" {
		ids := make([]string, len(cands))
		for i, t := range cands {
			ids[i] = t.id
		}
		id, err := xfer.Match(ids, arg)
		if err != nil {
			m.alert(here, fmt.Sprintf("/%s %s: %s. /files lists them.", what, cleanName(arg), err))
			return nil
		}
		for _, t := range cands {
			if t.id == id {
				return t
			}
		}
	}
	var mine []*transfer
	for _, t := range cands {
		if t.peer == here {
			mine = append(mine, t)
		}
	}
	switch {
	case len(mine) > 0:
		return mine[len(mine)-1]
	case len(cands) == 1 && here == statusConv:
		return cands[0]
	case len(cands) == 0:
		m.alert(here, fmt.Sprintf("No %s.", noun))
	default:
		m.alert(here, fmt.Sprintf("No %s here; name one by its ID: /%s ID (/files lists them).", noun, what))
	}
	return nil
}

// handleFileResult reports the answer to /accept, /reject or /cancel.
func (m *model) handleFileResult(r fileResultMsg) tea.Cmd {
	t := r.t
	if r.err != nil {
		m.alert(r.conv, fmt.Sprintf("/%s %s failed: %s", r.what, t.label(), fileErrText(r.err)))
		return nil
	}
	switch r.what {
	case "accept":
		if !t.ended() && t.state == p2p.TransferOffered {
			t.state = p2p.TransferAccepted
		}
		m.system(t.peer, fmt.Sprintf("Accepted %s (%s); it is saved in your downloads folder once whole and checked.",
			t.label(), xfer.Size(t.size)))
		if r.conv != t.peer {
			m.system(r.conv, fmt.Sprintf("Accepted %s from %s.", t.label(), m.senderName(t.peer)))
		}
	case "reject", "cancel":
		if t.ended() {
			return nil // the node's FileFailed came first and said so
		}
		// Ended here: the node's FileFailed that follows adds nothing.
		t.state, t.waiting = transferFailed, ""
		if r.what == "reject" {
			m.system(r.conv, fmt.Sprintf("Refused %s from %s.", t.label(), m.senderName(t.peer)))
		} else {
			m.system(r.conv, fmt.Sprintf("Cancelled %s %s %s.", t.label(), direction(t), m.senderName(t.peer)))
		}
		m.pruneEnded()
		return m.removePaste(t)
	}
	return nil
}

// latestOffer is the newest incoming offer awaiting an answer, in the
// current conversation if it has one.
func (m *model) latestOffer() *transfer {
	var any *transfer
	for _, t := range m.sortedTransfers(func(t *transfer) bool { return !t.outgoing && t.state == p2p.TransferOffered }) {
		if t.peer == m.current || any == nil || any.peer != m.current {
			any = t
		}
	}
	return any
}

// offerModal shows an offer in full and asks for an answer.
func (m *model) offerModal(t *transfer) *modal {
	p := m.peer(t.peer)
	who := m.senderName(p.id)
	trust := trustWords(p)
	if p.stranger {
		trust += ", a stranger"
	}
	body := []string{
		"From:   " + who + " (" + shortID(p.id) + ")",
		"Key:    " + trust,
		"Name:   " + t.name,
		"Size:   " + xfer.Size(t.size),
		"ID:     " + t.id,
		"",
		"Accepted, it is saved in your downloads folder under this",
		"name (with a (1)-style suffix if taken), once every byte",
		"has arrived and its SHA-256 matches. Nothing is written",
		"before you accept.",
	}
	if !p.verified() {
		body = append(body, "", "You have not verified "+who+"'s key: /verify first if",
			"you need to be sure who sends this.")
	}
	id := t.id
	return &modal{
		title:   "File offer from " + who,
		body:    body,
		prompt:  "y: accept · n: refuse · Esc: decide later",
		confirm: true,
		later:   true,
		onYes: func(m *model) tea.Cmd {
			return m.fileCommand("accept", id)
		},
		onNo: func(m *model) tea.Cmd {
			return m.fileCommand("reject", id)
		},
	}
}

// reviewOffer opens the latest offer (Ctrl+O).
func (m *model) reviewOffer() tea.Cmd {
	t := m.latestOffer()
	if t == nil {
		m.system(m.current, "No file offer awaits an answer.")
		return nil
	}
	m.show(t.peer)
	m.modal = m.offerModal(t)
	return nil
}
