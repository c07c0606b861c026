package main

import (
	"context"
	"io"
	"os"

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
func runTUI(ctx context.Context, n chatNode, cfg *config, in, out *os.File) error {
	opts := tui.Options{Name: n.Name(), MDNS: cfg.mdns, Bell: cfg.bell, In: in, Out: out}
	for _, a := range cfg.connect {
		opts.Connect = append(opts.Connect, a.String())
	}
	err := tui.Run(ctx, n, n.Events(), opts)
	closeNode(n, closeTimeout)
	return err
}
