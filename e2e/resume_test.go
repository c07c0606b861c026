package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

func TestResumeRoundTrip(t *testing.T) {
	s := newResumeSetup(t)
	rec := s.record(t)
	si, err := rec.ini.Session()
	if err != nil {
		t.Fatal(err)
	}
	sr, err := rec.resp.Session()
	if err != nil {
		t.Fatal(err)
	}
	checkSessionsTalk(t, si, sr)
	if !si.Initiator() || sr.Initiator() {
		t.Fatal("initiator flags wrong")
	}
	if !si.PeerBundle().Identity().Equal(s.b.id.Public()) || !sr.PeerBundle().Identity().Equal(s.a.id.Public()) {
		t.Fatal("resumed sessions name the wrong peers")
	}
	// A resumed session issues tickets like any other: resumptions chain.
	held, issued := ticketPair(t, sr, si, resumeNow.Add(time.Hour))
	if held.ID() != issued.ID() || held.secret != issued.secret || held.secret == s.held.secret {
		t.Fatal("the next ticket does not match or repeats the last")
	}
	// And the new session's keys are not the last one's.
	for _, m := range rec.msgs {
		if m[0] < msgTypeResume1 || m[0] > msgTypeResume3 {
			t.Fatalf("message type %d", m[0])
		}
	}
}

