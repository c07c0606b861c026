package tui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// peersMsg carries a [Node.Peers] snapshot into Update.
type peersMsg struct{ peers []p2p.PeerInfo }

// refreshPeers reads the node's peer list outside Update.
func (m *model) refreshPeers() tea.Cmd {
	node := m.node
	return func() tea.Msg { return peersMsg{node.Peers()} }
}

// handleEvent folds one node event into the model.
func (m *model) handleEvent(ev p2p.Event) tea.Cmd {
	m.flushAlerts()
	if cmd, ok := m.handleFileEvent(ev); ok { // files.go
		return cmd
	}
	switch ev := ev.(type) {
	case p2p.Ready:
		m.ready = true
		m.peerID, m.fp, m.addrs = ev.PeerID, ev.Fingerprint, ev.Addrs
		if n := cleanName(ev.Name); n != "" && m.name == "" {
			m.name = n
		}
		m.system(statusConv, fmt.Sprintf("Listening on %d %s as %s (fingerprint %s). /myid shows them.",
			len(ev.Addrs), plural(len(ev.Addrs), "address", "addresses"), shortID(ev.PeerID), ev.Fingerprint.Short()))
	case p2p.PathChanged:
		m.pathChanged(ev) // invite.go
	case p2p.AddrsChanged:
		m.addrsChanged(ev)
	case p2p.PeerFound:
		m.system(statusConv, fmt.Sprintf("Found %s via %s.", shortID(ev.PeerID), cleanName(ev.Via)))
	case p2p.SessionUp:
		return m.sessionUp(ev)
	case p2p.SessionDown:
		p, ok := m.peers[ev.PeerID]
		if !ok {
			return nil
		}
		p.online, p.conn = false, ""
		m.system(p.id, fmt.Sprintf("%s went offline (%s).", m.senderName(p.id), cleanName(ev.Reason)))
		return m.refreshPeers()
	case p2p.MessageReceived:
		return m.received(ev)
	case p2p.Delivered:
		if !m.markDelivered(ev.PeerID, ev.ID) {
			m.delivered[ev.ID] = true
		}
	case p2p.Deposited:
		m.markDeposited(ev.PeerID, ev.ID) // mailbox.go
	case p2p.Alert:
		return m.handleAlert(ev)
	case p2p.NameChanged:
		return m.nameChanged(ev) // contacts.go
	case p2p.DialFailed:
		m.alert(m.current, fmt.Sprintf("Dial to %s failed: %s", cleanText(ev.Addr, false), dialReason(ev)))
	}
	return nil
}

// sessionUp handles a new authenticated session.
func (m *model) sessionUp(ev p2p.SessionUp) tea.Cmd {
	p := m.peer(ev.PeerID)
	if n := cleanName(ev.Name); n != "" {
		p.name = n
	}
	p.online = true
	p.conn = ev.Conn
	p.trust = ev.Trust
	p.stranger = ev.Stranger
	switch {
	case p.fp.IsZero():
		p.fp = ev.Fingerprint
	case !p.fp.Equal(ev.Fingerprint):
		// A session under a key other than the pinned one: whatever the
		// node decides, show it as a key change.
		p.keyChanged = true
		p.newFP = ev.Fingerprint
	}
	text := fmt.Sprintf("%s is online (%s).", m.senderName(p.id), trustWords(p))
	if ev.Conn == p2p.ConnRelayed {
		text = fmt.Sprintf("%s is online through a relay (%s).", m.senderName(p.id), trustWords(p))
	}
	if !p.verified() && !p.keyChanged {
		text += " Compare safety numbers with /verify."
	}
	if p.stranger {
		text += " A stranger: it connected to you; it becomes a contact once you write to it or /verify it."
	}
	m.system(p.id, text)
	if m.current == statusConv && m.onlineCount() == 1 {
		// With a single peer, typed lines go to that peer.
		m.show(p.id)
	}
	return m.refreshPeers()
}

// received handles an incoming message.
func (m *model) received(ev p2p.MessageReceived) tea.Cmd {
	p := m.peer(ev.PeerID)
	p.stranger = ev.Stranger
	if m.hasLine(p.id, ev.ID) {
		return nil // already shown from the history
	}
	// The stamp is the arrival time: it keeps the pane in the order things
	// happened here. The sender's clock is only a claim, and a coarse one
	// (the node rounds it to the minute), so it is shown beside the text
	// when it differs, which is what a message held in an outbox looks
	// like.
	m.add(p.id, line{kind: lineIn, from: p.id, id: ev.ID, text: cleanText(ev.Text, true), sentAt: ev.SentAt})
	return m.unfocusedArrival(p.id)
}

