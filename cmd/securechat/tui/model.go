package tui

import (
	"context"
	"runtime/debug"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/securechat/securechat/cmd/securechat/internal/alertlimit"
	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// Limits of what the interface keeps in memory.
const (
	// maxLines is how many lines a conversation keeps; older ones scroll
	// away for good (the node keeps the history).
	maxLines = 2000
	// maxHistory is how many input lines Up and Down recall.
	maxHistory = 200
	// pasteConfirmLines is the paste size above which sending asks first.
	pasteConfirmLines = 20
)

// statusConv is the key of the status conversation, where output that
// belongs to no peer goes.
const statusConv = ""

// peer is what the interface knows of one peer.
type peer struct {
	id         string
	name       string          // the name the peer announced, cleaned
	label      string          // the user's own name for it, if any (contacts.go)
	fp         e2e.Fingerprint // the pinned fingerprint
	newFP      e2e.Fingerprint // the changed key awaiting /trust-new-key, if known
	trust      p2p.Trust
	online     bool
	conn       string // p2p.ConnDirect or p2p.ConnRelayed while online
	keyChanged bool
	blocked    bool // the node refuses it (p2p.PeerInfo.Blocked)
	stranger   bool // it only connected: no contact until the user writes to it
}

// shown is the name this screen gives the peer: the user's label if there
// is one, else the name it announced.
func (p *peer) shown() string {
	if p.label != "" {
		return p.label
	}
	return p.name
}

// verified reports whether the user has compared this peer's fingerprint.
func (p *peer) verified() bool { return p.trust == p2p.TrustVerified && !p.keyChanged }

// lineKind tells how a conversation line is drawn.
type lineKind int

const (
	lineIn     lineKind = iota // a message from the peer
	lineOwn                    // a message from us
	lineSystem                 // a join, leave or command output
	lineAlert                  // a security event
	lineRaw                    // copyable text: no stamp, no prefix (invite.go)
)

// sendState is the delivery state of an own message.
type sendState int

const (
	statePending   sendState = iota // handed to the node, no answer yet
	stateQueued                     // accepted while the peer is offline
	stateSent                       // accepted while a session is up
	stateDeposited                  // sealed in the peer's mailbox, no receipt yet
	stateDelivered                  // the peer confirmed receipt
	stateFailed                     // the node refused it
)

// line is one entry of a conversation.
type line struct {
	kind lineKind
	at   time.Time
	from string // sender peer ID of lineIn
	text string // already cleaned
	id   string // message ID, once known
	// sentAt is the sender's claimed time of a received message, shown
	// when it is far from at (see [sentNote]).
	sentAt time.Time
	seq    int // local sequence number of an own message
	state  sendState
	header bool // the "Earlier messages" line over the history shown
}

// conversation is the scrollback with one peer, or the status conversation.
type conversation struct {
	lines  []line
	scroll int // screen rows scrolled up from the bottom
	unread int
	older  olderHistory // where scrolling back reads on (scrollback.go)
}

// model is the Bubble Tea model. It is used through a pointer: Update
// changes it in place.
type model struct {
	ctx    context.Context
	node   Node
	events <-chan p2p.Event
	opts   Options
	now    func() time.Time
	loc    *time.Location

	width, height int
	focused       bool

	name    string
	peerID  string
	fp      e2e.Fingerprint
	addrs   []string
	ready   bool
	peers   map[string]*peer
	order   []string // peer IDs in the order they were first seen
	convs   map[string]*conversation
	current string // peer ID of the shown conversation, or statusConv

	input     textinput.Model
	history   []string
	histPos   int
	draft     string
	comp      *completion
	modal     *modal
	seq       int
	delivered map[string]bool // receipts that came before Send returned
	// historyDue lists conversations opened since the last history load.
	historyDue []string
	hsLimit    *alertlimit.Limiter // failed handshakes shown (alerts.go)
	hsFailed   int                 // failed handshakes since the start
	err        error               // an internal error (panics.go) Run returns
	notified   map[string]bool     // peers notified of while unfocused (notify.go)
	// transfers are the file transfers on screen, by transferKey
	// (files.go); xferSeq numbers them, xferLoading marks a refresh from
	// the node on its way.
	transfers   map[string]*transfer
	xferSeq     int
	xferLoading bool
	// pasteTemp is the paste folder made under the system's temporary
	// one (no Options.PasteDir), removed with what is in it when Run
	// ends.
	pasteTemp string
	quitting  bool
	// sending counts the Sends handed to the node and not yet answered:
	// to a peer whose session is up a Send waits while the link is
	// behind (backpressure), and the status bar says "sending N..."
	// meanwhile.
	sending int
}

// newModel builds the model. now and loc are injected so tests are
// deterministic.
func newModel(ctx context.Context, node Node, events <-chan p2p.Event, opts Options, now func() time.Time, loc *time.Location) *model {
	in := textinput.New()
	in.Prompt = ""
	in.SetVirtualCursor(false)
	in.CharLimit = p2p.MaxMessageText
	// Keys the interface uses itself, and a clipboard read it must not do.
	in.KeyMap.Paste = key.NewBinding(key.WithDisabled())
	in.KeyMap.NextSuggestion = key.NewBinding(key.WithDisabled())
	in.KeyMap.PrevSuggestion = key.NewBinding(key.WithDisabled())
	in.KeyMap.AcceptSuggestion = key.NewBinding(key.WithDisabled())
	_ = in.Focus() // the blink command is for the virtual cursor, which is off
	m := &model{
		ctx:       ctx,
		node:      node,
		events:    events,
		opts:      opts,
		now:       now,
		loc:       loc,
		width:     80,
		height:    24,
		focused:   true,
		name:      cleanName(opts.Name),
		peerID:    node.PeerID(),
		fp:        node.Fingerprint(),
		addrs:     node.Addrs(),
		peers:     map[string]*peer{},
		convs:     map[string]*conversation{statusConv: {}},
		input:     in,
		delivered: map[string]bool{},
		hsLimit:   alertlimit.New(alertlimit.BurstHuman),
	}
	m.system(statusConv, "Welcome to securechat. Type /help for commands; Ctrl+N/Ctrl+P switch conversations.")
	return m
}

// Init starts the event pump and loads the known peers.
func (m *model) Init() tea.Cmd {
	cmds := []tea.Cmd{guard(waitEvent(m.ctx, m.events)), guard(m.refreshPeers()), guard(m.loadTransfers(""))}
	// --connect addresses are dialled like a typed /connect, so their
	// progress and failures show in the status conversation.
	for _, a := range m.opts.Connect {
		cmds = append(cmds, guard(m.connect(a)))
	}
	return tea.Batch(cmds...)
}

// Update handles one message.
func (m *model) Update(msg tea.Msg) (_ tea.Model, cmd tea.Cmd) {
	defer func() {
		if r := recover(); r != nil {
			cmd = m.crash("update", r, debug.Stack()) // panics.go
		}
	}()
	if p, ok := msg.(panicMsg); ok {
		return m, m.crash("command", p.r, p.stack)
	}
	if m.err != nil {
		return m, tea.Quit // a View that panicked
	}
	cmd = m.update(msg)
	if len(m.historyDue) > 0 {
		cmd = tea.Batch(cmd, m.loadHistory())
	}
	// The prompt names the conversation, so its width can change with any
	// message, not only with a resize.
	m.input.SetWidth(max(1, m.width-ansi.StringWidth(m.prompt())-1))
	return m, guard(cmd)
}

// update does the work of Update.
func (m *model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return nil
	case tea.FocusMsg:
		m.focused = true
		clear(m.notified) // the next unfocused message notifies again
		return nil
	case tea.BlurMsg:
		m.focused = false
		return nil
	case tea.KeyPressMsg:
		return m.handleKey(msg)
	case tea.PasteMsg:
		return m.handlePaste(msg.Content)
	case eventMsg:
		cmd := m.handleEvent(msg.ev)
		return tea.Batch(cmd, waitEvent(m.ctx, m.events))
	case eventsClosedMsg:
		m.quitting = true
		return tea.Quit
	case peersMsg:
		m.mergePeers(msg.peers)
		return nil
	case sendResultMsg:
		return m.handleSendResult(msg)
	case resultMsg:
		return m.handleResult(msg)
	case mailboxMsg:
		m.showMailboxes(msg) // mailbox.go
		return nil
	case historyMsg:
		m.mergeHistory(msg)
		return nil
	case olderMsg:
		m.mergeOlder(msg)
		return nil
	case pathsMsg:
		m.applyPaths(msg) // suggest.go
		return nil
	case transfersMsg:
		m.mergeTransfers(msg) // files.go
		return nil
	case fileSentMsg:
		return m.handleFileSent(msg)
	case fileResultMsg:
		return m.handleFileResult(msg)
	}
	return nil
}

