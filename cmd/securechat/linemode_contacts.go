package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/securechat/securechat/p2p"
)

// contacts runs /unblock, /forget, /label and /nick.
func (lm *lineMode) contacts(cmd, rest string, args []string) {
	if cmd == "/nick" {
		if rest == "" {
			lm.printf("usage: /nick NAME\n")
			return
		}
		if err := lm.node.SetName(rest); err != nil {
			lm.printf("*** %s\n", nameError(err))
			return
		}
		lm.printf("*** you are now %s; peers online see it now, the others when they next connect\n", sanitizeName(lm.node.Name()))
		return
	}
	if len(args) == 0 {
		if cmd == "/label" {
			lm.printf("usage: /label PEER [NAME]\n")
		} else {
			lm.printf("usage: %s PEER\n", cmd)
		}
		return
	}
	p, err := lm.findPeer(args[0])
	if err != nil {
		lm.printf("*** %v\n", err)
		return
	}
	switch cmd {
	case "/unblock":
		if !p.Blocked {
			lm.printf("*** %s is not blocked\n", peerLabel(p))
			return
		}
		if err := lm.node.Unblock(p.PeerID); err != nil {
			lm.printf("*** could not unblock %s: %s\n", peerLabel(p), oneLine(err.Error()))
			return
		}
		lm.printf("*** unblocked %s: it may connect again, and waiting messages go out\n", peerLabel(p))
	case "/forget":
		lm.askDrop(p, "forget", lm.node.Forget,
			"forget "+peerLabel(p)+"? Its key, label and your whole history with it are deleted; this cannot be undone.",
			fmt.Sprintf("*** forgot %s (%s)\n", peerLabel(p), p.PeerID))
	case "/label":
		label := strings.TrimSpace(strings.TrimPrefix(rest, args[0]))
		if err := lm.node.SetLabel(p.PeerID, label); err != nil {
			lm.printf("*** %s\n", nameError(err))
			return
		}
		p.Label = label
		if label == "" {
			lm.printf("*** removed your label of %s\n", peerLabel(p))
			return
		}
		lm.printf("*** %s is shown as %s from now on\n", p.PeerID, sanitizeName(label))
	}
}

// nameError words a refused name or label.
func nameError(err error) string {
	if errors.Is(err, p2p.ErrInvalidName) {
		return "a name is 1-32 printable characters"
	}
	return oneLine(err.Error())
}
