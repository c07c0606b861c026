package main

import (
	"time"

	"github.com/securechat/securechat/p2p"
)

// The headless events, field names exactly as docs/INTERFACE.md has them. Ref is
// set on the events that answer a command that carried one.

type readyEvent struct {
	Event       string   `json:"event"`
	PeerID      string   `json:"peer_id"`
	Fingerprint string   `json:"fingerprint"`
	Name        string   `json:"name"`
	Addrs       []string `json:"addrs"`
}

type peerFoundEvent struct {
	Event  string `json:"event"`
	PeerID string `json:"peer_id"`
	Via    string `json:"via"`
}

type sessionUpEvent struct {
	Event       string `json:"event"`
	PeerID      string `json:"peer_id"`
	Fingerprint string `json:"fingerprint"`
	Name        string `json:"name"`
	Trust       string `json:"trust"`
	Conn        string `json:"conn"`
	Stranger    bool   `json:"stranger,omitempty"` // extension: not a contact yet
}

// pathEvent reports that the connection under a live session changed.
type pathEvent struct {
	Event  string `json:"event"`
	PeerID string `json:"peer_id"`
	Conn   string `json:"conn"`
}

// addrsEvent reports this node's dialable addresses after a change.
type addrsEvent struct {
	Event        string   `json:"event"`
	Addrs        []string `json:"addrs"`
	Reachability string   `json:"reachability"`
}

type sessionDownEvent struct {
	Event  string `json:"event"`
	PeerID string `json:"peer_id"`
	Reason string `json:"reason"`
}

type messageEvent struct {
	Event    string `json:"event"`
	PeerID   string `json:"peer_id"`
	ID       string `json:"id"`
	Text     string `json:"text"`
	SentAt   string `json:"sent_at"`
	Stranger bool   `json:"stranger,omitempty"` // extension: from a peer that is not a contact yet
}

// msgIDEvent is both sent and delivered.
type msgIDEvent struct {
	Event  string `json:"event"`
	PeerID string `json:"peer_id"`
	ID     string `json:"id"`
	Ref    string `json:"ref,omitempty"`
}

type peerJSON struct {
	PeerID      string `json:"peer_id"`
	Fingerprint string `json:"fingerprint"`
	Name        string `json:"name"`
	State       string `json:"state"`
	Trust       string `json:"trust"`
	Conn        string `json:"conn"` // "direct", "relayed" or "none"
	Blocked     bool   `json:"blocked"`
	KeyChanged  bool   `json:"key_changed"` // extension: a new key awaits trust_new_key
	Label       string `json:"label"`       // extension: the user's own name for the peer; "" if none
}

type peersEvent struct {
	Event string     `json:"event"`
	Peers []peerJSON `json:"peers"`
	Ref   string     `json:"ref,omitempty"`
}

type alertEvent struct {
	Event   string `json:"event"`
	Kind    string `json:"kind"`
	PeerID  string `json:"peer_id"`
	Message string `json:"message"`
}

type errorEvent struct {
	Event   string `json:"event"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Ref     string `json:"ref,omitempty"`
	Addr    string `json:"addr,omitempty"` // extension, on dial_failed
}

// trustEvent answers verify ("verified") and trust_new_key ("key_trusted"),
// extensions: docs/INTERFACE.md names no answer for them, and a script needs one
// to know the command took effect.
type trustEvent struct {
	Event       string `json:"event"`
	PeerID      string `json:"peer_id"`
	Fingerprint string `json:"fingerprint"`
	Ref         string `json:"ref,omitempty"`
}

// connectedEvent answers connect: a session with the peer is up (at once
// if it already was), over a "direct" or "relayed" connection.
type connectedEvent struct {
	Event  string `json:"event"`
	PeerID string `json:"peer_id"`
	Conn   string `json:"conn"`
	Ref    string `json:"ref,omitempty"`
}

// blockedEvent answers block (an extension, like trustEvent).
type blockedEvent struct {
	Event  string `json:"event"`
	PeerID string `json:"peer_id"`
	Ref    string `json:"ref,omitempty"`
}

// Error codes of the headless API. docs/INTERFACE.md names most; "bad_request",
// "ambiguous_peer", "closed", "timeout" and "internal" are ours.
const (
	codeBadJSON             = "bad_json"
	codeBadRequest          = "bad_request" // a field is missing or has the wrong type
	codeUnknownCommand      = "unknown_command"
	codeUnknownPeer         = "unknown_peer"
	codeBadAddress          = "bad_address"
	codeDialFailed          = "dial_failed"
	codeTooLarge            = "too_large"
	codeFingerprintMismatch = "fingerprint_mismatch"
	codeBlocked             = "blocked"           // send to a blocked peer
	codeNothingToAccept     = "nothing_to_accept" // trust_new_key, key unchanged
	codeInvalidName         = "invalid_name"      // nick or label not 1-32 printable characters
	codeNoSession           = "no_session"        // safety_number before the peer was ever online
)

// toJSONPeers converts the node's peer list; never nil, so it encodes as [].
func toJSONPeers(peers []p2p.PeerInfo) []peerJSON {
	out := make([]peerJSON, 0, len(peers))
	for _, p := range peers {
		out = append(out, peerJSON{
			PeerID:      p.PeerID,
			Fingerprint: p.Fingerprint.String(),
			Name:        p.Name,
			State:       string(p.State),
			Trust:       string(p.Trust),
			Conn:        connOrNone(p.Conn),
			Blocked:     p.Blocked,
			KeyChanged:  p.KeyChanged,
			Label:       p.Label,
		})
	}
	return out
}

// connOrNone is a peer's connection kind, "none" when the node gives none.
func connOrNone(c string) string {
	if c == "" {
		return "none"
	}
	return c
}

// eventJSON converts a node event to its headless event. It returns nil for
// events the API does not show (a second Ready, DialFailed, which the dial
// tracker handles, and types it does not know).
func eventJSON(ev p2p.Event) any {
	switch e := ev.(type) {
	case p2p.PeerFound:
		return peerFoundEvent{"peer_found", e.PeerID, e.Via}
	case p2p.SessionUp:
		return sessionUpEvent{"session_up", e.PeerID, e.Fingerprint.String(), e.Name, string(e.Trust), e.Conn, e.Stranger}
	case p2p.PathChanged:
		return pathEvent{"path", e.PeerID, e.Conn}
	case p2p.AddrsChanged:
		addrs := e.Addrs
		if addrs == nil {
			addrs = []string{}
		}
		return addrsEvent{"addrs", addrs, e.Reachability}
	case p2p.SessionDown:
		return sessionDownEvent{"session_down", e.PeerID, e.Reason}
	case p2p.MessageReceived:
		return messageEvent{"message", e.PeerID, e.ID, e.Text, rfc3339(e.SentAt), e.Stranger}
	case p2p.Delivered:
		return msgIDEvent{Event: "delivered", PeerID: e.PeerID, ID: e.ID}
	case p2p.Alert:
		return alertEvent{"alert", e.Kind, e.PeerID, e.Message}
	case p2p.NameChanged:
		return nameChangedEvent{"name_changed", e.PeerID, e.Name}
	case p2p.FileOffered, p2p.FileProgress, p2p.FileDone, p2p.FileFailed:
		return fileEventJSON(ev) // headless_files.go
	}
	return nil
}

// rfc3339 formats t in UTC to the second: the plainest RFC 3339 form, which
// every parser accepts.
func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func readyJSON(peerID, fp, name string, addrs []string) readyEvent {
	if addrs == nil {
		addrs = []string{}
	}
	return readyEvent{"ready", peerID, fp, name, addrs}
}
