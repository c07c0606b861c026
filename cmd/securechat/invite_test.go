package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

var (
	testInviteOnce sync.Once
	testInvite     string
	testInvitePeer string
	testInviteErr  error
)

// validInvite is a real, signed invite of a fresh identity, made once (an
// RSA identity takes about a second).
func validInvite(t *testing.T) (invite, peerID string) {
	t.Helper()
	testInviteOnce.Do(func() {
		id, err := e2e.GenerateIdentity()
		if err != nil {
			testInviteErr = err
			return
		}
		k, _, _ := crypto.GenerateEd25519Key(nil)
		pid, _ := peer.IDFromPrivateKey(k)
		a := multiaddr.StringCast("/ip4/203.0.113.7/udp/4001/quic-v1")
		inv, err := e2e.NewInvite(id, []byte(pid), "dave", [][]byte{a.Bytes()})
		if err != nil {
			testInviteErr = err
			return
		}
		testInvite, testInvitePeer = inv.Encode(), pid.String()
	})
	if testInviteErr != nil {
		t.Fatal(testInviteErr)
	}
	return testInvite, testInvitePeer
}

// TestHeadlessInvite: invite answers with the node's invite and addresses,
// with the ref; a node without an address answers an error.
func TestHeadlessInvite(t *testing.T) {
	n := newFakeNode()
	h := startAPI(t, n, nil)
	h.write(`{"cmd":"invite","ref":"i1"}`)
	ev := h.next()
	checkFields(t, ev, map[string]any{"event": "invite", "invite": fakeInvite, "ref": "i1"})
	if a, ok := ev["addrs"].([]any); !ok || len(a) != 1 || a[0] != n.Addrs()[0] {
		t.Fatalf("addrs %v", ev["addrs"])
	}
	n.mu.Lock()
	n.inviteErr = fmt.Errorf("p2p: no address to put in an invite")
	n.mu.Unlock()
	h.write(`{"cmd":"invite","ref":"i2"}`)
	checkFields(t, h.next(), map[string]any{"event": "error", "code": codeNoAddress, "ref": "i2"})
}

// TestHeadlessConnectInvite: connect takes an invite (also with the line
// breaks of a paste) and answers connected with the conn; a malformed
// invite is bad_address and nothing is dialled; the node's failures map
// to dial_failed and fingerprint_mismatch.
func TestHeadlessConnectInvite(t *testing.T) {
	inv, id := validInvite(t)
	n := newFakeNode()
	n.conn = p2p.ConnRelayed
	h := startAPI(t, n, nil)

	split := inv[:40] + "\n" + inv[40:300] + " " + inv[300:]
	h.write(fmt.Sprintf(`{"cmd":"connect","addr":%q,"ref":"c1"}`, split))
	checkFields(t, h.next(), map[string]any{"event": "connected", "peer_id": id, "conn": "relayed", "ref": "c1"})
	n.mu.Lock()
	if len(n.invites) != 1 || n.invites[0] != inv {
		t.Errorf("ConnectInvite got %q", n.invites)
	}
	n.mu.Unlock()

	h.write(`{"cmd":"connect","addr":"securechat:AAAA","ref":"c2"}`)
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "bad_address", "ref": "c2"})
	tampered := inv[:len(inv)-5] + strings.Repeat("A", 5)
	if tampered == inv {
		tampered = inv[:len(inv)-5] + "BBBBB"
	}
	h.write(fmt.Sprintf(`{"cmd":"connect","addr":%q,"ref":"c3"}`, tampered))
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "bad_address", "ref": "c3"})

	n.mu.Lock()
	n.inviteErr = fmt.Errorf("%w: %w", p2p.ErrDialFailed, p2p.ErrFingerprintMismatch)
	n.mu.Unlock()
	h.write(fmt.Sprintf(`{"cmd":"connect","addr":%q,"ref":"c4"}`, inv))
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "fingerprint_mismatch", "ref": "c4"})

	n.mu.Lock()
	n.inviteErr = p2p.ErrDialFailed
	n.mu.Unlock()
	h.write(fmt.Sprintf(`{"cmd":"connect","addr":%q,"ref":"c5"}`, inv))
	ev := h.next()
	checkFields(t, ev, map[string]any{"event": "error", "code": "dial_failed", "ref": "c5"})
	// The message is the human line; addr names the target, as the
	// invite's peer rather than the whole invite.
	if addr, _ := ev["addr"].(string); addr != "invite for "+id {
		t.Errorf("addr %q: want the invite's peer, not the invite", addr)
	}
	if msg, _ := ev["message"].(string); msg == "" || strings.Contains(msg, "securechat:") {
		t.Errorf("message %q: want a human line without the invite", msg)
	}
	n.mu.Lock()
	if len(n.invites) != 3 {
		t.Errorf("%d invites dialled, want 3 (bad ones are not)", len(n.invites))
	}
	n.mu.Unlock()
}

