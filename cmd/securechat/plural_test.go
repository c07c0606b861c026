package main

import (
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

// TestLineModeOneMessage checks that a count of one is not worded as many.
func TestLineModeOneMessage(t *testing.T) {
	n := newFakeNode()
	n.peers = twoPeers()
	n.history = map[string][]p2p.HistoryEntry{fakePeerA: {{ID: "01", Text: "only one", SentAt: time.Now(), State: p2p.StateDelivered}}}
	h := startLineMode(t, n)
	h.typeLine("/msg alice")
	h.expect("*** last message with alice")
	h.expect("only one")
}