// handleAlert shows a security event; a key change also blocks sending.
func (m *model) handleAlert(ev p2p.Alert) tea.Cmd {
	kind, text := cleanName(ev.Kind), cleanText(ev.Message, false)
	if ev.Kind == p2p.AlertHandshakeFailed {
		m.handshakeFailed(ev, text) // alerts.go: rate-limited
		return nil
	}
	if _, known := m.peers[ev.PeerID]; ev.PeerID == statusConv || !known && ev.Kind != p2p.AlertKeyChanged {
		// A stranger (a failed handshake, garbage on a stream) gets no
		// entry in the peer list, or anyone could fill it.
		if ev.PeerID != "" {
			text = shortID(ev.PeerID) + ": " + text
		}
		m.alert(m.current, fmt.Sprintf("Security alert (%s): %s", kind, text))
		return nil
	}
	p := m.peer(ev.PeerID)
	if ev.Kind != p2p.AlertKeyChanged {
		m.alert(p.id, fmt.Sprintf("Security alert (%s): %s", kind, text))
		return m.refreshPeers()
	}
	p.keyChanged = true
	// The alert's own text names both keys in full; the banner over the
	// conversation shows them side by side once the node's peer list (with
	// its PendingFingerprint) comes back, so the line stays short here.
	m.alert(p.id, fmt.Sprintf("KEY CHANGED for %s (%s): it presented an identity key other than the one pinned. "+
		"Sending is blocked until you compare the keys with %s and type /trust-new-key.",
		m.senderName(p.id), shortID(p.id), m.senderName(p.id)))
	if m.current != p.id {
		m.alert(m.current, fmt.Sprintf("KEY CHANGED for %s. Switch to it with /msg %s.", m.senderName(p.id), shortID(p.id)))
	}
	return m.refreshPeers()
}

// mergePeers folds a [Node.Peers] snapshot into the peer list. Peers the
// node no longer lists keep their conversation.
func (m *model) mergePeers(infos []p2p.PeerInfo) {
	for _, info := range infos {
		p := m.peer(info.PeerID)
		if n := cleanName(info.Name); n != "" {
			p.name = n
		}
		p.label = cleanName(info.Label)
		p.blocked = info.Blocked
		p.stranger = info.Stranger
		p.fp = info.Fingerprint
		p.trust = info.Trust
		p.online = info.State == p2p.PeerOnline
		if p.online && info.Conn != "" && info.Conn != "none" {
			p.conn = info.Conn
		}
		if info.Blocked {
			p.blocked = true
		}
		// The node is the authority on key changes; it names the new key in
		// PendingFingerprint.
		switch {
		case info.KeyChanged:
			p.keyChanged = true
			if !info.PendingFingerprint.IsZero() {
				p.newFP = info.PendingFingerprint
			}
		case p.keyChanged && !p.newFP.IsZero() && !p.newFP.Equal(info.Fingerprint):
			// A different key seen in a session stays flagged until the
			// node has pinned it.
		default:
			p.keyChanged, p.newFP = false, e2e.Fingerprint{}
		}
	}
}

// peer returns the peer with id, adding it to the list.
func (m *model) peer(id string) *peer {
	p, ok := m.peers[id]
	if !ok {
		p = &peer{id: id, trust: p2p.TrustNew}
		m.peers[id] = p
		m.order = append(m.order, id)
		m.conv(id)
		m.historyDue = append(m.historyDue, id)
	}
	return p
}

// onlineCount counts peers with a live session.
func (m *model) onlineCount() int {
	n := 0
	for _, p := range m.peers {
		if p.online {
			n++
		}
	}
	return n
}

// unreadCount counts the unread messages of all conversations.
func (m *model) unreadCount() int {
	n := 0
	for _, c := range m.convs {
		n += c.unread
	}
	return n
}

// unverifiedCount counts peers whose key the user has not verified.
func (m *model) unverifiedCount() int {
	n := 0
	for _, p := range m.peers {
		if !p.verified() {
			n++
		}
	}
	return n
}

// nameTaken reports whether another known peer shows a name that looks
// the same (p2p.NamesLookAlike: case, format characters, confusables).
func (m *model) nameTaken(p *peer) bool {
	for _, q := range m.peers {
		if q.id != p.id && p2p.NamesLookAlike(q.shown(), p.shown()) {
			return true
		}
	}
	return false
}

// senderName is how a peer is named on screen: its name, with the short
// fingerprint when another peer uses the same name; its short ID when it
// gave no name.
func (m *model) senderName(id string) string {
	p, ok := m.peers[id]
	if !ok || p.shown() == "" {
		return shortID(id)
	}
	if m.nameTaken(p) {
		// At least 64 bits of the fingerprint: a peer can grind a key
		// whose 32-bit prefix is someone else's (p2p.MinFingerprintPrefix).
		return p.shown() + "~" + p.fp.String()[:p2p.MinFingerprintPrefix]
	}
	return p.shown()
}

// displayName names a conversation: the peer, or "status".
func (m *model) displayName(id string) string {
	if id == statusConv {
		return "status"
	}
	return m.senderName(id)
}

// trustWords describes a peer's trust for a sentence.
func trustWords(p *peer) string {
	switch {
	case p.keyChanged:
		return "KEY CHANGED"
	case p.trust == p2p.TrustVerified:
		return "verified"
	case p.trust == p2p.TrustPinned:
		return "known key, not verified"
	default:
		return "new key, not verified"
	}
}
