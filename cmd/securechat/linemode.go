package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/alertlimit"
	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// lineMode is the plain line interface used until the full-screen UI lands:
// a typed line goes to the current peer, a line starting with "/" is a
// command. It prints remote strings only after p2p.Sanitize*, a second time
// here, because a terminal must never receive raw bytes from the network.
type lineMode struct {
	node  chatNode
	log   *slog.Logger
	dials *dialer

	hsLimit *alertlimit.Limiter // failed handshakes shown; the pump's alone

	mu      sync.Mutex // guards out and current
	out     io.Writer
	current string // peer ID of the current conversation
	// asked is the action /block or /forget waits to confirm: the next
	// line "y" or "yes" runs it, any other line drops it.
	asked func()

	files    lineFiles // file transfers (linemode_files.go)
	pasteDir string    // where a line too long for a message is written to go as a file; the command loop's alone
	// pasteTemp is the paste folder made under the system's temporary
	// one (no home), removed with what is in it at the end.
	pasteTemp string
}

const lineHelp = `Commands:
  /connect ADDR-OR-INVITE     dial a peer (address ends in /p2p/<peer-id>, or an invite)
  /invite                     print your invite (one line) to give to a friend
  /myid [all]                 your peer ID, fingerprint and invite (all: every address)
  /doctor                     why a friend cannot reach you: addresses, relays, punches
  /mailbox                    your mailboxes: reachable, messages waiting, space left
  /peers                      list known peers
  /msg PEER [text]            talk to PEER (name, peer ID or fingerprint); send text
  /send PATH                  offer the file at PATH to the current peer
  /accept [ID]                accept the latest file offer of the current peer (or by ID)
  /reject [ID]                refuse a file offer
  /cancel [ID]                stop a file transfer, either way
  /files                      list file transfers
  /verify [PEER]              show what to compare with PEER out of band
  /verify PEER FINGERPRINT    mark PEER verified after comparing
  /trust-new-key PEER FP      accept PEER's changed key FP (after checking it)
  /block PEER                 refuse PEER's connections from now on (asks first)
  /unblock PEER               undo /block
  /forget PEER                delete PEER and your history with it (asks first)
  /label PEER [NAME]          your own name for PEER (none: remove it)
  /nick NAME                  change your name; peers online see it at once
  /help                       this help
  /quit                       leave
Any other line is sent to the current peer; one over 64 KiB goes as a text file.
`

// runLineMode runs the line interface until /quit, end of input or ctx.
func runLineMode(ctx context.Context, n chatNode, cfg *config, stdin io.Reader, stdout io.Writer, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lm := &lineMode{node: n, log: log, out: stdout, hsLimit: alertlimit.New(alertlimit.BurstHuman)}
	lm.files.now = time.Now
	if !cfg.ephemeral && cfg.home != "" {
		lm.pasteDir = filepath.Join(cfg.home, "pastes")
	}
	lm.dials = newDialer(ctx, n, func(e any) {
		switch e := e.(type) {
		case connectedEvent:
			lm.printf("*** connected to %s (%s)\n", peerLabel(lm.peer(e.PeerID)), e.Conn)
		case errorEvent:
			lm.printf("*** could not connect to %s: %s\n", sanitizeName(e.Addr), e.Message)
		}
	})

	fp := n.Fingerprint()
	lm.printf("securechat: you are %s\n", n.Name())
	lm.printf("  peer ID:     %s\n  fingerprint: %s\n               (full: %s)\n", n.PeerID(), fp.Short(), fp)
	for _, a := range n.Addrs() {
		lm.printf("  listening:   %s\n", a)
	}
	lm.printf("Type /help for commands.\n")
	lm.showPendingOffers() // linemode_files.go

	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		lm.pump(n.Events()) // linemode_events.go
	}()
	for _, a := range cfg.connect {
		lm.dials.start(a, "")
	}

	lines := make(chan lineResult)
	go readLines(ctx, stdin, lines)
	err := lm.loop(ctx, lines)
	if lm.pasteTemp != "" {
		defer os.RemoveAll(lm.pasteTemp) // no home to resume from: of no use after this run
	}
	if cerr := shutdown(cancel, n, pumpDone, lm.dials, log); err == nil {
		err = cerr
	}
	return err
}

func (lm *lineMode) loop(ctx context.Context, lines <-chan lineResult) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case lr, ok := <-lines:
			if !ok {
				return nil
			}
			if lr.err != nil {
				lm.printf("*** line too long, ignored\n")
				continue
			}
			if lm.handle(ctx, strings.TrimSpace(string(lr.line))) {
				return nil
			}
		}
	}
}

