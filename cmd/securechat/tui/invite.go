package tui

import (
	"context"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/cmd/securechat/internal/doctor"
	"github.com/securechat/securechat/p2p"
)

// This file holds what reaches beyond the LAN: /invite, the invite in
// /myid and /connect, /doctor, and the direct or relayed path of each
// session.

// rawLine adds text to conversation id as a copyable line: no time stamp,
// no prefix, no indent, cut at the pane's width only, so that the rows a
// terminal selection takes read back as the text (a pasted invite has its
// line breaks removed).
func (m *model) rawLine(id, text string) {
	m.add(id, line{kind: lineRaw, text: cleanText(text, false)})
}

// ownInvite returns the node's invite, or reports why there is none.
func (m *model) ownInvite() (string, bool) {
	inv, err := m.node.Invite()
	if err != nil {
		m.alert(m.current, "No invite: "+errText(err)+". Listen on a reachable address or use --relay.")
		return "", false
	}
	return inv, true
}

// showInvite is /invite: the invite as one copyable line, and its QR code.
func (m *model) showInvite() {
	inv, ok := m.ownInvite()
	if !ok {
		return
	}
	m.system(m.current, "Your invite: give it to a friend, who types /connect and pastes it. It holds your addresses and fingerprint, no secret.")
	m.rawLine(m.current, inv)
	m.conv(m.current).scroll = 0
	m.modal = &modal{
		title: "Your invite",
		body: []string{
			"Scan the code, or copy the line",
			"behind this window (it has rows",
			"of its own, without time stamps).",
			"",
			"Your friend types /connect and",
			"pastes it. The first session must",
			"show your fingerprint:",
			"  " + m.fp.Short(),
		},
		qr:     qrLines(inv),
		prompt: "any key closes",
	}
}

// showMyID is /myid [all]: who this node is, its invite on one copyable
// line, every address with "all", and the fingerprint's QR code.
func (m *model) showMyID(arg string) {
	here := m.current
	m.system(here, fmt.Sprintf("You are %s, peer ID %s", m.name, m.peerID))
	m.system(here, "Fingerprint: "+m.fp.String())
	if inv, err := m.node.Invite(); err == nil {
		m.system(here, "Invite (copy the whole line; /invite shows its QR code):")
		m.rawLine(here, inv)
	}
	switch {
	case len(m.addrs) == 0:
		m.system(here, "Not listening yet.")
	case strings.EqualFold(arg, "all"):
		m.system(here, fmt.Sprintf("%d %s:", len(m.addrs), plural(len(m.addrs), "address", "addresses")))
		for _, a := range m.addrs {
			m.rawLine(here, a)
		}
	default:
		m.system(here, fmt.Sprintf("Listening on %d %s: /myid all lists them.", len(m.addrs), plural(len(m.addrs), "address", "addresses")))
	}
	m.conv(here).scroll = 0
	m.modal = m.myIDModal()
}

// showDoctor is /doctor: the node's reachability report.
func (m *model) showDoctor() {
	r := doctor.New(m.node.Diagnostics())
	for _, l := range doctor.Text(r, m.loc) {
		m.rawLine(m.current, l)
	}
	m.conv(m.current).scroll = 0
}

// connectInvite dials the peer an invite names.
func (m *model) connectInvite(arg string) tea.Cmd {
	here := m.current
	text := p2p.CleanInvite(arg)
	inv, err := p2p.ParseInvite(text)
	if err != nil {
		m.alert(here, "Not a valid invite: "+errText(err)+". Copy the whole line, starting with securechat:")
		return nil
	}
	who := shortID(inv.PeerID)
	if n := cleanName(inv.Name); n != "" {
		who = n + " (" + who + ")"
	}
	m.system(here, fmt.Sprintf("Connecting to %s from the invite; their fingerprint must be %s …", who, inv.Fingerprint.Short()))
	return m.dial(here, inv.PeerID, who, func(ctx context.Context, node Node) (p2p.Connected, error) {
		return node.ConnectInvite(ctx, text)
	})
}

// pathChanged notes that a session moved between a relay and a direct
// connection.
func (m *model) pathChanged(ev p2p.PathChanged) {
	p, ok := m.peers[ev.PeerID]
	if !ok || p.conn == ev.Conn {
		return
	}
	p.conn = ev.Conn
	if ev.Conn == p2p.ConnDirect {
		m.system(p.id, fmt.Sprintf("Now connected to %s directly.", m.senderName(p.id)))
	} else {
		m.system(p.id, fmt.Sprintf("Now connected to %s through a relay.", m.senderName(p.id)))
	}
}

// addrsChanged takes the node's new addresses and says when a relay
// reservation came or went.
func (m *model) addrsChanged(ev p2p.AddrsChanged) {
	before, after := hasCircuit(m.addrs), hasCircuit(ev.Addrs)
	m.addrs = ev.Addrs
	switch {
	case after && !before:
		m.system(statusConv, "Reachable through your relay now: /invite has the address for friends.")
	case before && !after:
		m.alert(statusConv, "The relay reservation was lost: friends outside your network cannot reach you until it is back. /doctor shows why.")
	}
}

// hasCircuit reports whether any of addrs goes through a relay.
func hasCircuit(addrs []string) bool {
	for _, a := range addrs {
		if strings.Contains(a, "/p2p-circuit") {
			return true
		}
	}
	return false
}

// connWord is how a peer's connection shows: "direct", "relayed", or ""
// while offline.
func connWord(p *peer) string {
	if !p.online {
		return ""
	}
	return p.conn
}
