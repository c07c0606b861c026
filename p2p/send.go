package p2p

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrInvalidText is returned by [Node.Send] for a text that is not valid
// UTF-8.
var ErrInvalidText = errors.New("p2p: message text is not valid UTF-8")

// Send queues text for the peer to (a peer ID, or the 64-hex fingerprint of
// a known contact) and sends it at once if a session is up; otherwise it
// goes out when the next session comes up. It returns the message ID.
// Writing to a stranger makes it a contact (stranger.go).
//
// While the peer's session is up, Send is never refused for a full
// outbox: it waits, until ctx ends, for receipts to bring the
// unacknowledged messages below the send window (limits.go). Only a peer
// with no session has an outbox that can be full: then Send returns
// [ErrQueueFull]. Concurrent Sends to one peer are queued in the order
// they arrive.
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
	// in-memory mirror (outqueue.go), which also does the waiting.
	m := outMsg{id: id, sentAt: time.Now(), text: text}
	if _, err := n.outq.add(ctx, n.ctx.Done(), pid, m, n.set.queue, n.liveness(p)); err != nil {
		if errors.Is(err, ErrQueueFull) || errors.Is(err, ErrClosed) || ctx.Err() != nil {
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

// WaitSend waits until a Send of size bytes of text to the peer named by
// to would not wait for room (see [Node.Send]). It returns nil at once
// when the peer has no live session or the send window has room, else
// once a receipt made room or the session went; or ctx's error, or
// [ErrClosed]. A front end that holds other work while a Send runs (the
// headless API orders its events around each Send) waits here first, so
// that the wait holds nothing up. Only a peer ID is looked up here (no
// store read): for any other name WaitSend returns nil and Send waits.
func (n *Node) WaitSend(ctx context.Context, to string, size int) error {
	p, err := peer.Decode(strings.TrimSpace(to))
	if err != nil {
		return nil
	}
	live := n.liveness(p)
	if up, _ := live(); !up {
		return nil // no mirror is loaded for a peer without a session
	}
	if err := n.enter(); err != nil {
		return err
	}
	defer n.wg.Done()
	pq, err := n.outq.queue(p.String())
	if err != nil {
		return nil // Send reports it
	}
	if err := pq.waitRoom(ctx, n.ctx.Done(), size, n.set.queue, live); err != nil && !errors.Is(err, ErrQueueFull) {
		return err
	}
	return nil
}

// liveness reports, for the outbox's wait (outqueue.go), whether p's
// session is up, and a channel closed at its next change (handler.go
// notifies every change of a peer's session).
func (n *Node) liveness(p peer.ID) liveness {
	return func() (bool, <-chan struct{}) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.liveLocked(p) == nil { // under the pin only (pin.go)
			return false, nil
		}
		return true, n.peers[p].changed
	}
}
