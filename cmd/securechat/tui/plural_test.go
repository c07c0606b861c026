package tui

import (
	"testing"

	"github.com/securechat/securechat/p2p"
)

// TestCountsOfOne checks that a count of one is not worded as many.
func TestCountsOfOne(t *testing.T) {
	hs := newHarness(t, 120, 24)
	hs.event(p2p.Ready{PeerID: selfID, Fingerprint: fp("self"), Name: "alice", Addrs: hs.node.Addrs()[:1]})
	hs.contains("Listening on 1 address as")
	hs.node.history = map[string][]p2p.HistoryEntry{bobID: {{ID: "h1", Seq: 1, Text: "only one", SentAt: start}}}
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.contains("Earlier message (1, from the history):")
}