// TestHeadlessInviteAtStart: --connect with an invite dials it at start.
func TestHeadlessInviteAtStart(t *testing.T) {
	inv, id := validInvite(t)
	tg, err := parseDialTarget(inv)
	if err != nil {
		t.Fatal(err)
	}
	h := startAPI(t, newFakeNode(), &config{name: "me", connect: []dialTarget{tg}})
	checkFields(t, h.next(), map[string]any{"event": "connected", "peer_id": id, "conn": "direct"})
}

// TestConnectFlagInvite: --connect parses invites and refuses a bad one as
// a usage error.
func TestConnectFlagInvite(t *testing.T) {
	inv, id := validInvite(t)
	cfg, err := parseArgs([]string{"--connect", inv, "--connect", "/ip4/127.0.0.1/tcp/1/p2p/" + validPeerID}, mapEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.connect) != 2 || cfg.connect[0].peerID != id || cfg.connect[0].invite != inv || cfg.connect[1].addr == nil {
		t.Fatalf("connect %+v", cfg.connect)
	}
	for _, bad := range []string{"securechat:", "securechat:!!!", inv + "x"} {
		if _, err := parseArgs([]string{"--connect", bad}, mapEnv{}); exitCodeOf(err) != exitUsage {
			t.Errorf("--connect %.30q: %v, want a usage error", bad, err)
		}
	}
}

// TestHeadlessPathAddrsConn: the new events and fields.
func TestHeadlessPathAddrsConn(t *testing.T) {
	n := newFakeNode()
	n.peers = []p2p.PeerInfo{
		{PeerID: fakePeerA, Fingerprint: fakeFPA, Name: "a", State: "online", Conn: p2p.ConnRelayed, Trust: p2p.TrustNew},
		{PeerID: fakePeerB, Fingerprint: fakeFPB, Name: "b", State: "offline", Conn: "", Trust: p2p.TrustPinned, Blocked: true},
	}
	h := startAPI(t, n, nil)
	n.events <- p2p.SessionUp{PeerID: fakePeerA, Fingerprint: fakeFPA, Name: "a", Trust: p2p.TrustNew, Conn: p2p.ConnRelayed}
	checkFields(t, h.next(), map[string]any{"event": "session_up", "peer_id": fakePeerA, "conn": "relayed"})
	n.events <- p2p.PathChanged{PeerID: fakePeerA, Conn: p2p.ConnDirect}
	checkFields(t, h.next(), map[string]any{"event": "path", "peer_id": fakePeerA, "conn": "direct"})
	n.events <- p2p.AddrsChanged{Addrs: []string{"/ip4/1.2.3.4/tcp/1/p2p/x/p2p-circuit/p2p/12D3KooWSelf"}, Reachability: "private"}
	ev := h.next()
	checkFields(t, ev, map[string]any{"event": "addrs", "reachability": "private"})
	if a, ok := ev["addrs"].([]any); !ok || len(a) != 1 {
		t.Fatalf("addrs %v", ev["addrs"])
	}
	n.events <- p2p.AddrsChanged{Reachability: "unknown"}
	if a, ok := h.next()["addrs"].([]any); !ok || len(a) != 0 {
		t.Fatalf("empty addrs must be [], got %v", a)
	}
	n.events <- p2p.Alert{Kind: p2p.AlertFingerprintMismatch, PeerID: fakePeerA, Message: "m"}
	checkFields(t, h.next(), map[string]any{"event": "alert", "kind": "fingerprint_mismatch", "peer_id": fakePeerA})

	h.write(`{"cmd":"peers","ref":"p"}`)
	ps, _ := h.next()["peers"].([]any)
	if len(ps) != 2 {
		t.Fatalf("peers %v", ps)
	}
	checkFields(t, ps[0].(map[string]any), map[string]any{"peer_id": fakePeerA, "conn": "relayed", "blocked": false})
	checkFields(t, ps[1].(map[string]any), map[string]any{"peer_id": fakePeerB, "conn": "none", "blocked": true})
}