// printf is the line interface's one way to the terminal. Whatever it
// prints passes [p2p.SanitizeText] as a whole: a remote string that some
// call site forgot to clean (a dial error quoting a listener's reply, an
// address from mDNS) still reaches the terminal without its escapes.
func (lm *lineMode) printf(format string, args ...any) {
	s := sanitizeText(fmt.Sprintf(format, args...))
	lm.mu.Lock()
	defer lm.mu.Unlock()
	io.WriteString(lm.out, s)
}

// handle runs one typed line; it reports whether it was /quit.
func (lm *lineMode) handle(ctx context.Context, line string) (quit bool) {
	if line == "" {
		return false
	}
	if lm.answer(line) { // a question asked by /block or /forget (linemode_contacts.go)
		return false
	}
	if !strings.HasPrefix(line, "/") {
		lm.sendToCurrent(ctx, line)
		return false
	}
	cmd, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	args := strings.Fields(rest)
	switch cmd {
	case "/quit", "/exit":
		return true
	case "/help":
		lm.printf("%s", lineHelp)
	case "/peers":
		lm.listPeers()
	case "/connect":
		if len(args) == 0 {
			lm.printf("usage: /connect MULTIADDR, INVITE or CONTACT\n")
			return false
		}
		t, err := parseConnectArg(rest) // an invite pasted over lines may hold spaces
		if err != nil {
			lm.printf("*** %v\n", err)
			return false
		}
		lm.printf("*** connecting to %s ...\n", t)
		lm.dials.start(t, "")
	case "/send", "/accept", "/reject", "/cancel", "/files":
		lm.fileCommand(ctx, cmd, rest) // linemode_files.go
	case "/invite", "/myid", "/doctor", "/mailbox":
		lm.reachCommand(ctx, cmd, args) // linemode_invite.go
	case "/msg":
		who, text, _ := strings.Cut(rest, " ")
		if who == "" {
			lm.printf("usage: /msg PEER [text]\n")
			return false
		}
		p, err := lm.findPeer(who)
		if err != nil {
			lm.printf("*** %v\n", err)
			return false
		}
		lm.mu.Lock()
		lm.current = p.PeerID
		lm.mu.Unlock()
		lm.printf("*** now talking to %s\n", peerLabel(p))
		lm.showHistory(p)
		if text = strings.TrimSpace(text); text != "" {
			lm.send(ctx, p, text)
		}
	case "/verify":
		lm.verify(args)
	case "/trust-new-key":
		lm.trustNewKey(args)
	case "/block":
		lm.block(args) // linemode_block.go
	case "/unblock", "/forget", "/label", "/nick":
		lm.contacts(cmd, rest, args) // linemode_contacts.go
	default:
		lm.printf("*** unknown command %s; /help lists them\n", sanitizeName(cmd))
	}
	return false
}

// sendToCurrent sends a typed line to the current peer, or to the only
// peer there is.
func (lm *lineMode) sendToCurrent(ctx context.Context, text string) {
	if p, ok := lm.currentPeer(); ok {
		lm.send(ctx, p, text)
	}
}

// currentPeer is the peer typed lines go to: the current one, or the only
// peer there is; if there is none it says why.
func (lm *lineMode) currentPeer() (p2p.PeerInfo, bool) {
	lm.mu.Lock()
	cur := lm.current
	lm.mu.Unlock()
	peers := lm.node.Peers()
	if cur == "" && len(peers) == 1 {
		cur = peers[0].PeerID
	}
	if cur == "" {
		if len(peers) == 0 {
			lm.printf("*** no peers yet: /connect MULTIADDR, or wait for one on the LAN\n")
		} else {
			lm.printf("*** several peers: pick one with /msg PEER (see /peers)\n")
		}
		return p2p.PeerInfo{}, false
	}
	for _, p := range peers {
		if p.PeerID == cur {
			return p, true
		}
	}
	lm.printf("*** the current peer is gone; pick one with /msg PEER\n")
	return p2p.PeerInfo{}, false
}

// sendingNotice is how long a Send may wait for room before line mode says
// that it is sending.
const sendingNotice = 300 * time.Millisecond

