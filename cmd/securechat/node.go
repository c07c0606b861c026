package main

import (
	"context"
	"errors"

	"github.com/securechat/securechat/cmd/securechat/tui"
	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// chatNode is the part of [p2p.Node] the command uses. It exists so the
// headless API and the line interface can be tested against a fake, without
// keys or sockets.
type chatNode interface {
	tui.Node // the methods every interface calls
	Events() <-chan p2p.Event
	Close() error
}

var _ chatNode = (*p2p.Node)(nil)

// safetyNumberer is implemented by nodes that can compute the 60-digit
// safety number of a session ([e2e.SafetyNumber] needs both public
// identities, which only the node holds). The line interface falls back to
// fingerprints without it.
type safetyNumberer interface {
	SafetyNumber(peerID string) (string, error)
}

// sendResolver is implemented by nodes whose Send also reports the peer ID
// that a fingerprint or peer ID resolved to ([p2p.Node.SendTo]); without
// it the headless API resolves through Peers, which reads every contact.
type sendResolver interface {
	SendTo(ctx context.Context, to, text string) (peerID, msgID string, err error)
}

var _ sendResolver = (*p2p.Node)(nil)

// blocker is implemented by nodes that can block a peer (INTERFACE.md's
// block command). [p2p.Node] has Block but the agreed API list in p2p/api.go
// does not name it yet, so it is used only if present.
type blocker interface {
	Block(peerID string) error
}

// errorCode maps a node error to the headless error code INTERFACE.md names
// for it.
func errorCode(err error) string {
	switch {
	case errors.Is(err, p2p.ErrUnknownPeer):
		return "unknown_peer"
	case errors.Is(err, p2p.ErrKeyChanged):
		return "key_changed"
	case errors.Is(err, p2p.ErrFingerprintMismatch):
		return "fingerprint_mismatch"
	case errors.Is(err, p2p.ErrTooLarge):
		return "too_large"
	case errors.Is(err, p2p.ErrQueueFull):
		return "queue_full"
	case errors.Is(err, p2p.ErrBadAddress):
		return "bad_address"
	case errors.Is(err, p2p.ErrDialFailed):
		return "dial_failed"
	case errors.Is(err, p2p.ErrClosed):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "internal"
}

// resolvePeer turns a peer ID or a fingerprint (64 hex digits) into a peer
// ID among the known peers. With several peers under one fingerprint, an
// online one wins. ok is false if none matches.
func resolvePeer(peers []p2p.PeerInfo, to string) (string, bool) {
	for _, p := range peers {
		if p.PeerID == to {
			return p.PeerID, true
		}
	}
	fp, err := e2e.ParseFingerprint(to)
	if err != nil {
		return "", false
	}
	found := ""
	for _, p := range peers {
		if p.Fingerprint.Equal(fp) {
			if p.State == "online" {
				return p.PeerID, true
			}
			if found == "" {
				found = p.PeerID
			}
		}
	}
	return found, found != ""
}
