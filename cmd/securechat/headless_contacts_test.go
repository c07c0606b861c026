package main

import (
	"testing"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// TestHeadlessContacts: the contact and name commands (unblock, forget,
// label, nick, safety_number) are each answered by their event or by an
// error with the documented code, and peers shows blocked and label.
func TestHeadlessContacts(t *testing.T) {
	blockedB := func(n *fakeNode) { withPeers(n); n.peers[1].Blocked = true }
	tests := []apiCase{
		{"unblock", blockedB, `{"cmd":"unblock","peer_id":"` + fakePeerB + `","ref":"u1"}`,
			map[string]any{"event": "unblocked", "peer_id": fakePeerB, "ref": "u1"}},
		{"unblock unknown", withPeers, `{"cmd":"unblock","peer_id":"` + validPeerID + `","ref":"u2"}`,
			map[string]any{"event": "error", "code": "unknown_peer", "ref": "u2"}},
		{"unblock missing peer_id", nil, `{"cmd":"unblock"}`, map[string]any{"event": "error", "code": "bad_request"}},
		{"forget", withPeers, `{"cmd":"forget","peer_id":"alice","ref":"f1"}`,
			map[string]any{"event": "forgotten", "peer_id": fakePeerA, "ref": "f1"}},
		{"forget unknown", nil, `{"cmd":"forget","peer_id":"` + fakePeerA + `","ref":"f2"}`,
			map[string]any{"event": "error", "code": "unknown_peer", "ref": "f2"}},
		{"label", withPeers, `{"cmd":"label","peer_id":"` + fakePeerA + `","label":"Ali","ref":"l1"}`,
			map[string]any{"event": "labelled", "peer_id": fakePeerA, "label": "Ali", "ref": "l1"}},
		{"label remove", withPeers, `{"cmd":"label","peer_id":"` + fakePeerA + `","label":"","ref":"l2"}`,
			map[string]any{"event": "labelled", "peer_id": fakePeerA, "label": "", "ref": "l2"}},
		{"label invalid", withPeers, `{"cmd":"label","peer_id":"` + fakePeerA + `","label":"a\u0007b","ref":"l3"}`,
			map[string]any{"event": "error", "code": "invalid_name", "ref": "l3"}},
		{"label missing", withPeers, `{"cmd":"label","peer_id":"` + fakePeerA + `"}`,
			map[string]any{"event": "error", "code": "bad_request"}},
		{"nick", nil, `{"cmd":"nick","name":" Zoë ","ref":"n1"}`, map[string]any{"event": "name_set", "name": "Zoë", "ref": "n1"}},
		{"nick too long", nil, `{"cmd":"nick","name":"012345678901234567890123456789012","ref":"n2"}`,
			map[string]any{"event": "error", "code": "invalid_name", "ref": "n2"}},
		{"nick empty", nil, `{"cmd":"nick","name":"","ref":"n3"}`, map[string]any{"event": "error", "code": "invalid_name", "ref": "n3"}},
		{"safety_number", withPeers, `{"cmd":"safety_number","peer_id":"` + fakePeerB + `","ref":"sn"}`,
			map[string]any{"event": "safety_number", "peer_id": fakePeerB, "safety_number": e2e.FormatSafetyNumber(fakeSafetyNumber), "ref": "sn"}},
		{"safety_number never online", func(n *fakeNode) { withPeers(n); n.safetyErr = p2p.ErrNoSession },
			`{"cmd":"safety_number","peer_id":"` + fakePeerB + `","ref":"sn2"}`,
			map[string]any{"event": "error", "code": "no_session", "ref": "sn2"}},
		{"safety_number unknown", nil, `{"cmd":"safety_number","peer_id":"` + fakePeerB + `"}`,
			map[string]any{"event": "error", "code": "unknown_peer"}},
		{"send blocked", func(n *fakeNode) { blockedB(n); n.sendErr = p2p.ErrBlocked },
			`{"cmd":"send","to":"` + fakePeerB + `","text":"hi","ref":"s"}`,
			map[string]any{"event": "error", "code": "blocked", "ref": "s"}},
		{"trust_new_key nothing changed", func(n *fakeNode) { withPeers(n); n.verifyErr = p2p.ErrNothingToAccept },
			`{"cmd":"trust_new_key","peer_id":"` + fakePeerA + `","fingerprint":"` + fakeFPA.String() + `","ref":"k"}`,
			map[string]any{"event": "error", "code": "nothing_to_accept", "ref": "k"}},
	}
	runAPICases(t, tests)
}

// TestHeadlessContactsState: the commands change what peers lists:
// blocked, label, a forgotten peer gone; a peer's name change is an event.
func TestHeadlessContactsState(t *testing.T) {
	n := newFakeNode()
	withPeers(n)
	n.peers[1].Blocked = true
	h := startAPI(t, n, nil)
	peer := func(id string) map[string]any {
		t.Helper()
		h.write(`{"cmd":"peers"}`)
		for _, p := range h.next()["peers"].([]any) {
			if p := p.(map[string]any); p["peer_id"] == id {
				return p
			}
		}
		return nil
	}
	checkFields(t, peer(fakePeerB), map[string]any{"blocked": true, "label": ""})
	h.write(`{"cmd":"unblock","peer_id":"bob"}`)
	h.next()
	checkFields(t, peer(fakePeerB), map[string]any{"blocked": false})
	h.write(`{"cmd":"label","peer_id":"bob","label":"Robert"}`)
	h.next()
	checkFields(t, peer(fakePeerB), map[string]any{"label": "Robert", "name": "bob"})
	// The label names the peer from now on.
	h.write(`{"cmd":"send","to":"robert","text":"hi"}`)
	checkFields(t, h.next(), map[string]any{"event": "sent", "peer_id": fakePeerB})
	h.write(`{"cmd":"forget","peer_id":"robert"}`)
	checkFields(t, h.next(), map[string]any{"event": "forgotten", "peer_id": fakePeerB})
	if p := peer(fakePeerB); p != nil {
		t.Errorf("forgotten peer still listed: %v", p)
	}
	n.events <- p2p.NameChanged{PeerID: fakePeerA, Name: "alicia"}
	checkFields(t, h.next(), map[string]any{"event": "name_changed", "peer_id": fakePeerA, "name": "alicia"})
}