func (lm *lineMode) send(ctx context.Context, p p2p.PeerInfo, text string) {
	if len(text) > p2p.MaxMessageText {
		// Not lost: a text file instead (linemode_files.go).
		lm.sendPaste(ctx, p, text)
		return
	}
	// Backpressure: to a peer with a session, a Send waits while the send
	// window is full (p2p.Node.Send), and meanwhile no further line is
	// read. Say so when the wait is noticeable, rather than seem stuck or
	// refuse; the wait ends with the session or with ctx (a signal).
	if p.State == p2p.PeerOnline {
		quick, cancel := context.WithTimeout(ctx, sendingNotice)
		err := lm.node.WaitSend(quick, p.PeerID, len(text))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			lm.printf("*** sending to %s: waiting for the link to catch up...\n", peerLabel(p))
		}
	}
	if _, err := lm.node.Send(ctx, p.PeerID, text); err != nil {
		if errors.Is(err, p2p.ErrKeyChanged) {
			lm.printf("!!! SECURITY: %s has a new key; not sent. Compare it out of band, then /trust-new-key %s NEW-FINGERPRINT\n", peerLabel(p), p.PeerID)
			return
		}
		lm.printf("*** not sent: %s\n", oneLine(err.Error()))
		return
	}
	if p.State != p2p.PeerOnline {
		lm.printf("*** %s is offline; the message waits in the outbox\n", peerLabel(p))
	}
}

func (lm *lineMode) listPeers() {
	peers := lm.node.Peers()
	if len(peers) == 0 {
		lm.printf("*** no known peers\n")
		return
	}
	lm.mu.Lock()
	cur := lm.current
	lm.mu.Unlock()
	for _, p := range peers {
		mark := " "
		if p.PeerID == cur {
			mark = ">"
		}
		warn := ""
		if p.KeyChanged {
			warn = "  !!! KEY CHANGED"
		}
		if p.Blocked {
			warn += "  [blocked]"
		}
		lm.printf("%s %s  %s  %s  %s%s\n", mark, peerLabel(p), p.PeerID, p.State, p.Trust, warn)
	}
}

// findPeer finds a known peer by the rules of [p2p.MatchPeer]: peer ID or
// its start or end, name, name~fingerprint, fingerprint prefix, start of a
// name.
func (lm *lineMode) findPeer(who string) (p2p.PeerInfo, error) {
	p, err := p2p.MatchPeer(shownPeers(lm.node.Peers()), who)
	if err != nil {
		return p2p.PeerInfo{}, errors.New(strings.TrimPrefix(oneLine(err.Error()), "p2p: ") + " (see /peers)")
	}
	return p, nil
}

// currentOr returns the peer args[0] names, else the current one.
func (lm *lineMode) currentOr(args []string) (p2p.PeerInfo, error) {
	if len(args) > 0 {
		return lm.findPeer(args[0])
	}
	lm.mu.Lock()
	cur := lm.current
	lm.mu.Unlock()
	peers := lm.node.Peers()
	if cur == "" && len(peers) == 1 {
		return peers[0], nil
	}
	if cur == "" {
		return p2p.PeerInfo{}, errors.New("which peer? name one")
	}
	return lm.findPeer(cur)
}

func (lm *lineMode) verify(args []string) {
	p, err := lm.currentOr(args)
	if err != nil {
		lm.printf("*** %v\n", err)
		return
	}
	if len(args) >= 2 {
		fp, err := parseFingerprintLoose(strings.Join(args[1:], ""))
		if err != nil {
			lm.printf("*** %v\n", err)
			return
		}
		if err := lm.node.Verify(p.PeerID, fp); err != nil {
			if errors.Is(err, p2p.ErrFingerprintMismatch) {
				lm.printf("!!! SECURITY: that fingerprint is NOT %s's key. Do not trust this peer.\n", peerLabel(p))
				return
			}
			lm.printf("*** %s\n", oneLine(err.Error()))
			return
		}
		lm.printf("*** %s is now verified\n", peerLabel(p))
		return
	}
	if num, err := lm.node.SafetyNumber(p.PeerID); err == nil && len(num) == 60 {
		lm.printf("Safety number with %s:\n  %s\n", peerLabel(p), e2e.FormatSafetyNumber(num))
		lm.printf("Compare it with %s out of band (in person, by voice); both ends show the same digits.\n", sanitizeName(p.Name))
	}
	lm.printf("Your fingerprint:  %s\nTheir fingerprint: %s\n", lm.node.Fingerprint(), p.Fingerprint)
	lm.printf("If %s reads you the same fingerprint, type: /verify %s %s\n", sanitizeName(p.Name), p.PeerID, p.Fingerprint)
}

