package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/progress"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/securechat/securechat/cmd/securechat/internal/xfer"
	"github.com/securechat/securechat/p2p"
)

// The transfer bars: one row per active transfer between the message pane
// and the status bar, each a Bubbles progress bar drawn at the transfer's
// own fraction (no animation: the node's reports move it), with the bytes,
// the rate and the time left, or why the transfer waits.

// Bounds of the transfer rows.
const (
	// maxTransferRows is the most rows the bars take; more transfers
	// are counted in the last one.
	maxTransferRows = 3
	// transferMinHeight is the screen height below which the bars are
	// hidden (the message pane needs the rows; /files lists them).
	transferMinHeight = 14
	// barMinWidth and barMaxWidth bound the bar itself.
	barMinWidth, barMaxWidth = 8, 30
	// barNameWidth is the most cells a file name takes in a row: a
	// paste's name fits.
	barNameWidth = 30
)

// Bars: green while data flows, grey while the transfer waits.
var (
	barFlowing = progress.New(progress.WithFillCharacters('█', '░'), progress.WithoutPercentage(),
		progress.WithColors(lipgloss.Color("34")))
	barWaiting = progress.New(progress.WithFillCharacters('█', '░'), progress.WithoutPercentage(),
		progress.WithColors(lipgloss.Color("244")))
)

// transferRows is how many rows the bars take now.
func (m *model) transferRows() int {
	if m.height < transferMinHeight || m.modal != nil {
		return 0
	}
	return min(maxTransferRows, len(m.sortedTransfers((*transfer).active)))
}

// renderTransfers draws the bars, exactly transferRows rows of width w.
func (m *model) renderTransfers(w int) []string {
	n := m.transferRows()
	if n == 0 {
		return nil
	}
	ts := m.sortedTransfers((*transfer).active)
	// The current conversation's transfers first, then the others.
	var mine, other []*transfer
	for _, t := range ts {
		if t.peer == m.current {
			mine = append(mine, t)
		} else {
			other = append(other, t)
		}
	}
	ts = append(mine, other...)
	rows := make([]string, 0, n)
	for i, t := range ts[:n] {
		if i == n-1 && len(ts) > n {
			rows = append(rows, styleDim.Render(fit(fmt.Sprintf(" … and %d more transfers: /files", len(ts)-n+1), w)))
			break
		}
		rows = append(rows, m.transferRow(t, w))
	}
	return rows
}

// transferRow draws one transfer: direction, name and peer, the bar, the
// percentage and bytes, then the rate and time left or the wait.
func (m *model) transferRow(t *transfer, w int) string {
	arrow, dir := "↓", "←"
	if t.outgoing {
		arrow, dir = "↑", "→"
	}
	name := t.name
	if name == "" {
		name = xfer.ShortID(t.id)
	}
	if ansi.StringWidth(name) > barNameWidth {
		name = ansi.Truncate(name, barNameWidth-1, "…")
	}
	head := fmt.Sprintf(" %s %s %s %s ", arrow, name, dir, m.senderName(t.peer))
	frac := 0.0
	switch {
	case t.size > 0:
		frac = min(1, float64(t.bytes)/float64(t.size))
	case t.state == p2p.TransferVerifying:
		frac = 1
	}
	tail := fmt.Sprintf(" %3.0f%% %s/%s", frac*100, xfer.Size(t.bytes), xfer.Size(t.size))
	bar := barFlowing
	switch {
	case t.waiting != "":
		bar = barWaiting
		tail += " · " + t.waiting
	case t.state == p2p.TransferVerifying:
		tail += " · checking the SHA-256"
	case t.outgoing && t.state == p2p.TransferOffered:
		bar = barWaiting
		tail += " · waiting for " + m.senderName(t.peer) + " to accept"
	default:
		if r := t.meter.BytesPerSecond(); r > 0 {
			tail += " · " + xfer.Rate(r)
			if left, ok := t.meter.Left(t.bytes, t.size); ok {
				tail += " · " + xfer.Duration(left) + " left"
			}
		}
	}
	bw := w - ansi.StringWidth(head) - ansi.StringWidth(tail)
	bw = max(barMinWidth, min(barMaxWidth, bw))
	bar.SetWidth(bw)
	return fit(styleOwn.Render(head)+bar.ViewAs(frac)+styleDim.Render(tail), w)
}

// transferSummary is the status bar's count of transfers under way, or "".
func (m *model) transferSummary() string {
	n := len(m.sortedTransfers((*transfer).active))
	offers := len(m.sortedTransfers(func(t *transfer) bool { return !t.outgoing && !t.active() && !t.ended() }))
	var parts []string
	if n > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", n, plural(n, "transfer", "transfers")))
	}
	if offers > 0 {
		parts = append(parts, fmt.Sprintf("%d file %s: Ctrl+O", offers, plural(offers, "offer", "offers")))
	}
	return strings.Join(parts, " │ ")
}
