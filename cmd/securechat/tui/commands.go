package tui

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// commandHelp lists the commands, in the order /help shows them.
var commandHelp = []struct{ name, args, help string }{
	{"help", "", "show this help"},
	{"peers", "", "list known peers with fingerprint, trust and state"},
	{"connect", "ADDR-OR-INVITE", "dial a peer: an address ending in /p2p/<peer-id>, or an invite"},
	{"invite", "", "show your invite (one line, and its QR code) for a friend"},
	{"msg", "NAME-OR-ID [TEXT]", "switch to a conversation (and send TEXT)"},
	{"send", "PATH", "offer a file to this conversation's peer (Tab completes the path)"},
	{"accept", "[ID]", "accept the latest file offer here (or the one whose ID starts so)"},
	{"reject", "[ID]", "refuse a file offer"},
	{"cancel", "[ID]", "stop a file transfer, either way"},
	{"files", "", "list file transfers"},
	{"verify", "[PEER]", "compare the safety number, then confirm (y) or reject (n)"},
	{"trust-new-key", "[PEER]", "accept a peer's changed key after comparing it"},
	{"block", "[PEER]", "refuse a peer from now on (asks first)"},
	{"unblock", "[PEER]", "undo /block"},
	{"label", "PEER [NAME]", "your own name for a peer (none: remove it)"},
	{"forget", "[PEER]", "delete a peer and your history with it (asks first)"},
	{"nick", "NAME", "change your name; peers online see it at once"},
	{"myid", "[all]", "show your fingerprint, its QR code and your invite (all: every address)"},
	{"doctor", "", "why a friend cannot reach you: addresses, relays, hole punches"},
	{"mailbox", "", "your mailboxes: reachable, messages waiting, space left"},
	{"clear", "", "clear this conversation from the screen"},
	{"quit", "", "leave securechat"},
}

// keyHelp lists the key bindings for /help.
var keyHelp = []string{
	"Enter send · Tab complete · Up/Down input history · Ctrl+C quit",
	"Ctrl+N/Ctrl+P (Alt+Right/Left) next/previous conversation · Alt+0 status · Alt+1..9 peers",
	"PgUp/PgDn scroll (PgUp at the top reads older history) · Esc back to the newest line",
	"Ctrl+O review the latest file offer (y accept, n refuse) · a paste over 64 KiB goes as a file",
	"typing / lists the commands under the input · start a message with // to send a leading /",
}

// sendResultMsg is the node's answer to a Send.
type sendResultMsg struct {
	peerID string
	seq    int
	id     string
	err    error
}

// resultMsg is the answer to any other node call made from a command.
type resultMsg struct {
	conv   string // where to report
	what   string // the operation, for the error line
	peerID string
	fp     e2e.Fingerprint
	text   string // reported on success
	conn   string // a connect's kind of connection, "direct" or "relayed"
	name   string // a /label's label or a /nick's name
	err    error
}

// command runs a line starting with "/".
func (m *model) command(line string) tea.Cmd {
	name, rest, _ := strings.Cut(strings.TrimPrefix(line, "/"), " ")
	rest = strings.TrimSpace(rest)
	here := m.current
	switch strings.ToLower(name) {
	case "help":
		m.system(here, "Commands:")
		for _, c := range commandHelp {
			m.system(here, fmt.Sprintf("  /%s — %s", strings.TrimSpace(c.name+" "+c.args), c.help))
		}
		m.system(here, "Keys:")
		for _, k := range keyHelp {
			m.system(here, "  "+k)
		}
	case "peers":
		m.listPeers()
	case "connect":
		return m.connect(rest)
	case "msg":
		return m.msg(rest)
	case "send":
		return m.sendFile(rest) // files.go
	case "accept", "reject", "cancel":
		return m.fileCommand(strings.ToLower(name), rest)
	case "files":
		return m.loadTransfers(here)
	case "verify":
		if p := m.target(rest); p != nil {
			if p.keyChanged {
				m.modal = m.trustModal(p)
			} else {
				m.modal = m.verifyModal(p)
			}
		}
	case "trust-new-key":
		if p := m.target(rest); p != nil {
			if !p.keyChanged {
				m.system(here, fmt.Sprintf("The key of %s has not changed; nothing to accept.", m.senderName(p.id)))
			} else {
				m.modal = m.trustModal(p)
			}
		}
	case "block":
		if p := m.target(rest); p != nil {
			m.modal = m.blockModal(p) // contacts.go
		}
	case "unblock":
		if p := m.target(rest); p != nil {
			return m.unblock(p)
		}
	case "forget":
		if p := m.target(rest); p != nil {
			m.modal = m.forgetModal(p)
		}
	case "label":
		return m.label(rest)
	case "nick":
		return m.nick(rest)
	case "myid":
		m.showMyID(rest) // invite.go
	case "invite":
		m.showInvite()
	case "doctor":
		m.showDoctor()
	case "mailbox":
		return m.mailboxCmd() // mailbox.go
	case "clear":
		c := m.conv(here)
		c.lines, c.scroll = nil, 0
	case "quit", "exit":
		m.quitting = true
		return tea.Quit
	default:
		m.alert(here, fmt.Sprintf("Unknown command /%s. Type /help for the list.", cleanName(name)))
	}
	return nil
}

