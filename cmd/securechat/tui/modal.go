package tui

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/mdp/qrterminal/v3"

	"github.com/securechat/securechat/cmd/securechat/internal/xfer"
	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// modal is a window over the main area that holds the keyboard until it is
// answered: a confirmation (y or n) or an information (any key).
type modal struct {
	title   string
	body    []string // the text column
	qr      []string // a QR code drawn left of the text, if any
	prompt  string
	confirm bool
	later   bool // Esc closes it without an answer (n answers no)
	onYes   func(m *model) tea.Cmd
	onNo    func(m *model) tea.Cmd
}

// modalKey answers the open modal.
func (m *model) modalKey(k tea.KeyPressMsg) tea.Cmd {
	md := m.modal
	s := k.String()
	if s == "ctrl+c" {
		m.quitting = true
		return tea.Quit
	}
	if !md.confirm {
		m.modal = nil
		return nil
	}
	if s == "esc" && md.later {
		m.modal = nil
		return nil
	}
	switch strings.ToLower(s) {
	case "y":
		m.modal = nil
		if md.onYes != nil {
			return md.onYes(m)
		}
	case "n", "esc":
		m.modal = nil
		if md.onNo != nil {
			return md.onNo(m)
		}
	}
	return nil
}

// safetyLines returns the safety number with a peer as display rows, and
// whether the node could compute it.
func (m *model) safetyLines(peerID string) ([]string, bool) {
	sn, err := m.node.SafetyNumber(peerID)
	switch {
	case errors.Is(err, p2p.ErrNoSession):
		// The node learns the peer's keys at its first session under
		// the pinned key and keeps them for later.
		return []string{"(shown once " + m.senderName(peerID) + " has been online;", " compare the fingerprint meanwhile)"}, false
	case err != nil:
		return []string{"(not available: " + errText(err) + ")"}, false
	}
	return safetyRows(sn), true
}

// verifyModal shows the safety number and fingerprint of p and asks whether
// they match what the peer sees.
func (m *model) verifyModal(p *peer) *modal {
	name, id, fp := m.senderName(p.id), p.id, p.fp
	body := []string{"Safety number:"}
	rows, _ := m.safetyLines(id)
	for _, r := range rows {
		body = append(body, "  "+r)
	}
	body = append(body, "", "Fingerprint of "+name+":")
	for _, r := range fpGroups(fp) {
		body = append(body, "  "+r)
	}
	body = append(body, "",
		"Compare the safety number with "+name,
		"in person or on a call; both screens",
		"must show the same 60 digits.")
	return &modal{
		title:   fmt.Sprintf("Verify %s (%s)", name, shortID(id)),
		body:    body,
		qr:      qrLines(fp.String()),
		prompt:  "y: they match, mark verified · n: they differ",
		confirm: true,
		onYes: func(m *model) tea.Cmd {
			return m.nodeCmd(resultMsg{conv: m.current, what: "verify", peerID: id, text: name + " is now verified."},
				func(node Node) error { return node.Verify(id, fp) })
		},
		onNo: func(m *model) tea.Cmd {
			m.alertPeer(id, "You rejected the safety number of "+name+": it stays unverified. "+
				"If the numbers really differ, someone may be in the middle: do not trust this conversation.")
			return nil
		},
	}
}