// handleKey handles a key press: modal answers first, then the global
// bindings, then the input line.
func (m *model) handleKey(k tea.KeyPressMsg) tea.Cmd {
	if m.modal != nil {
		return m.modalKey(k)
	}
	s := k.String()
	if s != "tab" {
		m.comp = nil
	}
	switch s {
	case "ctrl+c":
		m.quitting = true
		return tea.Quit
	case "ctrl+n", "alt+right":
		m.cycle(1)
		return nil
	case "ctrl+p", "alt+left":
		m.cycle(-1)
		return nil
	case "ctrl+o":
		return m.reviewOffer() // files.go
	case "pgup":
		return m.pageUp()
	case "pgdown":
		m.scroll(-(m.paneHeight() - 1))
		return nil
	case "esc":
		m.conv(m.current).scroll = 0
		return nil
	case "up":
		m.recall(-1)
		return nil
	case "down":
		m.recall(1)
		return nil
	case "tab":
		return m.complete()
	case "enter":
		line := m.input.Value()
		m.input.Reset()
		return m.submit(line)
	}
	if len(s) == 5 && strings.HasPrefix(s, "alt+") && s[4] >= '0' && s[4] <= '9' {
		m.jump(int(s[4] - '0'))
		return nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(k)
	return cmd
}

// submit handles an entered line: a command, or a message to the current
// conversation.
func (m *model) submit(text string) tea.Cmd {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	m.remember(text)
	if strings.HasPrefix(text, "/") && !strings.HasPrefix(text, "//") {
		return m.command(text)
	}
	// "//" escapes a message that starts with a slash.
	text = strings.TrimPrefix(text, "/")
	return m.sendText(m.current, text)
}

// handlePaste sends a multi-line bracketed paste as one message, asking
// first above [pasteConfirmLines] lines; a one-line paste goes into the
// input line.
func (m *model) handlePaste(content string) tea.Cmd {
	content = strings.ReplaceAll(content, "\r\n", "\n")
	content = strings.ReplaceAll(content, "\r", "\n")
	content = strings.TrimRight(content, "\n")
	if m.modal != nil || content == "" {
		return nil
	}
	if v := m.input.Value(); p2p.IsInvite(content) && (v == "" || strings.HasPrefix(strings.ToLower(v), "/connect")) {
		// An invite copied over several screen rows: one line again, to
		// /connect, never sent as a message.
		content = p2p.CleanInvite(content)
	}
	if len(m.input.Value())+len(content) > p2p.MaxMessageText {
		// Too long for a message: offered as a file, after asking.
		text := m.input.Value() + content
		m.input.Reset()
		m.modal = pasteModal(text, strings.Count(text, "\n")+1, m.displayName(m.current))
		return nil
	}
	if !strings.Contains(content, "\n") {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(tea.PasteMsg{Content: content})
		return cmd
	}
	text := m.input.Value() + content
	m.input.Reset()
	if n := strings.Count(text, "\n") + 1; n > pasteConfirmLines {
		m.modal = pasteModal(text, n, m.displayName(m.current))
		return nil
	}
	return m.sendText(m.current, text)
}

// conv returns the conversation with id, creating it.
func (m *model) conv(id string) *conversation {
	c, ok := m.convs[id]
	if !ok {
		c = &conversation{}
		m.convs[id] = c
	}
	return c
}

// add appends a line to conversation id and counts it unread there if that
// conversation is not on screen.
func (m *model) add(id string, l line) {
	// The one way onto the message pane: every line is cleaned here, so a
	// remote string that a caller forgot to clean (an error quoting a
	// listener's reply, a pasted address) never reaches the terminal with
	// its escapes. Cleaning is idempotent and cheap on clean text.
	l.text = cleanText(l.text, true)
	c := m.conv(id)
	if l.at.IsZero() {
		l.at = m.now()
	}
	if c.scroll > 0 {
		// Someone reading back keeps their place: the rows the new line
		// takes count as more below.
		prev := m.now()
		if n := len(c.lines); n > 0 {
			prev = c.lines[n-1].at
		}
		c.scroll += len(m.lineRows(l, prev, m.paneWidth()))
	}
	c.lines = append(c.lines, l)
	if len(c.lines) > maxLines {
		c.lines = append(c.lines[:0:0], c.lines[len(c.lines)-maxLines:]...)
		c.older.done = true // what scrolled away stays in the node
	}
	if id != m.current && l.kind == lineIn {
		c.unread++
	}
}

// system adds a system line to conversation id.
func (m *model) system(id, text string) {
	m.add(id, line{kind: lineSystem, text: text})
}

// alert adds an alert line to conversation id.
func (m *model) alert(id, text string) {
	m.add(id, line{kind: lineAlert, text: text})
}

// alertPeer adds an alert line to the conversation with a peer, and to the
// current one too if that is another, so the user sees it where they are.
func (m *model) alertPeer(id, text string) {
	m.alert(id, text)
	if m.current != id {
		m.alert(m.current, text)
	}
}

// convIDs lists the conversations in switching order: status, then peers.
func (m *model) convIDs() []string {
	return append([]string{statusConv}, m.order...)
}

// show makes conversation id the current one and clears its unread count.
func (m *model) show(id string) {
	m.current = id
	m.conv(id).unread = 0
}

// cycle switches to the next (+1) or previous (-1) conversation.
func (m *model) cycle(dir int) {
	ids := m.convIDs()
	i := 0
	for j, id := range ids {
		if id == m.current {
			i = j
		}
	}
	m.show(ids[(i+dir+len(ids))%len(ids)])
}

// jump switches to conversation n: 0 is status, 1.. the peer list.
func (m *model) jump(n int) {
	if ids := m.convIDs(); n < len(ids) {
		m.show(ids[n])
	}
}

// scroll moves the current conversation up (positive) or down by rows.
// The view clamps it to the content.
func (m *model) scroll(rows int) {
	c := m.conv(m.current)
	c.scroll = max(0, c.scroll+rows)
}

// remember adds an entered line to the input history.
func (m *model) remember(text string) {
	if n := len(m.history); n == 0 || m.history[n-1] != text {
		m.history = append(m.history, text)
		if len(m.history) > maxHistory {
			m.history = m.history[1:]
		}
	}
	m.histPos = len(m.history)
	m.draft = ""
}

// recall moves through the input history; past the newest entry it brings
// back what was being typed.
func (m *model) recall(dir int) {
	pos := m.histPos + dir
	if pos < 0 || pos > len(m.history) {
		return
	}
	if m.histPos == len(m.history) {
		m.draft = m.input.Value()
	}
	m.histPos = pos
	if pos == len(m.history) {
		m.input.SetValue(m.draft)
	} else {
		m.input.SetValue(m.history[pos])
	}
	m.input.CursorEnd()
}
