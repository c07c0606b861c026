package tui

import (
	"slices"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// olderHistory is where scrolling back through a conversation reads the
// node's history on: a conversation opens with the last [historyShown]
// messages, and each PgUp that reaches the top asks for the page before
// them ([Node.HistoryBefore]).
type olderHistory struct {
	before  uint64 // Seq of the oldest entry read; 0 until the first load
	shown   int    // entries from the history on screen
	done    bool   // nothing older, or no room for it
	loading bool   // a page is on its way
}

// olderMsg carries a page of older history into Update.
type olderMsg struct {
	peerID  string
	before  uint64 // the bound it was read with
	entries []p2p.HistoryEntry
	err     error
}

// pageUp scrolls the current conversation up by a screen. When that
// reaches the top it asks for the page of history before the oldest line,
// so the next PgUp goes on into it.
func (m *model) pageUp() tea.Cmd {
	c := m.conv(m.current)
	top := m.maxScroll()
	c.scroll = min(c.scroll+m.paneHeight()-1, top)
	if c.scroll < top {
		return nil
	}
	return m.loadOlder(m.current)
}

// maxScroll is how far the current conversation can scroll up: its rows
// less the rows of the pane that show them.
func (m *model) maxScroll() int {
	h := m.mainHeight() - 1 // the title
	if p, ok := m.peers[m.current]; ok && p.keyChanged {
		h -= len(m.banner(p, m.mainHeight()))
	}
	return max(0, len(m.renderLines(m.conv(m.current), m.paneWidth()))-h)
}

// loadOlder reads the page of history before the oldest entry of
// conversation id, outside Update; nil if there is none to read.
func (m *model) loadOlder(id string) tea.Cmd {
	c := m.conv(id)
	if _, ok := m.peers[id]; !ok || c.older.done || c.older.loading || c.older.before == 0 {
		return nil
	}
	c.older.loading = true
	node, before := m.node, c.older.before
	return func() tea.Msg {
		es, err := node.HistoryBefore(id, before, historyShown)
		return olderMsg{peerID: id, before: before, entries: es, err: err}
	}
}

// mergeOlder puts a page of older history above the conversation's lines,
// under one "Earlier messages" line for all the history shown. The rows
// scrolled up from the bottom stay the same, so the screen does not move:
// the page is above it, for the next PgUp.
func (m *model) mergeOlder(msg olderMsg) {
	c := m.conv(msg.peerID)
	c.older.loading = false
	if msg.err != nil || msg.before != c.older.before {
		return // a conversation without its past is still usable
	}
	es := msg.entries
	if len(es) < historyShown {
		c.older.done = true
	}
	if len(es) == 0 {
		return
	}
	c.older.before = es[0].Seq
	// The node pages by Seq, so nothing repeats; a line already on screen
	// is still not shown twice.
	es = slices.DeleteFunc(slices.Clone(es), func(e p2p.HistoryEntry) bool { return m.hasLine(msg.peerID, e.ID) })
	rest := slices.DeleteFunc(c.lines, func(l line) bool { return l.header })
	if room := maxLines - 1 - len(rest); len(es) > room {
		es = es[max(0, len(es)-room):]
		c.older.done = true
	}
	if len(es) == 0 {
		c.lines = rest
		return
	}
	c.older.shown += len(es)
	lines := make([]line, 0, 1+len(es)+len(rest))
	lines = append(lines, historyHeader(es[0], c.older.shown))
	lines = appendHistory(lines, msg.peerID, es)
	c.lines = append(lines, rest...)
}