func TestTicketIssueAccept(t *testing.T) {
	a, b := newTestPeerWith(t, 0, nil), newTestPeerWith(t, 1, nil)
	sa, sb := fullSessions(t, a, b)
	offer, issued, err := sb.IssueTicket(resumeNow)
	if err != nil || len(offer) != TicketOfferSize {
		t.Fatalf("IssueTicket: %d bytes, %v", len(offer), err)
	}
	if !issued.Issued() || issued.Expires().Sub(resumeNow) != TicketLifetime || !issued.PeerFingerprint().Equal(a.id.Fingerprint()) {
		t.Fatal("issuer's record wrong")
	}
	held, err := sa.AcceptTicket(offer, resumeNow)
	if err != nil || held.Issued() || held.secret != issued.secret || !held.PeerFingerprint().Equal(b.id.Fingerprint()) {
		t.Fatalf("AcceptTicket: %v", err)
	}
	// The secret is the issuer's and holder's alone: a third session with
	// the same offer derives another.
	c := newTestPeerWith(t, 2, nil)
	sa2, _ := fullSessions(t, a, c)
	if other, err := sa2.AcceptTicket(offer, resumeNow); err != nil || other.secret == held.secret {
		t.Fatal("another session derived the same ticket secret")
	}
	for name, o := range map[string][]byte{
		"short":        offer[:TicketOfferSize-1],
		"long":         append(bytes.Clone(offer), 0),
		"expired":      append(bytes.Clone(offer[:TicketIDSize]), 0, 0, 0, 0, 0, 0, 0, 1),
		"too far":      offerExpiring(offer, resumeNow.Add(TicketLifetime+time.Hour)),
		"now":          offerExpiring(offer, resumeNow),
		"huge expiry":  append(bytes.Clone(offer[:TicketIDSize]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff),
		"empty":        nil,
		"expiry stale": offerExpiring(offer, resumeNow.Add(-time.Second)),
	} {
		if _, err := sa.AcceptTicket(o, resumeNow); !errors.Is(err, ErrTicket) {
			t.Errorf("%s: AcceptTicket = %v", name, err)
		}
	}
	// A session made without a handshake issues nothing.
	pi, _ := newTestSessionPair(t)
	if _, _, err := pi.IssueTicket(resumeNow); !errors.Is(err, ErrTicket) {
		t.Fatalf("IssueTicket without a handshake: %v", err)
	}
	// Printing a ticket never shows its secret.
	if s := held.String(); bytes.Contains([]byte(s), held.secret[:4]) {
		t.Fatal("String shows the secret")
	}
}

func offerExpiring(offer []byte, at time.Time) []byte {
	b := bytes.Clone(offer[:TicketIDSize])
	u := uint64(at.Unix())
	return append(b, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32), byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

func TestTicketMarshal(t *testing.T) {
	s := newResumeSetup(t)
	for _, tk := range []*Ticket{s.held, s.issued} {
		b := tk.Marshal()
		got, err := ParseTicket(b)
		if err != nil || !bytes.Equal(got.Marshal(), b) {
			t.Fatalf("round trip: %v", err)
		}
		for n := range len(b) {
			if _, err := ParseTicket(b[:n]); !errors.Is(err, ErrTicket) {
				t.Fatalf("truncated to %d: %v", n, err)
			}
		}
		if _, err := ParseTicket(append(bytes.Clone(b), 0)); !errors.Is(err, ErrTicket) {
			t.Fatal("trailing byte accepted")
		}
		// A changed version, role, remote peer ID or remote fingerprint
		// is refused: the last two no longer match the bundle.
		remoteOff := 2 + 32 + 32 + 8 + 2 + len(tk.localPeerID) + 2
		fpOff := remoteOff + len(tk.remotePeerID) + 32
		for _, off := range []int{0, 1, remoteOff + 3, fpOff + 5} {
			bad := bytes.Clone(b)
			bad[off] ^= 0x01
			if _, err := ParseTicket(bad); !errors.Is(err, ErrTicket) {
				t.Fatalf("byte %d changed: %v", off, err)
			}
		}
	}
}

// TestResumeEveryByteFlipped flips every byte of every message, one at a
// time. R2 and R3 are refused by their receiver at once. R1 is not
// authenticated when it arrives: a changed ticket ID or version list makes
// the responder answer RETRY (the full handshake follows, which is no
// harm), a changed e_I is accepted and the initiator then refuses R2,
// whose finished MAC covers R1; anything else fails.
func TestResumeEveryByteFlipped(t *testing.T) {
	s := newResumeSetup(t)
	rec := s.record(t)
	idOff := 2 + 2*len(supportedVersions)
	ephOff := idOff + TicketIDSize
	for k, msg := range rec.msgs {
		for pos := range msg {
			bad := bytes.Clone(msg)
			bad[pos] ^= 0xff
			x := rec.receiver(k)
			err := x.ReadMessage(bad)
			if k != 0 {
				checkResumeFailed(t, x, err)
				continue
			}
			switch {
			case err != nil:
				checkResumeFailed(t, x, err)
				if pos >= idOff {
					t.Fatalf("R1 byte %d flipped: %v", pos, err)
				}
			case x.state == rsWriteRetry:
				if pos >= ephOff || pos == 0 {
					t.Fatalf("R1 byte %d flipped: RETRY", pos)
				}
			default:
				if pos < ephOff {
					t.Fatalf("R1 byte %d flipped and accepted", pos)
				}
				r2, err := x.WriteMessage()
				if err != nil {
					t.Fatal(err)
				}
				ini := rec.receiver(1)
				checkResumeFailed(t, ini, ini.ReadMessage(r2))
			}
		}
	}
}

func TestResumeTruncatedAndExtended(t *testing.T) {
	s := newResumeSetup(t)
	rec := s.record(t)
	for k, msg := range rec.msgs {
		for n := range len(msg) {
			x := rec.receiver(k)
			checkResumeFailed(t, x, x.ReadMessage(msg[:n]))
		}
		x := rec.receiver(k)
		checkResumeFailed(t, x, x.ReadMessage(append(bytes.Clone(msg), 0)))
		x = rec.receiver(k)
		checkResumeFailed(t, x, x.ReadMessage(make([]byte, MaxHandshakeMessage+1)))
	}
	// A message out of order, or a full handshake message in its place.
	x := rec.receiver(0)
	checkResumeFailed(t, x, x.ReadMessage(rec.msgs[2]))
	x = rec.receiver(2)
	checkResumeFailed(t, x, x.ReadMessage([]byte{msgTypeRetry}))
}

// refusedBy runs R1 from xi into xr and checks that xr answers RETRY and
// that the initiator then falls back: the downgrade every refusal gives.
func refusedBy(t *testing.T, xi, xr *Resumption) {
	t.Helper()
	r1, err := xi.WriteMessage()
	if err != nil {
		t.Fatal(err)
	}
	if err := xr.ReadMessage(r1); err != nil {
		t.Fatalf("responder failed instead of RETRY: %v", err)
	}
	retry, err := xr.WriteMessage()
	if err != nil || !bytes.Equal(retry, []byte{msgTypeRetry}) || !xr.Fallback() {
		t.Fatalf("responder answer %x, %v", retry, err)
	}
	if err := xi.ReadMessage(retry); err != nil || !xi.Fallback() {
		t.Fatalf("initiator on RETRY: %v", err)
	}
	if _, err := xi.Session(); err == nil {
		t.Fatal("session after fallback")
	}
}

func TestResumeReplayedTicket(t *testing.T) {
	s := newResumeSetup(t)
	take := takeOnce(t, s.issued)
	xi, _ := NewResumeInitiator(s.cfgI, copyTicket(t, s.held), resumeNow)
	xr, _ := NewResumeResponder(s.cfgR, take, resumeNow)
	r1, _ := xi.WriteMessage()
	if err := xr.ReadMessage(r1); err != nil || xr.state != rsWriteR2 {
		t.Fatalf("first use: %v", err)
	}
	// The same ticket again, and the recorded R1 replayed byte for byte.
	xi2, _ := NewResumeInitiator(s.cfgI, copyTicket(t, s.held), resumeNow)
	xr2, _ := NewResumeResponder(s.cfgR, take, resumeNow)
	refusedBy(t, xi2, xr2)
	xr3, _ := NewResumeResponder(s.cfgR, take, resumeNow)
	if err := xr3.ReadMessage(r1); err != nil || xr3.state != rsWriteRetry {
		t.Fatalf("replayed R1: %v, state %v", err, xr3.state)
	}
}

func TestResumeWrongPeers(t *testing.T) {
	s := newResumeSetup(t)
	c := newTestPeerWith(t, 2, nil)
	// a holds a ticket from c: it does not fit a connection to b.
	sa, sc := fullSessions(t, s.a, c)
	heldC, issuedC := ticketPair(t, sc, sa, resumeNow)
	if _, err := NewResumeInitiator(s.cfgI, heldC, resumeNow); !errors.Is(err, ErrTicket) {
		t.Fatalf("ticket from another peer: %v", err)
	}
	// Forced onto the wire anyway, b refuses it, even from a store that
	// hands over c's record.
	forced := func(held *Ticket, cfgI HandshakeConfig) *Resumption {
		x, err := NewResumeInitiator(cfgI, copyTicket(t, held), resumeNow)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	cfgAC, _ := hsConfigs(s.a, c)
	xi := forced(heldC, cfgAC)
	xi.cfg.RemotePeerID = s.b.peerID // the initiator is lied to; b sees the truth
	xr, _ := NewResumeResponder(s.cfgR, takeAlways(t, issuedC), resumeNow)
	refusedBy(t, xi, xr)
	// b's ticket for a, presented by d on its own connection to b: b's
	// record names a, the connection names d.
	d := newTestPeerWith(t, 0, nil) // a's identity, another peer ID
	cfgDI, cfgDR := hsConfigs(d, s.b)
	if _, err := NewResumeInitiator(cfgDI, copyTicket(t, s.held), resumeNow); !errors.Is(err, ErrTicket) {
		t.Fatal("ticket used under another local peer ID")
	}
	xi = forced(s.held, s.cfgI)
	xr, _ = NewResumeResponder(cfgDR, takeAlways(t, s.issued), resumeNow)
	refusedBy(t, xi, xr)
	// A relay splicing a -> b onto d's connection: the transcripts
	// differ, so even a responder that took the ticket fails the MACs.
	xi = forced(s.held, s.cfgI)
	xr, _ = NewResumeResponder(s.cfgR, takeAlways(t, s.issued), resumeNow)
	r1, _ := xi.WriteMessage()
	if err := xr.ReadMessage(r1); err != nil {
		t.Fatal(err)
	}
	xi.tr = newResumeTranscript(d.peerID, s.b.peerID, s.a.id.Fingerprint(), s.b.id.Fingerprint())
	xi.tr.add(r1)
	r2, _ := xr.WriteMessage()
	checkResumeFailed(t, xi, xi.ReadMessage(r2))
}

func TestResumeExpired(t *testing.T) {
	s := newResumeSetup(t)
	later := s.held.Expires()
	if _, err := NewResumeInitiator(s.cfgI, copyTicket(t, s.held), later); !errors.Is(err, ErrTicket) {
		t.Fatalf("expired ticket: %v", err)
	}
	xi, _ := NewResumeInitiator(s.cfgI, copyTicket(t, s.held), later.Add(-time.Second))
	xr, _ := NewResumeResponder(s.cfgR, takeAlways(t, s.issued), later)
	refusedBy(t, xi, xr)
}

func TestResumeAfterKeyChange(t *testing.T) {
	s := newResumeSetup(t)
	// The holder's identity changed (same peer ID, new keys).
	a2 := &testPeer{id: testIdentity(t, 2), host: s.a.host, peerID: s.a.peerID}
	var err error
	if a2.bundle, err = NewBundle(a2.id, a2.peerID, a2.host); err != nil {
		t.Fatal(err)
	}
	cfgI2, cfgR2 := hsConfigs(a2, s.b)
	if _, err := NewResumeInitiator(cfgI2, copyTicket(t, s.held), resumeNow); !errors.Is(err, ErrTicket) {
		t.Fatalf("holder's key changed: %v", err)
	}
	_ = cfgR2
	// The issuer's identity changed.
	b2 := &testPeer{id: testIdentity(t, 2), host: s.b.host, peerID: s.b.peerID}
	if b2.bundle, err = NewBundle(b2.id, b2.peerID, b2.host); err != nil {
		t.Fatal(err)
	}
	_, cfgRb2 := hsConfigs(s.a, b2)
	xi, _ := NewResumeInitiator(s.cfgI, copyTicket(t, s.held), resumeNow)
	xr, _ := NewResumeResponder(cfgRb2, takeAlways(t, s.issued), resumeNow)
	refusedBy(t, xi, xr)
}

func TestResumeNoCommonVersion(t *testing.T) {
	s := newResumeSetup(t)
	xi, xr := s.start(t, resumeNow)
	xi.versions = []uint16{2}
	refusedBy(t, xi, xr)
	// The responder picks a version the initiator would not: refused.
	xi, xr = s.start(t, resumeNow)
	r1, _ := xi.WriteMessage()
	if err := xr.ReadMessage(r1); err != nil {
		t.Fatal(err)
	}
	xr.version = 7
	r2, _ := xr.WriteMessage()
	checkResumeFailed(t, xi, xi.ReadMessage(r2))
}

func TestResumeLowOrderPoint(t *testing.T) {
	s := newResumeSetup(t)
	xi, xr := s.start(t, resumeNow)
	r1, _ := xi.WriteMessage()
	bad := bytes.Clone(r1)
	clear(bad[len(bad)-ephemeralSize:]) // the all-zero point
	checkResumeFailed(t, xr, xr.ReadMessage(bad))
}

// pipeEnds connects two in-process streams.
func pipeEnds() (ci, cr net.Conn) { return net.Pipe() }

// runBoth runs RunInitiator and RunResponder over a pipe.
func runBoth(t *testing.T, cfgI, cfgR HandshakeConfig, held *Ticket, take TicketTaker) (si, sr *Session, ri, rr bool) {
	t.Helper()
	ci, cr := pipeEnds()
	defer ci.Close()
	defer cr.Close()
	var wg sync.WaitGroup
	var errR error
	wg.Go(func() {
		sr, rr, errR = RunResponder(bufio.NewReader(cr), cr, cfgR, take, resumeNow)
		if errR != nil {
			cr.Close()
		}
	})
	si, ri, err := RunInitiator(bufio.NewReader(ci), ci, cfgI, held, resumeNow)
	if err != nil {
		ci.Close()
	}
	wg.Wait()
	if err != nil || errR != nil {
		t.Fatalf("initiator %v, responder %v", err, errR)
	}
	return si, sr, ri, rr
}

func TestRunResumeAndFallback(t *testing.T) {
	s := newResumeSetup(t)
	// Resumed.
	si, sr, ri, rr := runBoth(t, s.cfgI, s.cfgR, copyTicket(t, s.held), takeOnce(t, s.issued))
	if !ri || !rr {
		t.Fatal("not resumed")
	}
	checkSessionsTalk(t, si, sr)
	// The responder holds no ticket (downgrade): RETRY, then the full
	// handshake on the same stream; no error.
	si, sr, ri, rr = runBoth(t, s.cfgI, s.cfgR, copyTicket(t, s.held), func([TicketIDSize]byte) *Ticket { return nil })
	if ri || rr {
		t.Fatal("resumed without a ticket")
	}
	checkSessionsTalk(t, si, sr)
	// No ticket on the initiator, and one that does not fit: the full
	// handshake at once.
	for _, held := range []*Ticket{nil, s.issued} {
		si, sr, ri, rr = runBoth(t, s.cfgI, s.cfgR, held, takeOnce(t, s.issued))
		if ri || rr {
			t.Fatal("resumed")
		}
		checkSessionsTalk(t, si, sr)
	}
}

func TestRunResponderBadFirstMessage(t *testing.T) {
	s := newResumeSetup(t)
	for _, first := range [][]byte{{9}, {msgTypeResume2}, {msgTypeRetry}, {msgTypeResume1, 0}} {
		var in bytes.Buffer
		if err := WriteFrame(&in, first); err != nil {
			t.Fatal(err)
		}
		_, _, err := RunResponder(bufio.NewReader(&in), io.Discard, s.cfgR, takeAlways(t, s.issued), resumeNow)
		if !errors.Is(err, ErrHandshake) {
			t.Fatalf("first message %x: %v", first, err)
		}
	}
}
