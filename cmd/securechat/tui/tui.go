// Package tui is securechat's full-screen terminal interface: a message pane
// with one conversation per peer, a peer list, an input line with commands,
// and a status bar, built on Bubble Tea.
//
// The package knows nothing of libp2p. It reads the node's [p2p.Event]s and
// calls the few methods of [Node]; every call that may block runs as a
// [tea.Cmd], outside Update, so a slow dial never freezes the screen.
//
// Everything a remote peer controls (names, message text, alert text) is
// stripped of escape sequences and control characters before it is drawn,
// and a peer's colour comes from its peer ID, not from the name it chose.
//
// A line's time is when it arrived here, which keeps a conversation in the
// order things happened; the sender's claimed time is shown beside a
// received message only when it is more than a couple of minutes off (a
// message that waited in an outbox, a wrong clock). Messages loaded from
// the node's history carry only the sender's time, and show it.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// Node is what the interface needs from a chat node; *p2p.Node satisfies
// it. Every call but PeerID, Fingerprint and Addrs may block on the network
// or the store, and is only ever made from a [tea.Cmd].
type Node interface {
	Connect(ctx context.Context, addr multiaddr.Multiaddr) (p2p.Connected, error)
	// ConnectInvite dials the peer an invite names, pinning its
	// fingerprint first (see [p2p.Node.ConnectInvite]).
	ConnectInvite(ctx context.Context, invite string) (p2p.Connected, error)
	// ConnectPeer dials a known contact, named as [p2p.MatchPeer] reads
	// names, at its stored addresses (see [p2p.Node.ConnectPeer]).
	ConnectPeer(ctx context.Context, query string) (p2p.Connected, error)
	// Invite returns this node's invite, one line.
	Invite() (string, error)
	// Diagnostics is what /doctor shows.
	Diagnostics() p2p.Diagnostics
	// Mailboxes asks the node's own mailboxes for their status (/mailbox).
	Mailboxes(ctx context.Context) []p2p.MailboxStatus
	Send(ctx context.Context, to, text string) (string, error)
	Peers() []p2p.PeerInfo
	Verify(peerID string, fp e2e.Fingerprint) error
	TrustNewKey(peerID string, fp e2e.Fingerprint) error
	// SafetyNumber returns the 60 digits /verify shows, also for a contact
	// that is offline ([p2p.ErrNoSession] until a session showed its keys).
	SafetyNumber(peerID string) (string, error)
	Block(peerID string) error
	// Unblock undoes Block.
	Unblock(peerID string) error
	// Forget deletes a contact with its history ([p2p.Node.Forget]).
	Forget(peerID string) error
	// SetLabel sets (or with "" removes) the user's own name for a
	// contact.
	SetLabel(peerID, label string) error
	// SetName changes this node's own name, saves it and announces it to
	// the peers in session.
	SetName(name string) error
	// Name is this node's own name.
	Name() string
	// History returns the stored conversation, oldest first.
	History(peerID string, limit int) ([]p2p.HistoryEntry, error)
	// HistoryBefore returns the limit messages before the one whose Seq
	// is before, oldest first: the next page when scrolling back.
	HistoryBefore(peerID string, before uint64, limit int) ([]p2p.HistoryEntry, error)
	PeerID() string
	Fingerprint() e2e.Fingerprint
	Addrs() []string
	// SendFile offers the file at path to a peer; it reads the whole file
	// for its hash first (see [p2p.Node.SendFile]).
	SendFile(ctx context.Context, to, path string) (peerID, fileID string, err error)
	// AcceptFile accepts an offer; path "" saves it under the downloads
	// folder.
	AcceptFile(fileID, path string) error
	// RejectFile refuses an offer or cancels a transfer either way.
	RejectFile(fileID string) error
	// Transfers lists the transfers that have not ended.
	Transfers() []p2p.Transfer
}

// Options configure [Run].
type Options struct {
	// Name is this node's nickname, shown in the status bar and on own
	// messages.
	Name string
	// MDNS tells the status bar whether LAN discovery is on.
	MDNS bool
	// Bell rings the terminal bell when a message arrives while the
	// terminal does not have focus.
	Bell bool
	// Notify asks the terminal for a desktop notification, naming only
	// the sender, when a message arrives while it does not have focus
	// ([DetectNotify] picks the style).
	Notify NotifyStyle
	// InTmux wraps notifications for tmux's passthrough.
	InTmux bool
	// In and Out are the terminal. Nil means the process's stdin and
	// stdout.
	In  io.Reader
	Out io.Writer
	// PasteDir is where a paste too long for a message is written, mode
	// 0600, before it is offered as a file; "" means a private folder
	// made under the system's temporary one.
	PasteDir string
	// Connect lists multiaddrs to dial at start (the --connect flag).
	Connect []string
	// Log receives the stack of a panic in the interface; nil logs
	// nothing. It must not write to the terminal.
	Log *slog.Logger
}

// Run shows the interface until the user quits or ctx ends. It returns nil on
// /quit, Ctrl+C, SIGINT and when ctx is cancelled, and after the node closes
// events. The caller still owns node and closes it after Run returns.
func Run(ctx context.Context, node Node, events <-chan p2p.Event, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the event pump and any command still in flight
	m := newModel(ctx, node, events, opts, time.Now, time.Local)
	popts := []tea.ProgramOption{tea.WithContext(ctx)}
	if opts.In != nil {
		popts = append(popts, tea.WithInput(opts.In))
	}
	if opts.Out != nil {
		popts = append(popts, tea.WithOutput(opts.Out))
	}
	_, err := tea.NewProgram(m, popts...).Run()
	if m.pasteTemp != "" {
		// Without a home to resume from, a paste file has no use
		// once this interface is gone.
		os.RemoveAll(m.pasteTemp)
	}
	if m.err != nil {
		return m.err // a panic, logged (panics.go)
	}
	switch {
	case err == nil, errors.Is(err, tea.ErrInterrupted):
		return nil
	case errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil && !errors.Is(err, tea.ErrProgramPanic):
		return nil
	}
	return fmt.Errorf("terminal ui: %w", err)
}

// eventMsg carries one node event into Update.
type eventMsg struct{ ev p2p.Event }

// eventsClosedMsg says the node closed its event channel.
type eventsClosedMsg struct{}

// waitEvent reads the next node event. Update asks for the next one only
// after handling this one, so events keep their order.
func waitEvent(ctx context.Context, events <-chan p2p.Event) tea.Cmd {
	if events == nil {
		return nil
	}
	return func() tea.Msg {
		select {
		case ev, ok := <-events:
			if !ok {
				return eventsClosedMsg{}
			}
			return eventMsg{ev}
		case <-ctx.Done():
			return nil
		}
	}
}
