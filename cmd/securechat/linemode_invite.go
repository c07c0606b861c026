package main

import (
	"context"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/doctor"
	"github.com/securechat/securechat/cmd/securechat/tui"
)

// reachCommand runs the line interface's /invite, /myid [all], /doctor
// and /mailbox.
func (lm *lineMode) reachCommand(ctx context.Context, cmd string, args []string) {
	switch cmd {
	case "/invite":
		inv, err := lm.node.Invite()
		if err != nil {
			lm.printf("*** no invite: %s\n", oneLine(err.Error()))
			return
		}
		lm.printf("*** your invite (give it to a friend; /connect takes it):\n%s\n", inv)
	case "/myid":
		lm.printf("  peer ID:     %s\n  fingerprint: %s\n", lm.node.PeerID(), lm.node.Fingerprint())
		if inv, err := lm.node.Invite(); err == nil {
			lm.printf("  invite:      %s\n", inv)
		}
		if len(args) > 0 && args[0] == "all" {
			for _, a := range lm.node.Addrs() {
				lm.printf("  address:     %s\n", a)
			}
		} else {
			lm.printf("  (/myid all lists every address)\n")
		}
	case "/doctor":
		for _, l := range doctor.Text(doctor.New(lm.node.Diagnostics()), time.Local) {
			lm.printf("  %s\n", l)
		}
	case "/mailbox":
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for _, l := range tui.MailboxLines(lm.node.Mailboxes(ctx)) {
			lm.printf("  %s\n", l)
		}
	}
}
