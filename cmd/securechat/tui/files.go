package tui

import (
	"fmt"
	"os"
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
	if note := fmt.Sprintf("%s offers a file (Ctrl+O shows it).", m.senderName(p.id)); m.current != p.id && !m.lastSaid(m.current, note) {
		// Once, however many offers come in a row.
		m.system(m.current, note)
	}
	return m.unfocusedArrival(p.id)
}

// lastSaid reports whether the last line of conversation id is text.
func (m *model) lastSaid(id, text string) bool {
	c := m.conv(id)
	return len(c.lines) > 0 && c.lines[len(c.lines)-1].text == text
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
		m.alert(ev.Peer, fmt.Sprintf("The transfer of %s %s %s failed: %s.", t.label(), direction(t), who, xfer.Reason(ev.Reason)))
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
