package main

import (
	"strings"
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
	lm.ask("block "+peerLabel(p)+"? No connection from or to it until /unblock; messages queued for it wait in the outbox.", func() {
		if err := lm.node.Block(p.PeerID); err != nil {
			lm.printf("*** could not block %s: %s\n", peerLabel(p), oneLine(err.Error()))
			return
		}
		lm.mu.Lock()
		if lm.current == p.PeerID {
			lm.current = ""
		}
		lm.mu.Unlock()
		lm.printf("*** blocked %s (%s): no connection from or to it from now on (/unblock undoes it)\n", peerLabel(p), p.PeerID)
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
