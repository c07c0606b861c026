package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"time"
)

// This file drives a connection's handshake over a stream, with resumption
// when the initiator holds a ticket: [RunInitiator] and [RunResponder]. The
// responder tells a resumption from a full handshake by the type byte of the
// first message; a refused ticket costs one round trip (R1, RETRY) before
// the full handshake runs on the same stream.

// RunInitiator runs the dialler's side. With a ticket that fits it tries
// resumption first and falls back to the full handshake when the responder
// answers RETRY; with none (t nil, or a ticket [NewResumeInitiator] refuses)
// it runs the full handshake at once. resumed reports which one made the
// session. The caller sets the stream deadline first, as for
// [Handshake.Run], and drops t in every case: a ticket serves once.
func RunInitiator(r *bufio.Reader, w io.Writer, cfg HandshakeConfig, t *Ticket, now time.Time) (s *Session, resumed bool, err error) {
	if t != nil {
		defer t.Wipe() // used or not, it never serves again
		x, err := NewResumeInitiator(cfg, t, now)
		switch {
		case err == nil:
			s, err := x.run(r, w)
			if err != nil || s != nil {
				return s, s != nil, err
			}
		case !errors.Is(err, ErrTicket):
			return nil, false, err
		}
	}
	hs, err := NewInitiator(cfg)
	if err != nil {
		return nil, false, err
	}
	s, err = hs.Run(r, w)
	return s, false, err
}

// RunResponder runs the accepting side: a resumption if the first message
// asks for one (take hands over the presented ticket), with RETRY and the
// full handshake if the ticket is refused; the full handshake if the first
// message is its message 1. resumed reports which one made the session.
func RunResponder(r *bufio.Reader, w io.Writer, cfg HandshakeConfig, take TicketTaker, now time.Time) (s *Session, resumed bool, err error) {
	msg, err := readHandshakeMessage(r)
	if err != nil {
		return nil, false, err
	}
	if len(msg) > 0 && msg[0] == msgTypeResume1 {
		x, err := NewResumeResponder(cfg, take, now)
		if err != nil {
			return nil, false, err
		}
		if err := x.ReadMessage(msg); err != nil {
			return nil, false, err
		}
		s, err := x.run(r, w)
		if err != nil || s != nil {
			return s, s != nil, err
		}
		if msg, err = readHandshakeMessage(r); err != nil {
			return nil, false, err
		}
	}
	hs, err := NewResponder(cfg)
	if err != nil {
		return nil, false, err
	}
	if err := hs.ReadMessage(msg); err != nil {
		return nil, false, err
	}
	s, err = hs.Run(r, w)
	return s, false, err
}

// run drives x until it is done (the session), fell back (nil, nil) or
// failed.
func (x *Resumption) run(r *bufio.Reader, w io.Writer) (*Session, error) {
	for {
		switch {
		case x.state == rsDone:
			return x.Session()
		case x.state == rsFallback:
			return nil, nil
		case x.state == rsFailed:
			return nil, ErrHandshake
		case x.state.writes():
			msg, err := x.WriteMessage()
			if err != nil {
				return nil, err
			}
			if err := WriteFrame(w, msg); err != nil {
				x.fail()
				return nil, fmt.Errorf("e2e: write handshake message: %w", err)
			}
		default:
			msg, err := readHandshakeMessage(r)
			if err != nil {
				x.fail()
				return nil, err
			}
			if err := x.ReadMessage(msg); err != nil {
				return nil, err
			}
		}
	}
}

// readHandshakeMessage reads one handshake frame. Frame errors (too large,
// malformed) count as handshake failures and still say whether the stream
// simply ended, as in [Handshake.Run].
func readHandshakeMessage(r *bufio.Reader) ([]byte, error) {
	msg, err := ReadFrame(r, MaxHandshakeMessage)
	if err != nil {
		if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrBadFrame) {
			return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
		}
		return nil, fmt.Errorf("e2e: read handshake message: %w", err)
	}
	return msg, nil
}
