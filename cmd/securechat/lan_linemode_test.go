package main

import (
	"testing"

	"github.com/securechat/securechat/p2p"
)

// TestLineModeSameName: two LAN peers under one name. A name that names
// both is refused (nothing is sent), each is told apart by its short
// fingerprint, and a fingerprint prefix (of 16 hex digits at least) or
// peer ID picks one; a plain line
// then goes to the peer picked and no other.
func TestLineModeSameName(t *testing.T) {
	n := newFakeNode()
	n.peers = []p2p.PeerInfo{
		{PeerID: fakePeerA, Fingerprint: fakeFPA, Name: "alice", State: "online", Trust: p2p.TrustPinned},
		{PeerID: fakePeerB, Fingerprint: fakeFPB, Name: "Alice", State: "online", Trust: p2p.TrustNew},
	}
	h := startLineMode(t, n)
	h.expect("you are me")

	h.typeLine("hello?")
	h.expect("several peers")
	h.typeLine("/msg alice hi")
	h.expect(`"alice" matches 2 peers: alice~` + fakeFPA.String()[:16])
	h.typeLine("/peers")
	h.expect("alice (" + fakeFPA.Short() + ")")
	h.expect("Alice (" + fakeFPB.Short() + ")")

	h.typeLine("/msg " + fakeFPB.String()[:8] + " too short a prefix")
	h.expect("at least 16 hex digits")
	h.typeLine("/msg " + fakeFPB.String()[:16] + " for the new one")
	h.expect("now talking to Alice (" + fakeFPB.Short() + ")")
	h.typeLine("still for the new one")
	h.typeLine("/msg " + fakePeerA + " for the pinned one")
	h.expect("now talking to alice (" + fakeFPA.Short() + ")")
	h.typeLine("/peers")
	h.expect("> alice (" + fakeFPA.Short() + ")")

	n.mu.Lock()
	defer n.mu.Unlock()
	want := []string{fakePeerB, fakePeerB, fakePeerA}
	if len(n.sentTo) != len(want) {
		t.Fatalf("sent to %v, want %v", n.sentTo, want)
	}
	for i := range want {
		if n.sentTo[i] != want[i] {
			t.Fatalf("sent to %v, want %v", n.sentTo, want)
		}
	}
}
