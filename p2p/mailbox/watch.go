package mailbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
)

// A watch is a live stream from an owner on which the mailbox writes a
// one-byte frame: 1 after each deposit into the owner's queue (ticks
// coalesce: one tick may stand for several deposits), 0 as a keepalive
// every keepaliveInterval. The owner writes nothing after its request;
// its end of the stream closing ends the watch.

// watch serves one watch stream for queue q until the owner closes it, a
// write fails or the server closes. The stream's slot moves from the
// request streams to the owner's watches.
func (s *Server) watch(st network.Stream, q queueID) {
	p := st.Conn().RemotePeer()
	ch := make(chan struct{}, 1)
	if !s.addWatcher(p, q, ch) {
		s.answer(st, codeUnavailable, nil)
		return
	}
	defer s.removeWatcher(p, q, ch)
	if err := st.SetDeadline(time.Time{}); err != nil {
		_ = st.Reset()
		return
	}
	if !s.writeTick(st, codeOK) {
		return
	}
	// The owner sends nothing more: a read that returns (EOF, reset or
	// stray bytes) ends the watch.
	done := make(chan struct{})
	go func() {
		defer close(done)
		var b [1]byte
		_, _ = st.Read(b[:])
	}()
	defer func() { <-done }()
	defer func() { _ = st.Reset() }() // before <-done: unblocks the read

	t := time.NewTicker(keepaliveInterval)
	defer t.Stop()
	for {
		var tick byte
		select {
		case <-s.ctx.Done():
			return
		case <-done:
			return
		case <-ch:
			tick = tickNew
		case <-t.C:
			tick = tickKeepalive
		}
		if !s.writeTick(st, tick) {
			return
		}
	}
}

// writeTick writes one one-byte frame under writeTimeout.
func (s *Server) writeTick(st network.Stream, b byte) bool {
	if st.SetWriteDeadline(time.Now().Add(writeTimeout)) != nil || e2e.WriteFrame(st, []byte{b}) != nil {
		_ = st.Reset()
		return false
	}
	return true
}

// addWatcher registers ch for q's deposits, within maxWatchesPerOwner,
// and moves p's slot from the request streams to the watches.
func (s *Server) addWatcher(p peer.ID, q queueID, ch chan struct{}) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.watchers[q]) >= maxWatchesPerOwner {
		return false
	}
	if s.watchers[q] == nil {
		s.watchers[q] = make(map[chan struct{}]struct{})
	}
	s.watchers[q][ch] = struct{}{}
	s.streams--
	s.perPeer[p]--
	return true
}

// removeWatcher undoes addWatcher; the handler's release then gives back
// the slot it took back here.
func (s *Server) removeWatcher(p peer.ID, q queueID, ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.watchers[q], ch)
	if len(s.watchers[q]) == 0 {
		delete(s.watchers, q)
	}
	s.streams++
	s.perPeer[p]++
}

// notify ticks every watcher of q, without blocking.
func (s *Server) notify(q queueID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.watchers[q] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// watchIdleOverride, if set (by tests), replaces watchIdle's value.
var watchIdleOverride time.Duration

// watchIdle is how long the client waits for a tick (keepalives included)
// before it takes the watch stream for dead: three keepalive intervals.
func watchIdle() time.Duration {
	if watchIdleOverride != 0 {
		return watchIdleOverride
	}
	return 3 * keepaliveInterval
}

// Watch opens a live stream to the mailbox, as an owner, on which the
// mailbox pushes a tick after each deposit for this owner. Ticks coalesce:
// on each value received, fetch until the queue is empty. The channel is
// closed when ctx ends or the stream dies (the mailbox closed, the
// connection broke, or nothing came for three keepalive intervals); the
// caller then watches again when it wants. Errors: [ErrNotOwner],
// [ErrUnavailable] (too many watches), or the stream's.
func (c *Client) Watch(ctx context.Context, mbox peer.ID) (<-chan struct{}, error) {
	call, body, err := c.roundTrip(ctx, mbox, request{op: opWatch})
	if err != nil {
		return nil, fmt.Errorf("mailbox: watch: %w", err)
	}
	if len(body) != 0 {
		call.end()
		_ = call.st.Reset()
		return nil, fmt.Errorf("mailbox: watch: %w", ErrProtocol)
	}
	st, br := call.st, call.br
	ch := make(chan struct{}, 1)
	// The stream now lives until ctx ends, owned by this goroutine; the
	// call's AfterFunc still resets it then.
	go func() {
		defer close(ch)
		defer call.end()
		defer func() { _ = st.Reset() }()
		for {
			if st.SetReadDeadline(time.Now().Add(watchIdle())) != nil {
				return
			}
			f, err := e2e.ReadFrame(br, 1)
			if err != nil || len(f) != 1 || f[0] > tickNew {
				if err != nil && !errors.Is(err, context.Canceled) {
					c.log.Debug("mailbox: watch ended", "err", err)
				}
				return
			}
			if f[0] == tickNew {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
		}
	}()
	return ch, nil
}
