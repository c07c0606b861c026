package tui

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/securechat/securechat/p2p"
)

// Layout constants.
const (
	// sidebarMinWidth is the terminal width below which the peer list is
	// hidden.
	sidebarMinWidth = 70
	// sidebarWidth is the width of the peer list.
	sidebarWidth = 29 // " " + 16 hex digits + " KEY CHANGED"
	// stampWidth is the width of "15:04 ", the indent of wrapped lines.
	stampWidth = 6
	// minWidth and minHeight are the smallest usable screen.
	minWidth, minHeight = 30, 8
)

// View draws the screen.
func (m *model) View() (v tea.View) {
	defer func() {
		if r := recover(); r != nil {
			// Update quits on the next message (panics.go).
			m.crash("view", r, debug.Stack())
			v = tea.NewView("securechat: internal error; quitting.")
		}
	}()
	v = tea.NewView(m.render())
	v.AltScreen = true
	v.ReportFocus = m.opts.Bell || m.opts.Notify != NotifyOff
	v.WindowTitle = "securechat"
	if m.modal == nil && !m.quitting && m.width >= minWidth && m.height >= minHeight {
		if c := m.input.Cursor(); c != nil {
			c.X += ansi.StringWidth(m.prompt())
			c.Y = m.height - 1 - m.suggestRows()
			v.Cursor = c
		}
	}
	return v
}

// render draws the screen as text, one row per terminal line.
func (m *model) render() string {
	w, h := m.width, m.height
	if w < minWidth || h < minHeight {
		return fit("Terminal too small for securechat.", w)
	}
	mainH := m.mainHeight()
	var rows []string
	if m.modal != nil {
		rows = m.renderModal(w, mainH)
	} else {
		sideW := 0
		if w >= sidebarMinWidth {
			sideW = sidebarWidth
		}
		rows = m.renderPane(m.paneWidth(), mainH)
		if sideW > 0 {
			side := m.renderSidebar(sideW, mainH)
			sep := styleDim.Render("│")
			for i := range rows {
				rows[i] += sep + side[i]
			}
		}
	}
	rows = append(rows, m.renderTransfers(w)...) // files_view.go
	rows = append(rows, m.renderStatus(w), m.renderInput(w))
	if m.suggestRows() > 0 {
		rows = append(rows, m.renderSuggestion(w))
	}
	return strings.Join(rows, "\n")
}

// mainHeight is the height of the area over the transfer bars and the
// status bar: the screen less those, the input line and any suggestion
// line under it.
func (m *model) mainHeight() int {
	return m.height - 2 - m.suggestRows() - m.transferRows()
}

// paneHeight is how many message rows the pane shows, roughly, for paging.
func (m *model) paneHeight() int {
	return max(1, m.height-3)
}

// renderPane draws the title, any key-change banner and the messages of
// the current conversation, exactly h rows of width w.
func (m *model) renderPane(w, h int) []string {
	rows := []string{styleTitle.Render(fit(m.title(), w))}
	if p, ok := m.peers[m.current]; ok && p.keyChanged {
		for _, r := range m.banner(p, h) {
			rows = append(rows, styleBanner.Render(fit(r, w)))
		}
	}
	avail := h - len(rows)
	c := m.conv(m.current)
	msgs := m.renderLines(c, w)
	scroll := min(c.scroll, max(0, len(msgs)-avail))
	end := len(msgs) - scroll
	start := max(0, end-avail)
	shown := msgs[start:end]
	for len(shown) < avail {
		shown = append([]string{""}, shown...)
	}
	if scroll > 0 && avail > 0 {
		shown[len(shown)-1] = styleWarn.Render(fit(fmt.Sprintf("── %d more %s below: PgDn, or Esc ──", scroll, plural(scroll, "line", "lines")), w))
	}
	for _, r := range shown {
		rows = append(rows, fit(r, w))
	}
	return rows[:h]
}

// title describes the current conversation.
func (m *model) title() string {
	p, ok := m.peers[m.current]
	if !ok {
		return fmt.Sprintf(" status · %d %s · /help for commands", len(m.peers), plural(len(m.peers), "peer", "peers"))
	}
	state := "offline"
	if p.online {
		state = "online"
		if c := connWord(p); c != "" {
			state += ", " + c
		}
	}
	return fmt.Sprintf(" %s · %s · fp %s · %s · %s", m.senderName(p.id), shortID(p.id), p.fp.Short(), trustWords(p), state)
}

// banner is the key-change warning over a conversation, shorter on small
// screens.
func (m *model) banner(p *peer, h int) []string {
	name := m.senderName(p.id)
	head := "⚠ KEY CHANGED for " + name + ": sending is blocked"
	if h < 16 {
		return []string{head, fmt.Sprintf("old %s → new %s · compare, then /trust-new-key", p.fp.Short(), shortFP(p))}
	}
	rows := []string{head}
	for _, r := range keyChangeRows(p.fp, p.newFP) {
		rows = append(rows, "  "+r)
	}
	return append(rows, "Compare the new key with "+name+", then /trust-new-key.")
}

