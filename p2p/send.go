package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// ErrInvalidText is returned by [Node.Send] for a text that is not valid
// UTF-8.
var ErrInvalidText = errors.New("p2p: message text is not valid UTF-8")

// Send queues text for the peer to (a peer ID, or the 64-hex fingerprint of
// a known contact) and sends it at once if a session is up; otherwise it
// goes out when the next session comes up. It returns the message ID.
// Writing to a stranger makes it a contact (stranger.go).
func (n *Node) Send(ctx context.Context, to, text string) (string, error) {
	_, id, err := n.SendTo(ctx, to, text)
	return id, err
}

// SendTo is [Node.Send] that also returns the peer ID that to resolved to,
// so that a caller naming peers by fingerprint need not list the contacts
// (one store read and decryption each) to learn it.
func (n *Node) SendTo(ctx context.Context, to, text string) (peerID, msgID string, err error) {
	if len(text) > MaxMessageText {
		return "", "", ErrTooLarge
	}
	if !utf8.ValidString(text) {
		return "", "", ErrInvalidText
	}
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	if err := n.enter(); err != nil {
		return "", "", err
	}
	defer n.wg.Done()
	p, pid, err := n.resolve(to)
	if err != nil {
		return "", "", err
	}
	var id [messageIDLen]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", "", err
	}
	// The outbox per peer is bounded (limits.go); the count comes from its
	// in-memory mirror (outqueue.go).
	if _, err := n.outq.add(pid, outMsg{id: id, sentAt: time.Now(), text: text}, maxQueuedPerPeer); err != nil {
		if errors.Is(err, ErrQueueFull) {
			return "", "", err
		}
		return "", "", fmt.Errorf("queue message: %w", err)
	}
	n.mu.Lock()
	ss := n.liveLocked(p) // under the pin only (pin.go)
	n.mu.Unlock()
	if ss != nil {
		ss.sendNow()
	}
	return pid, hexID(id), nil
}