// listPeers writes the peer list into the current conversation.
func (m *model) listPeers() {
	if len(m.order) == 0 {
		m.system(m.current, "No peers yet. Use /connect MULTIADDR, or wait for mDNS.")
		return
	}
	for i, id := range m.order {
		p := m.peers[id]
		state := "offline"
		if p.online {
			state = "online, " + p.conn
		}
		if p.blocked {
			state += "  blocked"
		}
		m.system(m.current, fmt.Sprintf("%d. %s  %s  fp %s  %s  %s",
			i+1, m.senderName(id), id, p.fp.Short(), trustWords(p), state))
	}
}

// connect parses the address here and dials it in a command.
func (m *model) connect(arg string) tea.Cmd {
	here := m.current
	if arg == "" {
		m.alert(here, "Usage: /connect MULTIADDR (ending in /p2p/<peer-id>), /connect INVITE or /connect CONTACT")
		return nil
	}
	if p2p.IsInvite(arg) {
		return m.connectInvite(arg) // invite.go
	}
	if !strings.HasPrefix(arg, "/") {
		return m.connectContact(arg)
	}
	addr, err := multiaddr.NewMultiaddr(arg)
	if err != nil || !strings.Contains(arg, "/p2p/") {
		m.alert(here, fmt.Sprintf("Not a multiaddr ending in /p2p/<peer-id>: %s", arg))
		return nil
	}
	// The peer ID is most of the address; the short form keeps the line
	// readable and still matches /msg.
	transport, id, _ := strings.Cut(arg, "/p2p/")
	m.system(here, fmt.Sprintf("Connecting to %s at %s …", shortID(id), transport))
	return m.dial(here, id, "", func(ctx context.Context, node Node) (p2p.Connected, error) {
		return node.Connect(ctx, addr)
	})
}

// dial returns the command that runs connect, bounded by
// [p2p.DialTimeout], and reports it in conversation here as the
// connection to peer id, named who (empty: by its ID).
func (m *model) dial(here, id, who string, connect func(ctx context.Context, node Node) (p2p.Connected, error)) tea.Cmd {
	ctx, node := m.ctx, m.node
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, p2p.DialTimeout)
		defer cancel()
		c, err := connect(ctx, node)
		return resultMsg{conv: here, what: "connect", peerID: id, text: who, conn: c.Conn, err: err}
	}
}

// connectContact dials a known contact at its stored addresses: the peer
// is resolved on this screen first, so an unknown or ambiguous name gets
// the same answer as /msg.
func (m *model) connectContact(arg string) tea.Cmd {
	here := m.current
	p, err := m.resolve(arg)
	if errors.Is(err, p2p.ErrUnknownPeer) {
		m.alert(here, "Not a multiaddr ending in /p2p/<peer-id>, an invite or a known contact: "+arg)
		return nil
	}
	if err != nil {
		m.alert(here, err.Error())
		return nil
	}
	who := m.senderName(p.id)
	m.system(here, fmt.Sprintf("Connecting to %s at its known addresses …", who))
	id := p.id
	return m.dial(here, id, who, func(ctx context.Context, node Node) (p2p.Connected, error) {
		return node.ConnectPeer(ctx, id)
	})
}

// msg switches conversation and, given text, sends it there.
func (m *model) msg(arg string) tea.Cmd {
	who, text, _ := strings.Cut(arg, " ")
	if who == "" {
		m.alert(m.current, "Usage: /msg NAME-OR-ID [TEXT]")
		return nil
	}
	p, err := m.resolve(who)
	if err != nil {
		m.alert(m.current, err.Error())
		return nil
	}
	m.show(p.id)
	if text = strings.TrimSpace(text); text != "" {
		return m.sendText(p.id, text)
	}
	return nil
}

// target resolves a command's optional peer argument, defaulting to the
// current conversation. It reports failures itself.
func (m *model) target(arg string) *peer {
	if arg == "" {
		if p, ok := m.peers[m.current]; ok {
			return p
		}
		m.alert(m.current, "Name a peer, or switch to its conversation first.")
		return nil
	}
	p, err := m.resolve(arg)
	if err != nil {
		m.alert(m.current, err.Error())
		return nil
	}
	return p
}

