package tui

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/cmd/securechat/internal/xfer"
	"github.com/securechat/securechat/p2p"
)

// File transfers on screen. The node moves the files and reports them in
// events ([p2p.FileOffered], [p2p.FileProgress], [p2p.FileDone],
// [p2p.FileFailed]); this file keeps what the screen needs of each
// transfer, writes the lines about it into the peer's conversation, and
// runs /send, /accept, /reject, /cancel and /files. The progress bars over
// the status bar are files_view.go's.

// Transfer states the screen adds to the node's ([p2p.Transfer.State]).
const (
	transferDone   = "done"
	transferFailed = "failed"
)

// maxEnded is how many ended transfers the screen remembers.
const maxEnded = 50

// transfer is what the screen knows of one file transfer.
type transfer struct {
	id       string // file ID
	peer     string // peer ID
	name     string // file name, cleaned
	size     int64
	bytes    int64
	outgoing bool
	state    string // p2p.Transfer* or transferDone, transferFailed
	waiting  string // why it is paused, cleaned; "" while data flows
	meter    xfer.Meter
	seq      int    // the order the screen learnt of transfers in
	offered  bool   // the offer line is on screen (incoming)
	paste    string // the paste file sent, removed when the transfer ends
}

// ended reports whether the transfer is over.
func (t *transfer) ended() bool { return t.state == transferDone || t.state == transferFailed }

// active reports whether the transfer has a progress bar: it is not over,
// and it is not an incoming offer still awaiting an answer.
func (t *transfer) active() bool {
	return !t.ended() && (t.outgoing || t.state != p2p.TransferOffered)
}

// label is the transfer's name for a sentence, or its short ID while the
// name is not known.
func (t *transfer) label() string {
	if t.name == "" {
		return "file " + xfer.ShortID(t.id)
	}
	return `"` + t.name + `"`
}

// maxFileNameRunes caps a file name on screen; a longer one keeps its
// start and its end (the extension), with "…" between.
const maxFileNameRunes = 60

// cleanFileName is cleanText for a file name: one line, trimmed, at most
// [maxFileNameRunes] runes.
func cleanFileName(s string) string {
	s = strings.TrimSpace(cleanText(s, false))
	if r := []rune(s); len(r) > maxFileNameRunes {
		s = string(r[:40]) + "…" + string(r[len(r)-maxFileNameRunes+41:])
	}
	return s
}

// transferKey keys a transfer: the sender picks file IDs, so two senders
// could pick the same one.
func transferKey(peer, id string) string { return peer + " " + id }

// track returns the transfer (peer, id), adding it.
func (m *model) track(peer, id string, outgoing bool) *transfer {
	if m.transfers == nil {
		m.transfers = map[string]*transfer{}
	}
	k := transferKey(peer, id)
	t, ok := m.transfers[k]
	if !ok {
		m.xferSeq++
		t = &transfer{id: id, peer: peer, outgoing: outgoing, state: p2p.TransferOffered, seq: m.xferSeq}
		m.transfers[k] = t
		m.pruneEnded()
	}
	return t
}

// pruneEnded forgets the oldest ended transfers beyond [maxEnded].
func (m *model) pruneEnded() {
	var ended []*transfer
	for _, t := range m.transfers {
		if t.ended() {
			ended = append(ended, t)
		}
	}
	if len(ended) <= maxEnded {
		return
	}
	sort.Slice(ended, func(i, j int) bool { return ended[i].seq < ended[j].seq })
	for _, t := range ended[:len(ended)-maxEnded] {
		delete(m.transfers, transferKey(t.peer, t.id))
	}
}

// sortedTransfers lists the transfers that keep, oldest first.
func (m *model) sortedTransfers(keep func(*transfer) bool) []*transfer {
	var ts []*transfer
	for _, t := range m.transfers {
		if keep(t) {
			ts = append(ts, t)
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].seq < ts[j].seq })
	return ts
}

// handleFileEvent folds a file event into the model; false if ev is none.
func (m *model) handleFileEvent(ev p2p.Event) (tea.Cmd, bool) {
	switch ev := ev.(type) {
	case p2p.FileOffered:
		return m.fileOffered(ev), true
	case p2p.FileProgress:
		return m.fileProgress(ev), true
	case p2p.FileDone:
		return m.fileDone(ev), true
	case p2p.FileFailed:
		return m.fileFailed(ev), true
	}
	return nil, false
}

