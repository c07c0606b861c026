package tui

import (
	"fmt"
	"slices"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// historyShown is how many earlier messages a conversation shows when it
// is opened.
const historyShown = 50

// historyMsg carries a conversation's stored messages into Update.
type historyMsg struct {
	peerID  string
	entries []p2p.HistoryEntry
}

// loadHistory reads the stored messages of each conversation opened since
// the last call, outside Update. A conversation is opened when its peer
// first appears, so its history is there before anyone switches to it.
func (m *model) loadHistory() tea.Cmd {
	ids := m.historyDue
	m.historyDue = nil
	if len(ids) == 0 {
		return nil
	}
	h := m.node
	cmds := make([]tea.Cmd, 0, len(ids))
	for _, id := range ids {
		cmds = append(cmds, func() tea.Msg {
			es, err := h.History(id, historyShown)
			if err != nil {
				return nil // a conversation without its past is still usable
			}
			return historyMsg{peerID: id, entries: es}
		})
	}
	return tea.Batch(cmds...)
}

// mergeHistory puts stored messages before what this run has shown. The
// store also holds this run's messages; the entries from the first one
// already on screen on are left out, so nothing shows twice (a later
// event for an entry taken here is dropped by ID in [model.received]).
func (m *model) mergeHistory(msg historyMsg) {
	c := m.conv(msg.peerID)
	// Scrolling back goes on from the oldest entry read, shown here or
	// already on screen from this run.
	c.older.done = len(msg.entries) < historyShown
	if len(msg.entries) > 0 {
		c.older.before = msg.entries[0].Seq
	}
	shown := map[string]bool{}
	for _, l := range c.lines {
		if l.id != "" {
			shown[l.id] = true
		}
	}
	es := msg.entries
	if i := slices.IndexFunc(es, func(e p2p.HistoryEntry) bool { return shown[e.ID] }); i >= 0 {
		es = es[:i]
	}
	if len(es) == 0 {
		return
	}
	c.older.shown = len(es)
	old := make([]line, 0, len(es)+1)
	old = append(old, historyHeader(es[0], c.older.shown))
	old = appendHistory(old, msg.peerID, es)
	c.lines = append(old, c.lines...)
	if len(c.lines) > maxLines {
		c.lines = c.lines[len(c.lines)-maxLines:]
		c.older.done = true
	}
}

// historyHeader is the line over the history shown: n entries, the oldest
// being first.
func historyHeader(first p2p.HistoryEntry, n int) line {
	return line{kind: lineSystem, at: first.SentAt, header: true,
		text: fmt.Sprintf("Earlier %s (%d, from the history):", plural(n, "message", "messages"), n)}
}

// appendHistory appends stored entries of the conversation with peerID
// to ls as lines.
func appendHistory(ls []line, peerID string, es []p2p.HistoryEntry) []line {
	for _, e := range es {
		// A stored message has only the sender's time; it is shown as the
		// line's time, coarse as it is (the node rounds it to the minute).
		l := line{kind: lineIn, at: e.SentAt, from: peerID, id: e.ID, text: cleanText(e.Text, true)}
		if e.FromMe {
			l.kind, l.state = lineOwn, historyState(e.State)
		}
		ls = append(ls, l)
	}
	return ls
}

// historyState maps a stored delivery state to the one drawn.
func historyState(s string) sendState {
	switch s {
	case p2p.StateDelivered:
		return stateDelivered
	case p2p.StateSent:
		return stateSent
	case p2p.StateDeposited:
		return stateDeposited
	}
	return stateQueued
}

// hasLine reports whether conversation id shows message msgID.
func (m *model) hasLine(id, msgID string) bool {
	c, ok := m.convs[id]
	if !ok || msgID == "" {
		return false
	}
	return slices.ContainsFunc(c.lines, func(l line) bool { return l.id == msgID })
}
