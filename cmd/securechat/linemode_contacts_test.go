package main

import (
	"testing"

	"github.com/securechat/securechat/p2p"
)

// TestLineModeContacts: /block and /forget ask first and do nothing
// unless the answer is yes; /unblock, /label and /nick act at once; a
// peer's new name is shown.
func TestLineModeContacts(t *testing.T) {
	n := newFakeNode()
	withPeers(n)
	h := startLineMode(t, n)
	h.expect("Type /help")

	h.typeLine("/block alice")
	h.expect("??? block alice")
	h.typeLine("n")
	h.expect("not done")
	h.typeLine("/block alice")
	h.expect("[y/N]")
	h.typeLine("yes")
	h.expect("*** blocked alice")
	if len(n.blocked) != 1 || n.blocked[0] != fakePeerA {
		t.Fatalf("blocked %v", n.blocked)
	}

	n.mu.Lock()
	n.peers[1].Blocked = true
	n.mu.Unlock()
	h.typeLine("/peers")
	h.expect("[blocked]")
	h.typeLine("/unblock bob")
	h.expect("*** unblocked bob")
	h.typeLine("/unblock bob")
	h.expect("is not blocked")

	h.typeLine("/label bob Robert Smith")
	h.expect("shown as Robert Smith")
	h.typeLine("/msg robert")
	h.expect("now talking to Robert Smith")
	h.typeLine("/label robert a\x07b") // the label names the peer now
	h.expect("1-32 printable")

	h.typeLine("/nick Zoë")
	h.expect("you are now Zoë")
	if got := n.Name(); got != "Zoë" {
		t.Errorf("node name %q", got)
	}
	h.typeLine("/nick")
	h.expect("usage: /nick NAME")

	h.typeLine("/forget robert")
	h.expect("??? forget Robert Smith")
	h.typeLine("/peers") // not an answer: the question is dropped, /peers runs
	h.expect("not done")
	if len(n.forgotten) != 0 {
		t.Fatalf("forgot without a yes: %v", n.forgotten)
	}
	h.typeLine("/forget robert")
	h.expect("[y/N]")
	h.typeLine("y")
	h.expect("*** forgot Robert Smith")
	if len(n.forgotten) != 1 || n.forgotten[0] != fakePeerB {
		t.Errorf("forgotten %v", n.forgotten)
	}

	n.events <- p2p.NameChanged{PeerID: fakePeerA, Name: "alicia"}
	h.expect("now calls itself alicia")
}
