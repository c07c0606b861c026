package e2e

import (
	"bytes"
	"testing"
	"time"
)

// Fixtures of the resumption tests: a full handshake between two test
// peers, tickets issued on its sessions, and recordings of resumptions with
// a copy of the receiving side before each message (as hsRecording does for
// the full handshake).

// resumeNow is the clock of the resumption tests.
var resumeNow = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// fullSessions runs a full handshake with a as initiator and b as
// responder and returns both sessions.
func fullSessions(t testing.TB, a, b *testPeer) (sa, sb *Session) {
	t.Helper()
	rec := recordHandshake(t, a, b)
	sa, err := rec.ini.Session()
	if err != nil {
		t.Fatal(err)
	}
	if sb, err = rec.resp.Session(); err != nil {
		t.Fatal(err)
	}
	return sa, sb
}

// ticketPair has the issuer's session issue a ticket and the holder's
// accept it; it returns the holder's ticket and the issuer's record.
func ticketPair(t testing.TB, issuer, holder *Session, now time.Time) (held, issued *Ticket) {
	t.Helper()
	offer, issued, err := issuer.IssueTicket(now)
	if err != nil {
		t.Fatalf("IssueTicket: %v", err)
	}
	if held, err = holder.AcceptTicket(offer, now); err != nil {
		t.Fatalf("AcceptTicket: %v", err)
	}
	return held, issued
}

// copyTicket returns an independent copy of t, as a store would.
func copyTicket(t testing.TB, tk *Ticket) *Ticket {
	t.Helper()
	c, err := ParseTicket(tk.Marshal())
	if err != nil {
		t.Fatalf("ParseTicket: %v", err)
	}
	return c
}

// takeOnce is a responder's ticket store holding one issued ticket: the
// first take hands over a copy of it, later ones nothing.
func takeOnce(t testing.TB, issued *Ticket) TicketTaker {
	blob := issued.Marshal()
	return func([TicketIDSize]byte) *Ticket {
		if blob == nil {
			return nil
		}
		c, err := ParseTicket(blob)
		if err != nil {
			t.Errorf("ParseTicket: %v", err)
			return nil
		}
		blob = nil
		return c
	}
}

// takeAlways hands over a copy of issued at every take: a store that
// failed to enforce single use, so that the resumption's own checks are
// what the tests see.
func takeAlways(t testing.TB, issued *Ticket) TicketTaker {
	blob := issued.Marshal()
	return func([TicketIDSize]byte) *Ticket {
		c, err := ParseTicket(blob)
		if err != nil {
			t.Errorf("ParseTicket: %v", err)
			return nil
		}
		return c
	}
}

func cloneResumption(x *Resumption) *Resumption {
	c := *x
	c.tr.b = bytes.Clone(x.tr.b)
	if x.ticket != nil {
		tk := *x.ticket
		c.ticket = &tk
	}
	return &c
}

// resumeRecording is a completed resumption with, for each message, a copy
// of the receiving side just before it read it.
type resumeRecording struct {
	ini, resp *Resumption
	msgs      [3][]byte
	before    [3]*Resumption
}

func (rec *resumeRecording) receiver(k int) *Resumption { return cloneResumption(rec.before[k]) }

// resumeSetup is a full session between a (initiator) and b, and a ticket b
// issued to a: the material of a resumption a -> b.
type resumeSetup struct {
	a, b         *testPeer
	held, issued *Ticket
	cfgI, cfgR   HandshakeConfig
}

func newResumeSetup(t testing.TB) *resumeSetup {
	t.Helper()
	a, b := newTestPeerWith(t, 0, nil), newTestPeerWith(t, 1, nil)
	sa, sb := fullSessions(t, a, b)
	held, issued := ticketPair(t, sb, sa, resumeNow)
	cfgI, cfgR := hsConfigs(a, b)
	return &resumeSetup{a: a, b: b, held: held, issued: issued, cfgI: cfgI, cfgR: cfgR}
}

// start makes a fresh resumption pair from copies of the setup's tickets.
func (s *resumeSetup) start(t testing.TB, now time.Time) (xi, xr *Resumption) {
	t.Helper()
	xi, err := NewResumeInitiator(s.cfgI, copyTicket(t, s.held), now)
	if err != nil {
		t.Fatalf("NewResumeInitiator: %v", err)
	}
	if xr, err = NewResumeResponder(s.cfgR, takeAlways(t, s.issued), now); err != nil {
		t.Fatalf("NewResumeResponder: %v", err)
	}
	return xi, xr
}

func (s *resumeSetup) record(t testing.TB) *resumeRecording {
	t.Helper()
	xi, xr := s.start(t, resumeNow)
	rec := &resumeRecording{ini: xi, resp: xr}
	for k := range rec.msgs {
		from, to := xi, xr
		if k == 1 {
			from, to = xr, xi
		}
		m, err := from.WriteMessage()
		if err != nil {
			t.Fatalf("WriteMessage %d: %v", k+1, err)
		}
		rec.msgs[k] = m
		rec.before[k] = cloneResumption(to)
		if err := to.ReadMessage(m); err != nil {
			t.Fatalf("ReadMessage %d: %v", k+1, err)
		}
	}
	if !xi.Done() || !xr.Done() {
		t.Fatal("resumption not done after three messages")
	}
	return rec
}

// checkResumeFailed checks that x failed for good.
func checkResumeFailed(t testing.TB, x *Resumption, err error) {
	t.Helper()
	if err != ErrHandshake {
		t.Fatalf("error = %v, want exactly ErrHandshake", err)
	}
	if x.Done() || x.Fallback() || x.state != rsFailed {
		t.Fatalf("failed resumption in state %v", x.state)
	}
	if s, err := x.Session(); s != nil || err == nil {
		t.Fatal("Session after failure succeeded")
	}
	if _, err := x.WriteMessage(); err != ErrHandshake {
		t.Fatalf("WriteMessage after failure = %v", err)
	}
}

// checkSessionsTalk checks that two sessions carry records both ways and
// export the same keys.
func checkSessionsTalk(t testing.TB, si, sr *Session) {
	t.Helper()
	mustOpenData(t, sr, mustSeal(t, si, []byte("hello")), []byte("hello"))
	mustOpenData(t, si, mustSeal(t, sr, []byte("back")), []byte("back"))
	if si.ID() != sr.ID() {
		t.Fatal("session IDs differ")
	}
	ki, err1 := si.export(fileKeyLabel, []byte("x"), 32)
	kr, err2 := sr.export(fileKeyLabel, []byte("x"), 32)
	if err1 != nil || err2 != nil || !bytes.Equal(ki, kr) {
		t.Fatalf("exporters differ: %v %v", err1, err2)
	}
}
