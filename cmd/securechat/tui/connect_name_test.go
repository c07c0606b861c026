package tui

import (
	"slices"
	"testing"

	"github.com/securechat/securechat/p2p"
)

// TestConnectByName: /connect with a contact's name dials it through
// ConnectPeer with the peer this screen resolved; an unknown name is
// answered on screen and dials nothing.
func TestConnectByName(t *testing.T) {
	hs := newHarness(t, 100, 30)
	hs.peerUp(bobID, "bob", p2p.TrustPinned)
	hs.event(p2p.SessionDown{PeerID: bobID, Reason: "cut"})
	hs.line("/connect bob")
	if !slices.Contains(hs.node.connected, "peer:"+bobID) {
		t.Fatalf("ConnectPeer calls %v, want one for bob's peer ID", hs.node.connected)
	}
	hs.contains("Connecting to bob at its known addresses")

	before := len(hs.node.connected)
	hs.line("/connect nobody")
	if len(hs.node.connected) != before {
		t.Errorf("an unknown name dialled: %v", hs.node.connected)
	}
}