func (lm *lineMode) trustNewKey(args []string) {
	if len(args) == 0 {
		lm.printf("usage: /trust-new-key PEER NEW-FINGERPRINT\n")
		return
	}
	p, err := lm.findPeer(args[0])
	if err != nil {
		lm.printf("*** %v\n", err)
		return
	}
	// The new fingerprint must be typed (pasted) by the user: accepting a
	// changed key is exactly the moment to compare it out of band, and the
	// node lists only the pinned (old) one.
	if len(args) < 2 {
		lm.printf("*** compare %s's NEW fingerprint (in the alert) out of band, then: /trust-new-key %s NEW-FINGERPRINT\n", peerLabel(p), p.PeerID)
		return
	}
	fp, err := parseFingerprintLoose(strings.Join(args[1:], ""))
	if err != nil {
		lm.printf("*** %v\n", err)
		return
	}
	if err := lm.node.TrustNewKey(p.PeerID, fp); err != nil {
		lm.printf("*** %s\n", oneLine(err.Error()))
		return
	}
	lm.printf("*** accepted the new key of %s: %s\n", peerLabel(p), fp)
}

// event prints one node event.
func (lm *lineMode) event(ev p2p.Event) {
	if lm.fileEvent(ev) { // linemode_files.go
		return
	}
	switch e := ev.(type) {
	case p2p.MessageReceived:
		p := lm.peer(e.PeerID)
		text := strings.ReplaceAll(sanitizeText(e.Text), "\n", "\n        ")
		lm.printf("[%s] %s: %s\n", e.SentAt.Local().Format("15:04"), peerLabel(p), text)
	case p2p.SessionUp:
		p := p2p.PeerInfo{PeerID: e.PeerID, Name: e.Name, Fingerprint: e.Fingerprint}
		lm.printf("*** session with %s up (%s)\n", peerLabel(p), e.Trust)
		switch {
		case e.Stranger:
			lm.printf("*** %s is a stranger (it connected to you): it becomes a contact once you write to it or /verify it\n", e.PeerID)
		case e.Trust == p2p.TrustNew:
			lm.printf("*** new contact: compare fingerprints with /verify %s\n", e.PeerID)
		}
	case p2p.SessionDown:
		lm.printf("*** session with %s down (%s)\n", peerLabel(lm.peer(e.PeerID)), sanitizeName(e.Reason))
	case p2p.PeerFound:
		lm.printf("*** found %s via %s\n", e.PeerID, sanitizeName(e.Via))
	case p2p.Delivered:
		lm.printf("*** delivered to %s\n", peerLabel(lm.peer(e.PeerID)))
	case p2p.Deposited:
		lm.printf("*** left in the mailbox of %s\n", peerLabel(lm.peer(e.PeerID)))
	case p2p.Alert:
		if e.Kind == p2p.AlertHandshakeFailed {
			lm.handshakeFailed(e) // linemode_events.go: rate-limited
			return
		}
		what := sanitizeName(e.Kind)
		if e.Kind == p2p.AlertKeyChanged {
			what = "key changed"
		}
		lm.printf("!!! SECURITY: %s for %s: %s\n", what, peerLabel(lm.peer(e.PeerID)), sanitizeText(e.Message))
		if e.Kind == p2p.AlertKeyChanged {
			lm.printf("!!! Nothing is sent to or accepted from this peer until you compare the new fingerprint out of band; then /trust-new-key %s NEW-FINGERPRINT\n", e.PeerID)
		}
	case p2p.DialFailed:
		lm.dials.dialFailed(e)
	case p2p.NameChanged:
		p := lm.peer(e.PeerID)
		p.Name = "" // the line names the peer by label or ID, then the new name
		lm.printf("*** %s now calls itself %s\n", peerLabel(p), sanitizeName(e.Name))
	}
}

// peer returns what is known of peerID (at least the ID).
func (lm *lineMode) peer(peerID string) p2p.PeerInfo {
	for _, p := range lm.node.Peers() {
		if p.PeerID == peerID {
			return p
		}
	}
	return p2p.PeerInfo{PeerID: peerID}
}

// peerLabel is "name (shortfp)", the user's label in place of the name
// where there is one, falling back to the peer ID.
func peerLabel(p p2p.PeerInfo) string {
	name := sanitizeName(p.Name)
	if p.Label != "" {
		name = sanitizeName(p.Label)
	}
	if name == "" {
		name = p.PeerID
	}
	if p.Fingerprint.IsZero() {
		return name
	}
	return name + " (" + p.Fingerprint.Short() + ")"
}

func sanitizeName(s string) string { return p2p.SanitizeName(s) }
func sanitizeText(s string) string { return p2p.SanitizeText(s) }
