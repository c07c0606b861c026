package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/term"

	"github.com/securechat/securechat/cmd/securechat/tui"
)

// terminal reports whether both stdin and stdout are terminals, and returns
// them as files: the full-screen UI needs the real descriptors to switch the
// terminal to raw mode. Pipes and files get the line interface instead.
func terminal(stdin io.Reader, stdout io.Writer) (*os.File, *os.File, bool) {
	in, ok1 := stdin.(*os.File)
	out, ok2 := stdout.(*os.File)
	if !ok1 || !ok2 || !term.IsTerminal(int(in.Fd())) || !term.IsTerminal(int(out.Fd())) {
		return nil, nil, false
	}
	return in, out, true
}

// runTUI shows the full-screen terminal UI until the user quits. It is the
// only reader of the node's events; the caller closes the node afterwards.
func runTUI(ctx context.Context, n chatNode, cfg *config, in, out *os.File, log *slog.Logger) error {
	opts := tui.Options{Name: n.Name(), MDNS: cfg.mdns, Bell: cfg.bell, In: in, Out: out, Log: log}
	if !cfg.ephemeral {
		// A paste too long for a message is kept here until it is sent;
		// --ephemeral writes nothing to the home, so it uses a folder
		// under the system's temporary one instead.
		opts.PasteDir = filepath.Join(cfg.home, "pastes")
	}
	if cfg.notify {
		opts.Notify, opts.InTmux = tui.DetectNotify(os.Getenv), os.Getenv("TMUX") != ""
	}
	for _, a := range cfg.connect {
		opts.Connect = append(opts.Connect, a.arg())
	}
	err := tui.Run(ctx, n, n.Events(), opts)
	// Run reads no more events: keep them drained while the node closes,
	// or a node blocked on a full event buffer could stall the close.
	go func() {
		for range n.Events() {
		}
	}()
	if cerr := closeNode(n, closeTimeout, log); err == nil {
		err = cerr
	}
	return err
}
