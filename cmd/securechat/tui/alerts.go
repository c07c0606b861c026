package tui

import (
	"fmt"

	"github.com/securechat/securechat/cmd/securechat/internal/alertlimit"
	"github.com/securechat/securechat/p2p"
)

// handshakeFailed shows a failed handshake, rate-limited: anyone can fail
// handshakes by the thousand, and one line each would push every real
// message out of view. A stranger's failures go to the status
// conversation, never the open one; a known peer's to its own. Beyond
// [alertlimit.BurstHuman] a minute they are only counted, in the status
// bar and in one summary line in the status conversation when the minute
// is over.
func (m *model) handshakeFailed(ev p2p.Alert, text string) {
	m.hsFailed++
	show, sum := m.hsLimit.Allow(ev.PeerID, m.now())
	m.summarize(sum)
	if !show {
		return
	}
	id := statusConv
	if _, known := m.peers[ev.PeerID]; known && ev.PeerID != statusConv {
		id = ev.PeerID
	} else if ev.PeerID != "" {
		text = shortID(ev.PeerID) + ": " + text
	}
	m.alert(id, fmt.Sprintf("Security alert (%s): %s", p2p.AlertHandshakeFailed, text))
}

// flushAlerts adds the summary of a rate-limit window that is over.
// Every event calls it, so a flood that stopped is summed up soon after.
func (m *model) flushAlerts() {
	m.summarize(m.hsLimit.Flush(m.now()))
}

func (m *model) summarize(sum alertlimit.Summary) {
	if sum.Failures > 0 {
		m.alert(statusConv, "Security alert (handshake_failed): "+m.hsLimit.Describe(sum)+".")
	}
}