// shortFP is the short form of a peer's new fingerprint, or "?".
func shortFP(p *peer) string {
	if p.newFP.IsZero() {
		return "?"
	}
	return p.newFP.Short()
}

// renderLines draws every line of c wrapped to width w.
func (m *model) renderLines(c *conversation, w int) []string {
	var rows []string
	// The first line gets a day line too, unless it is from today.
	prev := m.now()
	for _, l := range c.lines {
		rows = append(rows, m.lineRows(l, prev, w)...)
		prev = l.at
	}
	return rows
}

// lineRows draws one line wrapped to width w, after a day line if the
// line before it (at prev) was on another day.
func (m *model) lineRows(l line, prev time.Time, w int) []string {
	var rows []string
	at := l.at.In(m.loc)
	if !sameDay(prev.In(m.loc), at) {
		rows = append(rows, styleDim.Render(fit("──── "+at.Format("Monday 2 January 2006")+" ────", w)))
	}
	if l.kind == lineRaw {
		// Copyable: no stamp, no indent; a word longer than the width
		// (an invite, an address) is cut at the width only.
		return append(rows, strings.Split(ansi.Wrap(l.text, max(1, w), ""), "\n")...)
	}
	wrapped := strings.Split(ansi.Wrap(m.lineBody(l), max(1, w-stampWidth), ""), "\n")
	for j, r := range wrapped {
		if j == 0 {
			rows = append(rows, styleDim.Render(at.Format("15:04"))+" "+r)
		} else {
			rows = append(rows, strings.Repeat(" ", stampWidth)+r)
		}
	}
	return rows
}

// paneWidth is the width of the message pane: the screen less the peer
// list, when that is shown.
func (m *model) paneWidth() int {
	if m.width >= sidebarMinWidth {
		return m.width - sidebarWidth - 1
	}
	return m.width
}

// lineBody draws one line without its time stamp.
func (m *model) lineBody(l line) string {
	switch l.kind {
	case lineIn:
		name := styleOwn.Foreground(peerColor(l.from)).Render(m.senderName(l.from))
		return name + ": " + l.text + styleDim.Render(m.sentNote(l))
	case lineOwn:
		return styleOwn.Render(m.name) + ": " + l.text + styleDim.Render(stateMark(l.state))
	case lineAlert:
		return styleAlert.Render("!! " + l.text)
	}
	return styleSystem.Render("-- " + l.text)
}

// sentSkew is how far a received message's claimed sending time may be
// from its arrival before the line shows it; the node rounds the claim to
// the minute.
const sentSkew = 2 * time.Minute

