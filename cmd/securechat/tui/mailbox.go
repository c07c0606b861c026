package tui

import (
	"context"
	"fmt"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// mailboxTimeout bounds /mailbox: each mailbox is asked in turn.
const mailboxTimeout = 30 * time.Second

// mailboxMsg is the answer to /mailbox.
type mailboxMsg struct {
	conv  string
	lines []string
}

// mailboxCmd is /mailbox: it asks the node's mailboxes off the UI loop.
func (m *model) mailboxCmd() tea.Cmd {
	node, conv := m.node, m.current
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), mailboxTimeout)
		defer cancel()
		return mailboxMsg{conv: conv, lines: MailboxLines(node.Mailboxes(ctx))}
	}
}

// showMailboxes prints /mailbox's answer.
func (m *model) showMailboxes(msg mailboxMsg) {
	for _, l := range msg.lines {
		m.system(msg.conv, l)
	}
}

// markDeposited shows own message id as left in the peer's mailbox,
// unless its receipt came first.
func (m *model) markDeposited(peerID, id string) {
	c, ok := m.convs[peerID]
	if !ok || id == "" {
		return
	}
	for i := len(c.lines) - 1; i >= 0; i-- {
		if l := &c.lines[i]; l.kind == lineOwn && l.id == id {
			if l.state != stateDelivered {
				l.state = stateDeposited
			}
			return
		}
	}
}

// MailboxLines words the status of the node's mailboxes, one line each,
// for /mailbox in the terminal UI and the line interface.
func MailboxLines(st []p2p.MailboxStatus) []string {
	if len(st) == 0 {
		return []string{"No mailbox: start with --mailbox MULTIADDR to receive messages while you are away."}
	}
	out := make([]string, 0, len(st))
	for _, s := range st {
		addr := cleanText(s.Addr, false)
		if !s.Reachable {
			out = append(out, fmt.Sprintf("Mailbox %s: unreachable (%s)", addr, cleanText(s.Err, false)))
			continue
		}
		out = append(out, fmt.Sprintf("Mailbox %s: reachable, %d waiting (%s), %s of %s free",
			addr, s.Waiting, sizeText(s.Bytes), sizeText(s.FreeBytes), sizeText(s.QuotaBytes)))
	}
	return out
}

// sizeText is a byte count for people.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
