package main

import (
	"testing"

	"github.com/securechat/securechat/p2p"
)

// TestHeadlessConnectByName: connect takes a known contact's name (or any
// form MatchPeer reads) and is answered by connected; a word that names no
// contact by bad_address (it is no address either), and a name several
// contacts share by ambiguous_peer.
func TestHeadlessConnectByName(t *testing.T) {
	n := newFakeNode()
	n.peers = []p2p.PeerInfo{
		{PeerID: fakePeerA, Fingerprint: fakeFPA, Name: "alice", State: p2p.PeerOffline},
		{PeerID: fakePeerB, Fingerprint: fakeFPB, Name: "bob", State: p2p.PeerOffline},
	}
	h := startAPI(t, n, nil)
	h.write(`{"cmd":"connect","addr":"alice","ref":"c1"}`)
	checkFields(t, h.next(), map[string]any{"event": "connected", "peer_id": fakePeerA, "ref": "c1"})
	h.write(`{"cmd":"connect","addr":"nobody","ref":"c2"}`)
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "bad_address", "ref": "c2"})
	n.mu.Lock()
	n.peers[1].Name = "alice"
	n.mu.Unlock()
	h.write(`{"cmd":"connect","addr":"alice","ref":"c3"}`)
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "ambiguous_peer", "ref": "c3"})
	// A malformed multiaddr is still a bad address, not a name.
	h.write(`{"cmd":"connect","addr":"/ip4/1.2.3.4","ref":"c4"}`)
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "bad_address", "ref": "c4"})
}
