package tui

import (
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// TestSendingIndicator: while Sends wait for the node (backpressure: to a
// peer whose session is up, Send waits for room rather than refusing), the
// status bar counts them; each answer takes one off.
func TestSendingIndicator(t *testing.T) {
	hs := newHarness(t, 100, 20)
	hs.ready()
	hs.peerUp(bobID, "bob", p2p.TrustPinned)
	var waiting []tea.Cmd
	for _, text := range []string{"one", "two"} {
		hs.typeText(text)
		// The Send is not run yet: it is waiting for room.
		_, cmd := hs.m.Update(tea.KeyPressMsg{Code: tea.KeyEnter})
		waiting = append(waiting, cmd)
	}
	hs.contains("sending 2…")
	hs.run(waiting[0])
	hs.contains("sending 1…")
	hs.run(waiting[1])
	hs.lacks("sending")
	hs.lacks("Not sent")
	if len(hs.node.sent) != 2 {
		t.Errorf("sent %v, want both", hs.node.sent)
	}
}
