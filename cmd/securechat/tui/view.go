package tui

import (
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// Layout constants.
const (
	// sidebarMinWidth is the terminal width below which the peer list is
	// hidden.
	sidebarMinWidth = 70
	// sidebarWidth is the width of the peer list.
	sidebarWidth = 24
	// stampWidth is the width of "15:04 ", the indent of wrapped lines.
	stampWidth = 6
	// minWidth and minHeight are the smallest usable screen.
	minWidth, minHeight = 30, 8
)

// View draws the screen.
func (m *model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.ReportFocus = m.opts.Bell
	v.WindowTitle = "securechat"
	if m.modal == nil && !m.quitting && m.width >= minWidth && m.height >= minHeight {
		if c := m.input.Cursor(); c != nil {
			c.X += ansi.StringWidth(m.prompt())
			c.Y = m.height - 1
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
	mainH := h - 2
	var rows []string
	if m.modal != nil {
		rows = m.renderModal(w, mainH)
	} else {
		sideW := 0
		if w >= sidebarMinWidth {
			sideW = sidebarWidth
		}
		paneW := w
		if sideW > 0 {
			paneW = w - sideW - 1
		}
		rows = m.renderPane(paneW, mainH)
		if sideW > 0 {
			side := m.renderSidebar(sideW, mainH)
			sep := styleDim.Render("│")
			for i := range rows {
				rows[i] += sep + side[i]
			}
		}
	}
	rows = append(rows, m.renderStatus(w), m.renderInput(w))
	return strings.Join(rows, "\n")
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
		shown[len(shown)-1] = styleWarn.Render(fit(fmt.Sprintf("── more below (%d lines): PgDn, or Esc for the newest ──", scroll), w))
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
		return fmt.Sprintf(" status · %d peers · /help for commands", len(m.peers))
	}
	state := "offline"
	if p.online {
		state = "online"
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
	textW := max(1, w-stampWidth)
	for i, l := range c.lines {
		at := l.at.In(m.loc)
		if i > 0 {
			if prev := c.lines[i-1].at.In(m.loc); prev.YearDay() != at.YearDay() || prev.Year() != at.Year() {
				rows = append(rows, styleDim.Render(fit("──── "+at.Format("Monday 2 January 2006")+" ────", w)))
			}
		}
		body := m.lineBody(l)
		wrapped := strings.Split(ansi.Wrap(body, textW, ""), "\n")
		stamp := styleDim.Render(at.Format("15:04")) + " "
		for j, r := range wrapped {
			if j == 0 {
				rows = append(rows, stamp+r)
			} else {
				rows = append(rows, strings.Repeat(" ", stampWidth)+r)
			}
		}
	}
	return rows
}

// lineBody draws one line without its time stamp.
func (m *model) lineBody(l line) string {
	switch l.kind {
	case lineIn:
		name := styleOwn.Foreground(peerColor(l.from)).Render(m.senderName(l.from))
		return name + ": " + l.text
	case lineOwn:
		return styleOwn.Render(m.name) + ": " + l.text + styleDim.Render(stateMark(l.state))
	case lineAlert:
		return styleAlert.Render("!! " + l.text)
	}
	return styleSystem.Render("-- " + l.text)
}

// stateMark shows the delivery state of an own message.
func stateMark(s sendState) string {
	switch s {
	case stateQueued:
		return "  ○ queued"
	case stateSent:
		return "  ✓ sent"
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
		if p.online {
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
		}
		num := " "
		if i < 9 {
			num = fmt.Sprint(i + 1)
		}
		name := styleOwn.Foreground(peerColor(id)).Render(m.senderName(id))
		entry(id, fmt.Sprintf("%s %s%s %s", num, dot, badge, name), fmt.Sprintf("   %s %s", p.fp.Short()[:8], word))
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
	}
	mdns := "mDNS off"
	if m.opts.MDNS {
		mdns = "mDNS on"
	}
	parts := []string{
		fmt.Sprintf(" %s %s", m.name, shortID(m.peerID)),
		listen,
		mdns,
		fmt.Sprintf("peers %d/%d online", m.onlineCount(), len(m.peers)),
	}
	if n := m.unverifiedCount(); n > 0 {
		parts = append(parts, fmt.Sprintf("%d unverified", n))
	}
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