// fileOffered shows an incoming offer in the sender's conversation.
func (m *model) fileOffered(ev p2p.FileOffered) tea.Cmd {
	p := m.peer(ev.Peer)
	t := m.track(ev.Peer, ev.FileID, false)
	t.name, t.size = cleanFileName(ev.Name), ev.Size
	if t.name == "" {
		t.name = "unnamed"
	}
	m.offerLine(p, t)
	if m.current != p.id {
		m.system(m.current, fmt.Sprintf("%s offers a file (Ctrl+O shows it).", m.senderName(p.id)))
	}
	return m.unfocusedArrival(p.id)
}

// offerLine writes an incoming offer into the sender's conversation: who
// sends it and how far their key is trusted (loud when it is not), the
// file's name and size, and how to answer.
func (m *model) offerLine(p *peer, t *transfer) {
	t.offered = true
	id := xfer.ShortID(t.id)
	what := fmt.Sprintf("offers you a file: %s, %s. /accept %s saves it in your downloads, /reject %s refuses it (Ctrl+O to review).",
		t.label(), xfer.Size(t.size), id, id)
	who := m.senderName(p.id)
	switch {
	case p.verified():
		m.system(p.id, fmt.Sprintf("%s (verified) %s", who, what))
	case p.keyChanged:
		m.alert(p.id, fmt.Sprintf("%s (KEY CHANGED: this may not be %s) %s", who, who, what))
	case p.trust == p2p.TrustPinned && !p.stranger:
		m.system(p.id, fmt.Sprintf("%s (known key, not verified) %s", who, what))
	case p.stranger:
		m.alert(p.id, fmt.Sprintf("%s (a STRANGER, NEW KEY, NOT VERIFIED: /verify before you open it) %s", who, what))
	default:
		m.alert(p.id, fmt.Sprintf("%s (NEW KEY, NOT VERIFIED: /verify before you open it) %s", who, what))
	}
}

// fileProgress moves a transfer's bar on.
func (m *model) fileProgress(ev p2p.FileProgress) tea.Cmd {
	k := transferKey(ev.Peer, ev.FileID)
	_, known := m.transfers[k]
	t := m.track(ev.Peer, ev.FileID, ev.Outgoing)
	if t.ended() {
		return nil // a report that crossed the end
	}
	t.bytes, t.size = ev.Bytes, ev.Size
	t.waiting = cleanText(ev.Waiting, false)
	switch {
	case ev.Waiting == p2p.WaitingAccept:
		t.state = p2p.TransferOffered
	case t.state == p2p.TransferOffered:
		t.state = p2p.TransferAccepted
	}
	if t.waiting != "" {
		t.meter.Pause()
	} else {
		t.meter.Observe(m.now(), ev.Bytes)
	}
	if !known {
		// A transfer the screen did not hear of (one resumed after a
		// restart): the node's list has its name.
		return m.loadTransfers("")
	}
	return nil
}

// fileDone reports a completed transfer.
func (m *model) fileDone(ev p2p.FileDone) tea.Cmd {
	t := m.track(ev.Peer, ev.FileID, ev.Outgoing)
	t.state, t.waiting = transferDone, ""
	t.bytes = max(t.bytes, t.size)
	who := m.senderName(ev.Peer)
	if ev.Outgoing {
		m.system(ev.Peer, fmt.Sprintf("%s received %s (%s); its SHA-256 matches.", who, t.label(), xfer.Size(t.size)))
	} else {
		m.system(ev.Peer, fmt.Sprintf("Received %s (%s) from %s; its SHA-256 matches. Saved as %s",
			t.label(), xfer.Size(t.size), who, cleanText(ev.Path, false)))
	}
	m.pruneEnded()
	return tea.Batch(m.removePaste(t), m.unfocusedArrival(ev.Peer))
}

