package main

import (
	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// The headless commands that manage names and contacts, extensions of
// docs/INTERFACE.md (doc.go lists them): unblock, forget, label, nick and
// safety_number. Each is answered by one event, or by error.

// nameChangedEvent reports that a peer announced a new name in session.
type nameChangedEvent struct {
	Event  string `json:"event"`
	PeerID string `json:"peer_id"`
	Name   string `json:"name"`
}

// nameSetEvent answers nick.
type nameSetEvent struct {
	Event string `json:"event"`
	Name  string `json:"name"`
	Ref   string `json:"ref,omitempty"`
}

// labelEvent answers label.
type labelEvent struct {
	Event  string `json:"event"`
	PeerID string `json:"peer_id"`
	Label  string `json:"label"`
	Ref    string `json:"ref,omitempty"`
}

// safetyNumberEvent answers safety_number.
type safetyNumberEvent struct {
	Event        string `json:"event"`
	PeerID       string `json:"peer_id"`
	SafetyNumber string `json:"safety_number"`
	Ref          string `json:"ref,omitempty"`
}

// contacts runs the commands of this file.
func (h *headless) contacts(c command) {
	if c.Cmd == "nick" {
		if err := h.node.SetName(c.Name); err != nil {
			h.fail(c.Ref, errorCode(err), oneLine(err.Error()))
			return
		}
		h.out.emit(nameSetEvent{Event: "name_set", Name: h.node.Name(), Ref: c.Ref})
		return
	}
	p, err := p2p.MatchPeer(shownPeers(h.node.Peers()), c.PeerID)
	if err != nil {
		h.fail(c.Ref, errorCode(err), oneLine(err.Error()))
		return
	}
	var answer any
	switch c.Cmd {
	case "unblock":
		err = h.node.Unblock(p.PeerID)
		answer = blockedEvent{Event: "unblocked", PeerID: p.PeerID, Ref: c.Ref}
	case "forget":
		err = h.node.Forget(p.PeerID)
		answer = blockedEvent{Event: "forgotten", PeerID: p.PeerID, Ref: c.Ref}
	case "label":
		err = h.node.SetLabel(p.PeerID, c.Label)
		answer = labelEvent{Event: "labelled", PeerID: p.PeerID, Label: c.Label, Ref: c.Ref}
	case "safety_number":
		var sn string
		sn, err = h.node.SafetyNumber(p.PeerID)
		answer = safetyNumberEvent{Event: "safety_number", PeerID: p.PeerID, SafetyNumber: e2e.FormatSafetyNumber(sn), Ref: c.Ref}
	default:
		return // parseCommand knows no other command
	}
	if err != nil {
		h.fail(c.Ref, errorCode(err), oneLine(err.Error()))
		return
	}
	h.out.emit(answer)
}

// shownPeers returns peers with each one's label, where the user set one,
// in place of its announced name: the name the user sees is the name the
// user types, for p2p.MatchPeer.
func shownPeers(peers []p2p.PeerInfo) []p2p.PeerInfo {
	for i := range peers {
		if peers[i].Label != "" {
			peers[i].Name = peers[i].Label
		}
	}
	return peers
}
