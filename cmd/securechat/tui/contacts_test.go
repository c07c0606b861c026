package tui

import (
	"testing"

	"github.com/securechat/securechat/p2p"
)

// TestUnblock: /unblock lifts a block shown in the peer list, and sending
// works again.
func TestUnblock(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", State: "offline", Trust: p2p.TrustPinned, Blocked: true})
	hs.run(hs.m.refreshPeers())
	hs.contains(fp(bobID).Short() + " blocked")
	hs.line("/peers")
	hs.contains("offline  blocked")
	hs.line("/unblock bob")
	if len(hs.node.unblocked) != 1 || hs.node.unblocked[0] != bobID {
		t.Fatalf("unblocked %q", hs.node.unblocked)
	}
	hs.contains("Unblocked bob")
	hs.lacks(fp(bobID).Short() + " blocked")
	hs.line("/msg bob hi")
	if len(hs.node.sent) != 1 {
		t.Errorf("sent %q after unblock", hs.node.sent)
	}
}

// TestForgetConfirm: /forget asks; n keeps the peer, y forgets it and
// removes its conversation from the screen.
func TestForgetConfirm(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.line("/forget bob")
	hs.contains("Forget bob (")
	hs.contains("cannot be undone")
	hs.typeText("n")
	if len(hs.node.forgotten) != 0 {
		t.Fatalf("forgot %q after n", hs.node.forgotten)
	}
	hs.line("/forget bob")
	hs.typeText("y")
	if len(hs.node.forgotten) != 1 || hs.node.forgotten[0] != bobID {
		t.Fatalf("forgotten %q", hs.node.forgotten)
	}
	if _, ok := hs.m.peers[bobID]; ok || hs.m.current != statusConv {
		t.Errorf("bob still on screen (current %q)", hs.m.current)
	}
	hs.contains("Forgot bob")
}

// TestLabel: a label replaces the announced name on screen and names the
// peer for /msg; a bad label is refused; no NAME removes it.
func TestLabel(t *testing.T) {
	hs := newHarness(t, 160, 24)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.line("/label bob Robert")
	hs.contains("is shown as Robert")
	hs.contains("Robert")
	if p := hs.m.peers[bobID]; p.label != "Robert" || hs.m.senderName(bobID) != "Robert" {
		t.Errorf("label %q, shown %q", p.label, hs.m.senderName(bobID))
	}
	hs.line("/msg robert hello")
	if len(hs.node.sent) != 1 || hs.node.sent[0] != bobID+": hello" {
		t.Errorf("sent %q", hs.node.sent)
	}
	hs.line("/label robert 012345678901234567890123456789012")
	hs.contains("A label is 1-32 printable characters.")
	// A peer renaming itself does not displace the label. (The node
	// stores the new name before it raises the event.)
	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bobby", Label: "Robert", State: "online", Trust: p2p.TrustNew})
	hs.event(p2p.NameChanged{PeerID: bobID, Name: "bobby"})
	hs.contains("You still see your label Robert.")
	hs.line("/label robert")
	hs.contains("Removed your label")
	if got := hs.m.senderName(bobID); got != "bobby" {
		t.Errorf("shown %q after removing the label", got)
	}
}

// TestNick: /nick saves the name through the node and shows it as the own
// name; a peer's NAME shows as a line in its conversation and renames it
// on screen.
func TestNick(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.line("/nick Zoë")
	if hs.node.name != "Zoë" || hs.m.name != "Zoë" {
		t.Errorf("node name %q, screen name %q", hs.node.name, hs.m.name)
	}
	hs.line("own line")
	hs.contains("Zoë: own line")
	hs.line("/nick 012345678901234567890123456789012")
	hs.contains("Usage: /nick NAME")

	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bobby", State: "online", Trust: p2p.TrustNew})
	hs.event(p2p.NameChanged{PeerID: bobID, Name: "bobby\x1b[31m"})
	hs.contains("bob now calls itself bobby")
	hs.lacks("\x1b[31m")
	if got := hs.m.senderName(bobID); got != "bobby" {
		t.Errorf("shown %q", got)
	}
}

// TestForgetModalLayout pins the /forget confirmation on a blocked peer.
func TestForgetModalLayout(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.ready()
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.line("/block bob")
	hs.golden("block_80x24")
	hs.typeText("y")
	hs.line("/forget bob")
	hs.golden("forget_80x24")
}