// fileFailed reports a transfer that ended without the file.
func (m *model) fileFailed(ev p2p.FileFailed) tea.Cmd {
	t := m.track(ev.Peer, ev.FileID, ev.Outgoing)
	if t.ended() {
		return nil
	}
	t.state, t.waiting = transferFailed, ""
	who := m.senderName(ev.Peer)
	switch ev.Reason {
	case p2p.FileReasonRejected:
		if ev.Outgoing {
			m.system(ev.Peer, fmt.Sprintf("%s declined %s.", who, t.label()))
		} else {
			m.system(ev.Peer, fmt.Sprintf("Declined %s from %s.", t.label(), who))
		}
	case p2p.FileReasonCancelled:
		m.system(ev.Peer, fmt.Sprintf("The transfer of %s was cancelled.", t.label()))
	default:
		m.alert(ev.Peer, fmt.Sprintf("The transfer of %s %s %s failed: %s.", t.label(), direction(t), who, failReason(ev.Reason)))
	}
	m.pruneEnded()
	return m.removePaste(t)
}

// direction is "to" for an outgoing transfer, "from" for an incoming one.
func direction(t *transfer) string {
	if t.outgoing {
		return "to"
	}
	return "from"
}

// failReason words a [p2p.FileFailed] reason.
func failReason(reason string) string {
	switch reason {
	case p2p.FileReasonFailed:
		return "the file could not be read or stored"
	case p2p.FileReasonCorrupt:
		return "the data did not check out (a bad chunk or a wrong SHA-256); nothing was kept"
	case p2p.FileReasonTooLarge:
		return "the file is over the receiver's size limit"
	case p2p.FileReasonNoSpace:
		return "the disk is full"
	case p2p.FileReasonChanged:
		return "the file changed on the sender's disk before it was sent whole"
	}
	return cleanName(reason)
}

// removePaste deletes the paste file a transfer sent, outside Update.
func (m *model) removePaste(t *transfer) tea.Cmd {
	path := t.paste
	if path == "" {
		return nil
	}
	t.paste = ""
	return func() tea.Msg {
		os.Remove(path)
		return nil
	}
}

// transfersMsg carries a [Node.Transfers] list into Update; conv is where
// /files lists it ("" and list false: a quiet refresh).
type transfersMsg struct {
	conv string
	list bool
	ts   []p2p.Transfer
}

// loadTransfers reads the node's transfers outside Update; it lists them in
// conversation conv, unless conv is "", a refresh at most once at a time.
func (m *model) loadTransfers(conv string) tea.Cmd {
	list := conv != ""
	if !list {
		if m.xferLoading {
			return nil
		}
		m.xferLoading = true
	}
	node := m.node
	return func() tea.Msg { return transfersMsg{conv: conv, list: list, ts: node.Transfers()} }
}

// mergeTransfers folds the node's list into the screen's, shows the
// offers that await an answer (after a restart), and lists them for
// /files.
func (m *model) mergeTransfers(msg transfersMsg) {
	if !msg.list {
		m.xferLoading = false
	}
	for _, x := range msg.ts {
		t := m.track(x.Peer, x.ID, x.Outgoing)
		if t.ended() {
			continue
		}
		if n := cleanFileName(x.Name); n != "" {
			t.name = n
		}
		t.size, t.bytes, t.state = x.Size, x.Bytes, x.State
		t.waiting = cleanText(x.Waiting, false)
		if !t.outgoing && t.state == p2p.TransferOffered && !t.offered {
			m.offerLine(m.peer(x.Peer), t)
		}
	}
	if !msg.list {
		return
	}
	if len(msg.ts) == 0 {
		m.system(msg.conv, "No file transfers. /send PATH offers a file to this conversation's peer.")
		return
	}
	m.system(msg.conv, "File transfers:")
	for _, x := range msg.ts {
		t := m.transfers[transferKey(x.Peer, x.ID)]
		arrow, dir := "↓", "from"
		if t.outgoing {
			arrow, dir = "↑", "to"
		}
		state := t.state
		if t.waiting != "" {
			state += ", " + t.waiting
		}
		m.system(msg.conv, fmt.Sprintf("  %s %s %s %s %s  %s of %s  %s",
			xfer.ShortID(t.id), arrow, t.label(), dir, m.senderName(t.peer), xfer.Size(t.bytes), xfer.Size(t.size), state))
	}
}

// fileSentMsg is the node's answer to a SendFile.
type fileSentMsg struct {
	peer   string
	path   string
	size   int64
	fileID string
	paste  int64 // the length of the paste the file holds, if it is one
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
	node := m.node
	return func() tea.Msg {
		var err error
		if what == "accept" {
			err = node.AcceptFile(t.id, "")
		} else {
			err = node.RejectFile(t.id)
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
