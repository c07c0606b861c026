package main

import (
	"fmt"
	"strings"

	"github.com/securechat/securechat/p2p"
)

// block runs /block PEER: after the user confirms, the node refuses the
// peer's connections and sessions from now on, across restarts
// (p2p.Node.Block); /unblock undoes it.
func (lm *lineMode) block(args []string) {
	if len(args) != 1 {
		lm.printf("usage: /block PEER\n")
		return
	}
	p, err := lm.findPeer(args[0])
	if err != nil {
		lm.printf("*** %v\n", err)
		return
	}
	lm.askDrop(p, "block", lm.node.Block,
		"block "+peerLabel(p)+"? No connection from or to it until /unblock; messages queued for it wait in the outbox.",
		fmt.Sprintf("*** blocked %s (%s): no connection from or to it from now on (/unblock undoes it)\n", peerLabel(p), p.PeerID))
}

// askDrop asks question and, if the user says yes, runs drop (the node's
// Block or Forget, named verb) on p, which then stops being the peer the
// user talks to; done is the line that says it worked.
func (lm *lineMode) askDrop(p p2p.PeerInfo, verb string, drop func(peerID string) error, question, done string) {
	lm.ask(question, func() {
		if err := drop(p.PeerID); err != nil {
			lm.printf("*** could not %s %s: %s\n", verb, peerLabel(p), oneLine(err.Error()))
			return
		}
		lm.mu.Lock()
		if lm.current == p.PeerID {
			lm.current = ""
		}
		lm.mu.Unlock()
		lm.printf("%s", done)
	})
}

// ask prints question and keeps do for the answer to it (answer).
func (lm *lineMode) ask(question string, do func()) {
	lm.mu.Lock()
	lm.asked = do
	lm.mu.Unlock()
	lm.printf("??? %s [y/N]\n", question)
}

// answer takes the line after a question: "y" or "yes" runs the action,
// anything else drops it. It reports whether line was such an answer
// (a line that is not y or n is not consumed: it runs as usual, and the
// question is dropped).
func (lm *lineMode) answer(line string) bool {
	lm.mu.Lock()
	do := lm.asked
	lm.asked = nil
	lm.mu.Unlock()
	if do == nil {
		return false
	}
	switch strings.ToLower(line) {
	case "y", "yes":
		do()
		return true
	case "n", "no":
		lm.printf("*** not done\n")
		return true
	}
	lm.printf("*** not done\n")
	return false
}
