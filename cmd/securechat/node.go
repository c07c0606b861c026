package main

import (
	"context"
	"errors"

	"github.com/securechat/securechat/cmd/securechat/tui"
	"github.com/securechat/securechat/p2p"
)

// chatNode is the part of [p2p.Node] the command uses: what the terminal
// UI needs ([tui.Node]), the headless API's SendTo, and the event stream.
// It exists so the headless API and the line interface can be tested
// against a fake, without keys or sockets.
type chatNode interface {
	tui.Node
	// SendTo is Send that also returns the peer ID the recipient resolved
	// to: one lookup in the node instead of listing every contact (a store
	// read and decryption each) for every line a script sends.
	SendTo(ctx context.Context, to, text string) (peerID, msgID string, err error)
	// WaitSend waits until a Send of size bytes to to would not wait for
	// room in the peer's send window (backpressure): the headless API
	// waits there before it holds its events for the answer.
	WaitSend(ctx context.Context, to string, size int) error
	Events() <-chan p2p.Event
	Close() error
}

var _ chatNode = (*p2p.Node)(nil)

// errorCode maps a node error to the headless error code docs/INTERFACE.md names
// for it.
func errorCode(err error) string {
	switch {
	case errors.Is(err, p2p.ErrUnknownPeer):
		return "unknown_peer"
	case errors.Is(err, p2p.ErrAmbiguousPeer):
		return "ambiguous_peer"
	case errors.Is(err, p2p.ErrKeyChanged):
		return "key_changed"
	case errors.Is(err, p2p.ErrFingerprintMismatch):
		return "fingerprint_mismatch"
	case errors.Is(err, p2p.ErrTooLarge):
		return "too_large"
	case errors.Is(err, p2p.ErrQueueFull):
		return "queue_full"
	case errors.Is(err, p2p.ErrNoAddress):
		return codeNoAddress
	case errors.Is(err, p2p.ErrBadAddress):
		return "bad_address"
	case errors.Is(err, p2p.ErrDialFailed):
		return "dial_failed"
	case errors.Is(err, p2p.ErrBlocked):
		return codeBlocked
	case errors.Is(err, p2p.ErrNothingToAccept):
		return codeNothingToAccept
	case errors.Is(err, p2p.ErrInvalidName):
		return codeInvalidName
	case errors.Is(err, p2p.ErrNoSession):
		return codeNoSession
	case errors.Is(err, p2p.ErrClosed):
		return "closed"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "internal"
}
