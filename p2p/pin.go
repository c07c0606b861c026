package p2p

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
)

// A session is used only while its own fingerprint is the peer's pin. The
// pin is checked when the session is admitted (checkTrust), but the user
// may accept another key while it runs ([Node.TrustNewKey]): then the old
// key's session must neither be shown as the peer's, nor receive the
// peer's new messages, nor deliver any. peerState.pin is the pin of record
// in memory; everything that reports or uses a session goes through
// liveLocked or isCurrent, which compare the session's fingerprint with it
// in constant time (e2e.Fingerprint.Equal).

// setPin records fp as p's pin, as checkTrust admitted a session under it.
// The caller holds n.trustMu (so the pin follows the store's order).
func (n *Node) setPin(p peer.ID, fp e2e.Fingerprint) {
	n.mu.Lock()
	n.peer(p).pin = fp
	n.mu.Unlock()
}

// repin makes fp p's pin after the user accepted it, and ends every
// session of p under another key. The caller holds n.trustMu and calls it
// before the new pin is stored, so that no message reaches the history
// through an old-key session once the new key is the contact's.
func (n *Node) repin(p peer.ID, fp e2e.Fingerprint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ps := n.peers[p]
	if ps == nil {
		return
	}
	ps.pin = fp
	if ss := ps.current; ss != nil && !ss.fp.Equal(fp) {
		_ = ss.st.Reset()
		n.log.Debug("session under a replaced key ended", "peer_id", ss.pid)
	}
}

// liveLocked returns p's live session if it is up and under p's pin, or
// nil. The caller holds n.mu.
func (n *Node) liveLocked(p peer.ID) *session {
	ps := n.peers[p]
	if ps == nil || !ps.up || ps.current == nil || !ps.current.fp.Equal(ps.pin) {
		return nil
	}
	return ps.current
}
