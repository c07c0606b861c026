package mailbox

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/e2e"
)

// requestTimeout bounds a request without a context deadline (and any
// request: the earlier of the two applies).
const requestTimeout = 30 * time.Second

// A Client speaks the mailbox protocol from a host: as an owner (grant,
// revoke, fetch, delete, status, watch) and as a sender (deposit). The
// mailbox tells owners by the authenticated peer of the connection, that
// is this host's peer ID. A Client holds no state of its own and is safe
// for concurrent use.
type Client struct {
	h   host.Host
	log *slog.Logger
}

// NewClient returns a client that opens its streams from h. The host must
// know an address of each mailbox it names (or be connected to it).
func NewClient(h host.Host) *Client {
	return &Client{h: h, log: slog.New(slog.DiscardHandler)}
}

// WithLogger returns a copy of c that logs to l (debug level only).
func (c *Client) WithLogger(l *slog.Logger) *Client {
	if l == nil {
		return c
	}
	return &Client{h: c.h, log: l}
}

// Register checks that this host is an owner of mbox: nil if it is,
// [ErrNotOwner] if not. Nothing else needs it first.
func (c *Client) Register(ctx context.Context, mbox peer.ID) error {
	return c.simple(ctx, mbox, request{op: opRegister}, "register")
}

// Grant lets whoever holds cp deposit envelopes for this host (an owner of
// mbox) until [Client.Revoke]. Granting a capability again is harmless.
// Errors: [ErrNotOwner]; [ErrCapability] if another owner holds it;
// [ErrQuota] if the mailbox holds its most grants.
func (c *Client) Grant(ctx context.Context, mbox peer.ID, cp Capability) error {
	return c.simple(ctx, mbox, request{op: opGrant, cap: cp}, "grant")
}

// Revoke refuses every later deposit under cp ([ErrCapability]). Envelopes
// already deposited under it stay to be fetched. Revoking a capability
// that is not granted succeeds.
func (c *Client) Revoke(ctx context.Context, mbox peer.ID, cp Capability) error {
	return c.simple(ctx, mbox, request{op: opRevoke, cap: cp}, "revoke")
}

// Deposit gives an envelope (e2e.SealEnvelope) to mbox under cp. It
// returns nil once the mailbox has the envelope on disk (fsynced), or
// already held an envelope with its ID for the same owner. Errors:
// [ErrCapability] (not granted or revoked), [ErrQuota] (full),
// [ErrTooLarge] or [ErrProtocol] (not an envelope size; checked here
// before anything is sent), [ErrUnavailable], or the stream's. On any
// error, the envelope may or may not be stored: deposit it again later.
func (c *Client) Deposit(ctx context.Context, mbox peer.ID, cp Capability, envelope []byte) error {
	if len(envelope) > e2e.MaxEnvelopeSize {
		return ErrTooLarge
	}
	if _, _, err := e2e.EnvelopeHeader(envelope); err != nil {
		return ErrProtocol
	}
	return c.simple(ctx, mbox, request{op: opDeposit, cap: cp, envelope: envelope}, "deposit")
}

// Fetch returns this owner's oldest envelopes at mbox, oldest first: at
// most max (at most [MaxFetch]; 0 or less means MaxFetch), and fewer when
// they exceed 1 MiB together. Fetching removes nothing: the owner deletes
// what it has stored durably with [Client.Delete], then fetches again.
func (c *Client) Fetch(ctx context.Context, mbox peer.ID, max int) ([]Stored, error) {
	if max <= 0 || max > MaxFetch {
		max = MaxFetch
	}
	call, body, err := c.roundTrip(ctx, mbox, request{op: opFetch, max: max})
	if err != nil {
		return nil, fmt.Errorf("mailbox: fetch: %w", err)
	}
	defer call.end()
	n, err := parseFetchCount(body)
	if err == nil && n > max {
		err = ErrProtocol
	}
	out := make([]Stored, 0, n)
	for i := 0; err == nil && i < n; i++ {
		var f []byte
		if f, err = e2e.ReadFrame(call.br, maxItemSize); err != nil {
			break
		}
		var st Stored
		if st, err = parseItem(f); err == nil {
			out = append(out, st)
		}
	}
	if err != nil {
		_ = call.st.Reset()
		return nil, fmt.Errorf("mailbox: fetch: %w", err)
	}
	_ = call.st.Close()
	return out, nil
}

// Delete removes envelopes by their keys ([Stored.Key]); keys it does not
// hold are skipped. Call it only once the envelopes are stored durably on
// this side. More than [MaxDelete] keys take several requests.
func (c *Client) Delete(ctx context.Context, mbox peer.ID, keys ...[16]byte) error {
	for len(keys) > 0 {
		n := min(len(keys), MaxDelete)
		if err := c.simple(ctx, mbox, request{op: opDelete, keys: keys[:n]}, "delete"); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// Status returns this owner's queue at mbox. Error: [ErrNotOwner] or the
// stream's.
func (c *Client) Status(ctx context.Context, mbox peer.ID) (Status, error) {
	call, body, err := c.roundTrip(ctx, mbox, request{op: opStatus})
	if err != nil {
		return Status{}, fmt.Errorf("mailbox: status: %w", err)
	}
	defer call.end()
	st, err := parseStatus(body)
	if err != nil {
		_ = call.st.Reset()
		return Status{}, fmt.Errorf("mailbox: status: %w", err)
	}
	_ = call.st.Close()
	return st, nil
}

// simple runs a request whose answer has no body.
func (c *Client) simple(ctx context.Context, mbox peer.ID, req request, what string) error {
	call, body, err := c.roundTrip(ctx, mbox, req)
	if err != nil {
		return fmt.Errorf("mailbox: %s: %w", what, err)
	}
	defer call.end()
	if len(body) != 0 {
		_ = call.st.Reset()
		return fmt.Errorf("mailbox: %s: %w", what, ErrProtocol)
	}
	_ = call.st.Close()
	return nil
}

// call is a request stream after its answer's first frame.
type call struct {
	st   network.Stream
	br   *bufio.Reader
	stop func() bool
}

// end stops resetting the stream when the request's context ends.
func (c call) end() { c.stop() }

// roundTrip opens a stream to mbox, sends req and reads the answer's first
// frame. On a code other than OK it returns the code's error (the stream
// is then closed); on OK the caller reads on and must call end.
func (c *Client) roundTrip(ctx context.Context, mbox peer.ID, req request) (call, []byte, error) {
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	st, err := c.h.NewStream(network.WithAllowLimitedConn(ctx, "mailbox"), mbox, ProtocolID)
	if err != nil {
		return call{}, nil, err
	}
	cl := call{st: st, br: bufio.NewReader(st), stop: context.AfterFunc(ctx, func() { _ = st.Reset() })}
	fail := func(err error) (call, []byte, error) {
		cl.stop()
		_ = st.Reset()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return call{}, nil, err
	}
	if err := st.SetDeadline(deadline); err != nil {
		return fail(err)
	}
	if err := e2e.WriteFrame(st, encodeRequest(req)); err != nil {
		return fail(err)
	}
	if req.op != opWatch {
		if err := st.CloseWrite(); err != nil {
			return fail(err)
		}
	}
	f, err := e2e.ReadFrame(cl.br, maxResponseSize)
	if err != nil {
		return fail(err)
	}
	if err := codeError(f[0]); err != nil {
		cl.stop()
		_ = st.Close()
		return call{}, nil, err
	}
	return cl, f[1:], nil
}