// sendText sends text to conversation id, unless that is not possible. A
// text over the limit of a message is not lost: it goes as a text file
// (files.go).
func (m *model) sendText(id, text string) tea.Cmd {
	if !m.canSend(id, text) {
		return nil
	}
	if len(text) > p2p.MaxMessageText {
		return m.sendPaste(id, text)
	}
	return m.sendPart(id, text)
}

// sendPart shows text as an own message in conversation id and sends it.
func (m *model) sendPart(id, text string) tea.Cmd {
	m.seq++
	seq := m.seq
	m.add(id, line{kind: lineOwn, text: cleanText(text, true), seq: seq, state: statePending})
	m.conv(id).scroll = 0
	ctx, node := m.ctx, m.node
	m.sending++
	return func() tea.Msg {
		// No timeout: to a peer with a session, Send waits for room as
		// long as the link needs (the status bar shows it); it ends
		// with the session, or with the UI's context.
		msgID, err := node.Send(ctx, id, text)
		return sendResultMsg{peerID: id, seq: seq, id: msgID, err: err}
	}
}

// restore puts refused one-line text back into an empty input line, so it
// is not lost.
func (m *model) restore(text string) {
	if m.input.Value() == "" && !strings.Contains(text, "\n") {
		m.input.SetValue(text)
		m.input.CursorEnd()
	}
}

// handleSendResult records the node's answer on the message's line.
func (m *model) handleSendResult(r sendResultMsg) tea.Cmd {
	m.sending = max(0, m.sending-1)
	c := m.conv(r.peerID)
	for i := len(c.lines) - 1; i >= 0; i-- {
		l := &c.lines[i]
		if l.kind != lineOwn || l.seq != r.seq {
			continue
		}
		switch {
		case r.err != nil:
			l.state = stateFailed
		case m.delivered[r.id]:
			delete(m.delivered, r.id)
			l.id, l.state = r.id, stateDelivered
		case m.peers[r.peerID] != nil && m.peers[r.peerID].online:
			l.id, l.state = r.id, stateSent
		default:
			l.id, l.state = r.id, stateQueued
		}
		break
	}
	if r.err == nil {
		return nil
	}
	m.alert(r.peerID, "Not sent: "+errText(r.err))
	if errors.Is(r.err, p2p.ErrKeyChanged) {
		m.peer(r.peerID).keyChanged = true
		return m.refreshPeers()
	}
	return nil
}

// markDelivered sets the state of own message id; false if it is not shown.
func (m *model) markDelivered(peerID, id string) bool {
	c, ok := m.convs[peerID]
	if !ok || id == "" {
		return false
	}
	for i := len(c.lines) - 1; i >= 0; i-- {
		if l := &c.lines[i]; l.kind == lineOwn && l.id == id {
			l.state = stateDelivered
			return true
		}
	}
	return false
}

// handleResult reports the answer to a node call.
func (m *model) handleResult(r resultMsg) tea.Cmd {
	if r.err != nil {
		what := r.what
		if what == "connect" {
			what += " to " + shortID(r.peerID)
		}
		why := errText(r.err)
		if r.what == "connect" {
			why = p2p.DescribeDialError(r.err)
		}
		m.alert(r.conv, fmt.Sprintf("%s%s failed: %s", strings.ToUpper(what[:1]), what[1:], why))
		return m.refreshPeers()
	}
	if r.what == "trust-new-key" {
		if p, ok := m.peers[r.peerID]; ok {
			p.keyChanged, p.fp, p.newFP = false, r.fp, e2e.Fingerprint{}
		}
	}
	m.contactResult(r) // contacts.go
	if r.what == "verify" {
		if p, ok := m.peers[r.peerID]; ok {
			p.trust = p2p.TrustVerified
		}
	}
	if r.what == "connect" {
		// By now the session is up and the peer has told its name; a
		// connect to an invite may answer before the UI heard of the
		// session, and names the peer as the invite does (r.text).
		who := m.senderName(r.peerID)
		if _, known := m.peers[r.peerID]; !known && r.text != "" {
			who = r.text
		}
		r.text = "Connected to " + who + " (" + r.conn + ")."
	}
	m.system(r.conv, r.text)
	return m.refreshPeers()
}

