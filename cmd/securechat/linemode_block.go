package main

// block runs /block PEER: the node refuses the peer's connections and
// sessions from now on, across restarts (p2p.Node.Block).
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
	if err := lm.node.Block(p.PeerID); err != nil {
		lm.printf("*** could not block %s: %s\n", peerLabel(p), oneLine(err.Error()))
		return
	}
	lm.mu.Lock()
	if lm.current == p.PeerID {
		lm.current = ""
	}
	lm.mu.Unlock()
	lm.printf("*** blocked %s (%s): no connection from or to it from now on\n", peerLabel(p), p.PeerID)
}