// trustModal shows the old and new keys of p side by side and asks whether
// to accept the new one.
func (m *model) trustModal(p *peer) *modal {
	name, id, newFP := m.senderName(p.id), p.id, p.newFP
	body := keyChangeRows(p.fp, newFP)
	// The node refuses sessions under a changed key, so usually there is
	// no safety number to show yet: the fingerprints are what to compare.
	if rows, ok := m.safetyLines(id); ok {
		body = append(body, "", "Safety number now:")
		for _, r := range rows {
			body = append(body, "  "+r)
		}
	} else {
		body = append(body, "", "Ask "+name+" to read out their fingerprint (their /myid",
			"shows it, with a QR code) and compare it with the new one.",
			"Once accepted, /verify compares safety numbers.")
	}
	body = append(body, "",
		"Accept only if "+name+" confirms a new key",
		"(new device or reinstall), on a channel you trust.")
	md := &modal{
		title:   fmt.Sprintf("KEY CHANGED: %s (%s)", name, shortID(id)),
		body:    body,
		prompt:  "y: accept the new key · n: keep sending blocked",
		confirm: true,
	}
	md.onYes = func(m *model) tea.Cmd {
		if newFP.IsZero() {
			m.alertPeer(id, "The node did not say which key is new, so it cannot be accepted from here.")
			return nil
		}
		return m.nodeCmd(resultMsg{conv: m.current, what: "trust-new-key", peerID: id, fp: newFP,
			text: "Accepted the new key of " + name + "; messages flow again once " + name +
				" is online (/connect if it does not come back). It is not verified yet: /verify."},
			func(node Node) error { return node.TrustNewKey(id, newFP) })
	}
	md.onNo = func(m *model) tea.Cmd {
		m.alertPeer(id, "Kept the old key of "+name+"; sending stays blocked.")
		return nil
	}
	return md
}

// keyChangeRows puts an old and a new fingerprint side by side.
func keyChangeRows(old, new e2e.Fingerprint) []string {
	rows := []string{fmt.Sprintf("%-19s   %s", "old (pinned)", "new (presented now)")}
	o, n := fpGroups(old), fpGroups(new)
	for i := range o {
		right := n[i]
		if new.IsZero() {
			right = "unknown"
			if i > 0 {
				right = ""
			}
		}
		rows = append(rows, fmt.Sprintf("%-19s → %s", o[i], right))
	}
	return rows
}

// myIDModal shows the own identity and the QR code of the fingerprint.
func (m *model) myIDModal() *modal {
	body := []string{"Name: " + m.name, "Peer ID:"}
	for id := m.peerID; id != ""; {
		n := min(len(id), 26)
		body = append(body, "  "+id[:n])
		id = id[n:]
	}
	body = append(body, "Fingerprint:")
	for _, r := range fpGroups(m.fp) {
		body = append(body, "  "+r)
	}
	body = append(body, "", "Your invite (and with /myid all,", "your addresses) is in the", "conversation behind this.")
	return &modal{
		title:  "Your identity",
		body:   body,
		qr:     qrLines(m.fp.String()),
		prompt: "any key closes",
	}
}

// pasteModal asks before sending a long paste: as one message, or, over
// the limit of a message, as a text file.
func pasteModal(text string, n int, to string) *modal {
	lines := strings.Split(text, "\n")
	body := []string{"First lines:"}
	for _, l := range lines[:min(len(lines), 8)] {
		body = append(body, "  "+cleanText(l, false))
	}
	if len(lines) > 8 {
		body = append(body, "  …")
	}
	title := fmt.Sprintf("Send this %d-line paste to %s as one message?", n, to)
	if len(text) > p2p.MaxMessageText {
		title = fmt.Sprintf("This paste (%s) is over the %d KiB of a message. Send it to %s as a text file?",
			xfer.Size(int64(len(text))), p2p.MaxMessageText>>10, to)
	}
	return &modal{
		title:   title,
		body:    body,
		prompt:  "y: send · n: discard",
		confirm: true,
		onYes: func(m *model) tea.Cmd {
			return m.sendText(m.current, text)
		},
	}
}

// qrLines draws text as a QR code in half blocks, two modules per cell
// vertically, for a dark-background terminal.
func qrLines(text string) []string {
	var buf bytes.Buffer
	qrterminal.GenerateWithConfig(text, qrterminal.Config{
		Level:          qrterminal.L,
		Writer:         &buf,
		HalfBlocks:     true,
		BlackChar:      qrterminal.BLACK_BLACK,
		WhiteChar:      qrterminal.WHITE_WHITE,
		WhiteBlackChar: qrterminal.WHITE_BLACK,
		BlackWhiteChar: qrterminal.BLACK_WHITE,
		QuietZone:      2,
	})
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	w := 0
	for _, l := range lines {
		w = max(w, ansi.StringWidth(l))
	}
	for i, l := range lines {
		// Pad short rows with light cells so the quiet zone stays whole.
		lines[i] = l + strings.Repeat(qrterminal.WHITE_WHITE, w-ansi.StringWidth(l))
	}
	return lines
}