// errText words the node's errors for people.
func errText(err error) string {
	switch {
	case errors.Is(err, p2p.ErrKeyChanged):
		return "the peer's key changed; compare it, then /trust-new-key"
	case errors.Is(err, p2p.ErrFingerprintMismatch):
		return "the fingerprint does not match the peer's key; do not trust this peer"
	case errors.Is(err, p2p.ErrUnknownPeer):
		return "unknown peer"
	case errors.Is(err, p2p.ErrTooLarge):
		return "message too large"
	case errors.Is(err, p2p.ErrBadAddress):
		return "bad address"
	case isNameError(err):
		return "a name is 1-32 printable characters"
	case errors.Is(err, p2p.ErrBlocked):
		return "you blocked this peer; /unblock it first"
	case errors.Is(err, p2p.ErrNothingToAccept):
		return "the key has not changed; nothing to accept"
	case errors.Is(err, p2p.ErrClosed):
		return "the node is shutting down"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	return cleanText(err.Error(), false)
}

// resolve finds the peer a user means, by the rules of [p2p.MatchPeer]
// (peer ID or its start or end, name, name~fingerprint, fingerprint
// prefix, start of a name), among the peers this screen knows.
func (m *model) resolve(arg string) (*peer, error) {
	infos := make([]p2p.PeerInfo, 0, len(m.order))
	for _, id := range m.order {
		p := m.peers[id]
		state := p2p.PeerOffline
		if p.online {
			state = p2p.PeerOnline
		}
		infos = append(infos, p2p.PeerInfo{PeerID: p.id, Name: p.shown(), Fingerprint: p.fp, State: state})
	}
	found, err := p2p.MatchPeer(infos, arg)
	var amb *p2p.AmbiguousPeerError
	switch {
	case errors.As(err, &amb):
		names := make([]string, len(amb.Candidates))
		for i, c := range amb.Candidates {
			names[i] = m.senderName(c.PeerID) + " (" + shortID(c.PeerID) + ")"
		}
		return nil, fmt.Errorf("%q matches several peers: %s; use more of the ID", cleanName(arg), strings.Join(names, ", "))
	case err != nil:
		why := strings.TrimPrefix(err.Error(), p2p.ErrUnknownPeer.Error()+": ")
		return nil, unknownPeerError(cleanText(why, false) + "; /peers lists them")
	}
	return m.peers[found.PeerID], nil
}

// unknownPeerError is resolve's answer when no peer matches: the line to
// show, still [p2p.ErrUnknownPeer] to errors.Is.
type unknownPeerError string

func (e unknownPeerError) Error() string { return string(e) }
func (e unknownPeerError) Unwrap() error { return p2p.ErrUnknownPeer }

// completion is the state of Tab cycling through candidates.
type completion struct {
	prefix string   // the line up to the completed word
	items  []string // candidates
	next   int
	shown  string // the line as completion left it
	paths  bool   // the candidates are paths (suggest.go)
}

// peerCommands take a peer as their first argument.
var peerCommands = map[string]bool{"msg": true, "verify": true, "trust-new-key": true, "block": true,
	"unblock": true, "forget": true, "label": true}

// pathCommands take a path as their argument.
var pathCommands = map[string]bool{"send": true}

// complete completes a command name, a peer argument or a path; repeated
// Tab cycles through the candidates. A path is listed in the command it
// returns (suggest.go).
func (m *model) complete() tea.Cmd {
	v := m.input.Value()
	if c := m.comp; c != nil && v == c.shown && len(c.items) > 0 {
		m.applyCompletion()
		return nil
	}
	m.comp = nil
	if !strings.HasPrefix(v, "/") {
		return nil
	}
	var c completion
	if cmd, arg, ok := strings.Cut(v[1:], " "); ok && pathCommands[strings.ToLower(cmd)] {
		return m.completePath(v, "/"+cmd+" ", strings.TrimLeft(arg, " "))
	} else if !ok {
		c.prefix = "/"
		for _, h := range commandHelp {
			if strings.HasPrefix(h.name, strings.ToLower(cmd)) {
				c.items = append(c.items, h.name+" ")
			}
		}
	} else if peerCommands[strings.ToLower(cmd)] && !strings.Contains(arg, " ") {
		c.prefix = "/" + cmd + " "
		for _, id := range m.order {
			name := m.senderName(id)
			if strings.HasPrefix(strings.ToLower(name), strings.ToLower(arg)) || (arg != "" && strings.HasPrefix(id, arg)) {
				if strings.Contains(name, " ") || len(id) > 8 && name == shortID(id) {
					// /msg splits at the first space; the ID's end
					// names the peer just as well.
					name = id[max(0, len(id)-8):]
				}
				c.items = append(c.items, name+" ")
			}
		}
		sort.Strings(c.items)
	}
	if len(c.items) == 0 {
		return nil
	}
	m.comp = &c
	m.applyCompletion()
	return nil
}

// applyCompletion puts the next candidate into the input line.
func (m *model) applyCompletion() {
	c := m.comp
	c.shown = c.prefix + c.items[c.next%len(c.items)]
	c.next++
	m.input.SetValue(c.shown)
	m.input.CursorEnd()
}
