package tui

import (
	"errors"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// The commands that manage names and contacts: /block (asks first),
// /unblock, /forget (asks first), /label and /nick, and a peer's change of
// name.

// blockModal asks before blocking p.
func (m *model) blockModal(p *peer) *modal {
	name, id := m.senderName(p.id), p.id
	return &modal{
		title: fmt.Sprintf("Block %s (%s)?", name, shortID(id)),
		body: []string{
			"No connection from or to " + name + " from now on,",
			"also after a restart. Messages you queued for it",
			"stay in the outbox and go out if you /unblock it.",
		},
		prompt:  "y: block · n: cancel",
		confirm: true,
		onYes: func(m *model) tea.Cmd {
			return m.nodeCmd(resultMsg{conv: m.current, what: "block", peerID: id,
				text: "Blocked " + name + ". /unblock undoes it."}, func(node Node) error { return node.Block(id) })
		},
	}
}

// forgetModal asks before forgetting p.
func (m *model) forgetModal(p *peer) *modal {
	name, id := m.senderName(p.id), p.id
	body := []string{
		"Deletes " + name + " from your contacts: its pinned key,",
		"trust and label, your whole history with it and the",
		"messages still waiting for it. This cannot be undone.",
		"If it connects again it is a new, unverified peer.",
	}
	if p.blocked {
		body = append(body, "", "It stays blocked; /unblock it first to drop that too.")
	}
	return &modal{
		title:   fmt.Sprintf("Forget %s (%s)?", name, shortID(id)),
		body:    body,
		prompt:  "y: forget · n: cancel",
		confirm: true,
		onYes: func(m *model) tea.Cmd {
			return m.nodeCmd(resultMsg{conv: statusConv, what: "forget", peerID: id,
				text: "Forgot " + name + " (" + shortID(id) + ")."}, func(node Node) error { return node.Forget(id) })
		},
	}
}

// unblock asks the node to unblock p.
func (m *model) unblock(p *peer) tea.Cmd {
	if !p.blocked {
		m.system(m.current, m.senderName(p.id)+" is not blocked.")
		return nil
	}
	id := p.id
	return m.nodeCmd(resultMsg{conv: m.current, what: "unblock", peerID: id,
		text: "Unblocked " + m.senderName(id) + ": it may connect again, and waiting messages go out."},
		func(node Node) error { return node.Unblock(id) })
}

// label runs /label PEER [NAME]: the user's own name for a peer, shown
// instead of the one it announced; without NAME the label goes.
func (m *model) label(arg string) tea.Cmd {
	who, name, _ := strings.Cut(arg, " ")
	if who == "" {
		m.alert(m.current, "Usage: /label PEER [NAME] (1-32 printable characters; no NAME removes the label)")
		return nil
	}
	p, err := m.resolve(who)
	if err != nil {
		m.alert(m.current, err.Error())
		return nil
	}
	name = strings.TrimSpace(name)
	if name != "" {
		if name, err = p2p.ValidName(name); err != nil {
			m.alert(m.current, "A label is 1-32 printable characters.")
			return nil
		}
	}
	id := p.id
	text := "Removed your label of " + shortID(id) + "; it shows the name it gave."
	if name != "" {
		text = shortID(id) + " is shown as " + name + " from now on."
	}
	return m.nodeCmd(resultMsg{conv: m.current, what: "label", peerID: id, text: text, name: name},
		func(node Node) error { return node.SetLabel(id, name) })
}

// nick changes the own name: the node saves it and tells the peers in
// session at once, and the others when they next connect.
func (m *model) nick(arg string) tea.Cmd {
	name, err := p2p.ValidName(arg)
	if err != nil {
		m.alert(m.current, "Usage: /nick NAME (1-32 printable characters)")
		return nil
	}
	return m.nodeCmd(resultMsg{conv: m.current, what: "nick", name: name,
		text: "You are now " + cleanName(name) + "; peers online see it now, the others when they next connect."},
		func(node Node) error { return node.SetName(name) })
}

// nodeCmd returns the command that runs op on the node and reports r with
// op's error: the contact and trust commands' one way to call the node.
func (m *model) nodeCmd(r resultMsg, op func(Node) error) tea.Cmd {
	node := m.node
	return func() tea.Msg {
		res := r
		res.err = op(node)
		return res
	}
}

// contactResult applies a successful contact command to the screen.
func (m *model) contactResult(r resultMsg) {
	p, known := m.peers[r.peerID]
	switch r.what {
	case "block":
		if known {
			p.blocked = true
		}
	case "unblock":
		if known {
			p.blocked = false
		}
	case "label":
		if known {
			p.label = cleanName(r.name)
		}
	case "nick":
		m.name = cleanName(r.name)
	case "forget":
		m.drop(r.peerID)
	}
}

// drop removes a forgotten peer and its conversation from the screen.
func (m *model) drop(id string) {
	if _, ok := m.peers[id]; !ok {
		return
	}
	delete(m.peers, id)
	delete(m.convs, id)
	for i, o := range m.order {
		if o == id {
			m.order = append(m.order[:i:i], m.order[i+1:]...)
			break
		}
	}
	if m.current == id {
		m.show(statusConv)
	}
}

// nameChanged shows a peer's new name in its conversation.
func (m *model) nameChanged(ev p2p.NameChanged) tea.Cmd {
	p, ok := m.peers[ev.PeerID]
	if !ok {
		return nil
	}
	before := m.senderName(p.id)
	n := cleanName(ev.Name)
	if n == "" || n == p.name {
		return nil
	}
	p.name = n
	text := before + " now calls itself " + n + "."
	if p.label != "" {
		text += " You still see your label " + p.label + "."
	}
	m.system(p.id, text)
	return m.refreshPeers()
}

// isNameError reports whether err is a refused name or label.
func isNameError(err error) bool { return errors.Is(err, p2p.ErrInvalidName) }
