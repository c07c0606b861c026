package tui

import (
	"testing"

	"github.com/securechat/securechat/p2p"
)

// TestStrangerShown: a peer that only connected is shown as a stranger, in
// its session line and in the peer list, until the node lists it as a
// contact.
func TestStrangerShown(t *testing.T) {
	hs := newHarness(t, 100, 30)
	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", State: p2p.PeerOnline, Trust: p2p.TrustNew, Stranger: true})
	hs.event(p2p.SessionUp{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", Trust: p2p.TrustNew, Conn: p2p.ConnDirect, Stranger: true})
	hs.contains("A stranger: it connected to you")
	hs.contains("stranger")
	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", State: p2p.PeerOnline, Trust: p2p.TrustNew})
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "1", Text: "now a contact"})
	if hs.m.peers[bobID].stranger {
		t.Error("still a stranger after the node listed it as a contact")
	}
}