// sentNote shows the sender's claimed time of a received line when it is
// far from the arrival time (a message that waited in an outbox, or a
// wrong clock), else "". The claim comes from the peer: a year no clock
// should show is not printed as such.
func (m *model) sentNote(l line) string {
	if l.sentAt.IsZero() {
		return ""
	}
	d := l.at.Sub(l.sentAt)
	if d < sentSkew && d > -sentSkew {
		return ""
	}
	s, a := l.sentAt.In(m.loc), l.at.In(m.loc)
	if s.Year() < 2000 || s.Year() > 9999 {
		return "  (the sender's clock is wrong)"
	}
	layout := "15:04"
	switch {
	case s.Year() != a.Year():
		layout = "2 Jan 2006 15:04"
	case !sameDay(s, a):
		layout = "Mon 2 Jan 15:04"
	}
	if d < 0 {
		return "  (the sender's clock says " + s.Format(layout) + ")"
	}
	return "  (sent " + s.Format(layout) + ")"
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// sameDay reports whether a and b fall on the same calendar day.
func sameDay(a, b time.Time) bool {
	return a.YearDay() == b.YearDay() && a.Year() == b.Year()
}

// stateMark shows the delivery state of an own message.
func stateMark(s sendState) string {
	switch s {
	case stateQueued:
		return "  ○ queued"
	case stateSent:
		return "  ✓ sent"
	case stateDeposited:
		return "  ✉ in mailbox"
	case stateDelivered:
		return "  ✓✓ delivered"
	case stateFailed:
		return "  ✗ not sent"
	}
	return "  … sending"
}

// renderSidebar draws the conversation list, exactly h rows of width w.
func (m *model) renderSidebar(w, h int) []string {
	rows := []string{styleTitle.Render(fit(fmt.Sprintf(" Peers %d/%d online", m.onlineCount(), len(m.peers)), w))}
	entry := func(id, first, second string) {
		if id == m.current {
			first = styleSelected.Render(fit(first, w))
		}
		if n := m.conv(id).unread; n > 0 {
			first = fit(first, w-ansi.StringWidth(fmt.Sprint(n))-2) + " " + styleUnread.Render(fmt.Sprint(n)) + " "
		}
		rows = append(rows, fit(first, w))
		if second != "" {
			rows = append(rows, fit(second, w))
		}
	}
	entry(statusConv, "0 status", "")
	for i, id := range m.order {
		p := m.peers[id]
		if len(rows)+2 > h && i < len(m.order) {
			rows = append(rows, fit(fmt.Sprintf("  +%d more: /peers", len(m.order)-i), w))
			break
		}
		dot := "○"
		switch {
		case p.online && p.conn == p2p.ConnRelayed:
			dot = "◐" // online through a relay
		case p.online:
			dot = "●"
		}
		badge, word := "?", styleWarn.Render("unverified")
		switch {
		case p.blocked:
			badge, word = "⊘", styleAlert.Render("blocked")
		case p.keyChanged:
			badge, word = "!", styleAlert.Render("KEY CHANGED")
		case p.verified():
			badge, word = "✓", styleVerified.Render("verified")
		case p.stranger:
			word = styleWarn.Render("stranger")
		}
		num := " "
		if i < 9 {
			num = fmt.Sprint(i + 1)
		}
		// The second row shows the fingerprint's first 64 bits (Short) for every
		// peer (p2p.MinFingerprintPrefix); peers that share a name are told
		// apart there, so the first row keeps the name alone.
		label := m.senderName(id)
		if m.nameTaken(p) {
			label = p.shown()
		}
		name := styleOwn.Foreground(peerColor(id)).Render(label)
		entry(id, fmt.Sprintf("%s %s%s %s", num, dot, badge, name), fmt.Sprintf(" %s %s", p.fp.Short(), word))
	}
	for len(rows) < h {
		rows = append(rows, strings.Repeat(" ", w))
	}
	return rows[:h]
}

// renderStatus draws the status bar: key changes first, then who we are and
// the state of the node.
func (m *model) renderStatus(w int) string {
	var bad []string
	for _, id := range m.order {
		if p := m.peers[id]; p.keyChanged {
			bad = append(bad, fmt.Sprintf(" ⚠ KEY CHANGED %s: old %s → new %s ", m.senderName(id), p.fp.Short(), shortFP(p)))
		}
	}
	listen := "starting"
	if m.ready || len(m.addrs) > 0 {
		listen = fmt.Sprintf("listening: %d", len(m.addrs))
		if hasCircuit(m.addrs) {
			listen += " (relay)"
		}
	}
	mdns := "mDNS off"
	if m.opts.MDNS {
		mdns = "mDNS on"
	}
	// What needs the user's attention comes before what describes the
	// node, so a narrow terminal cuts the latter.
	parts := []string{
		fmt.Sprintf(" %s %s", m.name, shortID(m.peerID)),
		fmt.Sprintf("%d/%d online", m.onlineCount(), len(m.peers)),
	}
	if n := m.unverifiedCount(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d unverified", n))
	}
	if m.sending > 0 {
		// Sends waiting for the link (backpressure), never refused.
		parts = append(parts, fmt.Sprintf("sending %d…", m.sending))
	}
	if m.hsFailed > 0 {
		// Rate-limited in the panes (alerts.go); counted in full here.
		parts = append(parts, fmt.Sprintf("%d %s", m.hsFailed, plural(m.hsFailed, "failed handshake", "failed handshakes")))
	}
	if s := m.transferSummary(); s != "" {
		parts = append(parts, s) // files_view.go
	}
	if n := m.unreadCount(); n > 0 && w < sidebarMinWidth {
		// The peer list, which shows unread counts, is hidden.
		parts = append(parts, fmt.Sprintf("%d unread", n))
	}
	parts = append(parts, listen, mdns)
	status := styleStatus.Render(fit(strings.Join(parts, " │ "), w))
	if len(bad) > 0 {
		alert := styleStatusBad.Render(strings.Join(bad, "│"))
		status = fit(alert+status, w)
	}
	return status
}

// prompt is the input line's prefix: the conversation typed lines go to.
func (m *model) prompt() string {
	if p, ok := m.peers[m.current]; ok && p.keyChanged {
		return "[" + m.senderName(p.id) + ": blocked] "
	}
	return "[" + m.displayName(m.current) + "] "
}

// renderInput draws the input line.
func (m *model) renderInput(w int) string {
	return fit(styleOwn.Render(m.prompt())+m.input.View(), w)
}

// renderModal draws the open modal over the whole main area: the QR code on
// the left when there is room, the text on the right.
func (m *model) renderModal(w, h int) []string {
	md := m.modal
	rows := []string{styleBanner.Render(fit(" "+md.title, w))}
	body := md.body
	qr := md.qr
	qrW := 0
	if len(qr) > 0 {
		qrW = ansi.StringWidth(qr[0])
	}
	if len(qr) > h-2 || qrW+30 > w {
		qr, qrW = nil, 0
		body = append([]string{"(enlarge the terminal to see the QR code)"}, body...)
	}
	n := max(len(body), len(qr))
	for i := 0; i < n && len(rows) < h-1; i++ {
		left, right := "", ""
		if i < len(qr) {
			left = qr[i] + "  "
		} else if qrW > 0 {
			left = strings.Repeat(" ", qrW+2)
		}
		if i < len(body) {
			right = body[i]
		}
		rows = append(rows, fit(" "+left+right, w))
	}
	for len(rows) < h-1 {
		rows = append(rows, strings.Repeat(" ", w))
	}
	return append(rows, styleWarn.Render(fit(" "+md.prompt, w)))
}
