package e2e

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"time"
)

// This file holds the resumption handshake (PROTOCOL.md, section
// "Resumption"): one round trip and no RSA operation, from a ticket of the
// last session ([Ticket]) and a fresh X25519 exchange, as TLS 1.3's
// psk_dhe_ke. Its messages are in resume_msgs.go, the stream drivers in
// resume_run.go.
//
//	    initiator (holds the ticket)               responder (issued it)
//	rsWriteR1  --WriteMessage-- R1 -->            rsReadR1  --ReadMessage
//	rsReadR2   <--ReadMessage-- R2 or RETRY <-- WriteMessage-- rsWriteR2 / rsWriteRetry
//	rsWriteR3  --WriteMessage-- R3 -->            rsReadR3  --ReadMessage
//	rsDone                                        rsDone
//
// After RETRY both sides are in rsFallback and run the full handshake on
// the same stream. Any error, and any call in the wrong state, moves to
// rsFailed, which is final.

// resumeLabel opens the resumption transcript. It differs from the full
// handshake's, so no transcript, and so no key, of one is one of the other.
const resumeLabel = "securechat-v1 resume"

type resumeState uint8

const (
	rsFailed resumeState = iota
	rsWriteR1
	rsReadR1
	rsReadR2
	rsWriteR2
	rsWriteRetry
	rsWriteR3
	rsReadR3
	rsFallback
	rsDone
)

func (s resumeState) writes() bool {
	return s == rsWriteR1 || s == rsWriteR2 || s == rsWriteRetry || s == rsWriteR3
}

// A TicketTaker is the responder's store of the tickets it issued: it
// removes and returns the one ticket outstanding for the connection's
// remote peer, or nil if there is none. It is called at most once per
// resumption, whatever the ticket ID (the resumption checks it), so a
// ticket is gone once presented: it can never serve twice.
type TicketTaker func(id [TicketIDSize]byte) *Ticket

// A Resumption is one side of the resumption handshake. Drive it with
// [RunInitiator] and [RunResponder], or message by message. It is not safe
// for concurrent use.
type Resumption struct {
	cfg       HandshakeConfig
	initiator bool
	state     resumeState
	versions  []uint16
	rand      io.Reader
	now       time.Time
	take      TicketTaker

	ticket  *Ticket
	peer    *Bundle
	eph     *ecdh.PrivateKey
	ephPub  [ephemeralSize]byte
	peerEph *ecdh.PublicKey
	dh      [32]byte
	version uint16
	tr      transcript
	keys    keySchedule

	session    *Session
	sessionErr error
}

// NewResumeInitiator starts a resumption with t, the holder's ticket for
// the peer at cfg.RemotePeerID. It returns [ErrTicket] when t does not fit:
// expired, made for other peer IDs, or before a change of our identity.
// The caller then drops t and runs the full handshake.
func NewResumeInitiator(cfg HandshakeConfig, t *Ticket, now time.Time) (*Resumption, error) {
	if err := checkHandshakeConfig(cfg); err != nil {
		return nil, err
	}
	if t == nil || !t.fits(ticketHolder, cfg.LocalPeerID, cfg.RemotePeerID, cfg.Identity.Fingerprint(), now) {
		return nil, ErrTicket
	}
	peer, err := parseKnownBundle(t.peerBundle)
	if err != nil {
		return nil, ErrTicket
	}
	x, err := newResumption(cfg, true, now)
	if err != nil {
		return nil, err
	}
	x.ticket, x.peer = t, peer
	x.tr = newResumeTranscript(cfg.LocalPeerID, cfg.RemotePeerID, t.localFP, t.remoteFP)
	x.state = rsWriteR1
	return x, nil
}

// NewResumeResponder starts the responder's side of a resumption. take
// hands over the ticket the initiator presents; a nil take holds none.
func NewResumeResponder(cfg HandshakeConfig, take TicketTaker, now time.Time) (*Resumption, error) {
	if err := checkHandshakeConfig(cfg); err != nil {
		return nil, err
	}
	x, err := newResumption(cfg, false, now)
	if err != nil {
		return nil, err
	}
	x.take = take
	x.state = rsReadR1
	return x, nil
}

func newResumption(cfg HandshakeConfig, initiator bool, now time.Time) (*Resumption, error) {
	cfg.LocalPeerID = append([]byte(nil), cfg.LocalPeerID...)
	cfg.RemotePeerID = append([]byte(nil), cfg.RemotePeerID...)
	x := &Resumption{cfg: cfg, initiator: initiator, versions: supportedVersions, rand: cfg.Rand, now: now}
	if x.rand == nil {
		x.rand = rand.Reader
	}
	var err error
	if x.eph, err = newRatchetKey(x.rand); err != nil {
		return nil, fmt.Errorf("e2e: resumption randomness: %w", err)
	}
	copy(x.ephPub[:], x.eph.PublicKey().Bytes())
	return x, nil
}

// newResumeTranscript starts the resumption transcript. As in the full
// handshake the peer IDs come from each side's own view of the connection,
// never from the wire; the fingerprints come from the ticket, so the
// transcript binds both identities the ticket was made between.
func newResumeTranscript(initiatorID, responderID []byte, initiatorFP, responderFP Fingerprint) transcript {
	var b []byte
	b = appendVec16(b, []byte(resumeLabel))
	b = appendVec16(b, []byte(ProtocolID))
	b = appendVec16(b, initiatorID)
	b = appendVec16(b, responderID)
	b = appendVec16(b, initiatorFP[:])
	b = appendVec16(b, responderFP[:])
	return transcript{b: b}
}

// Done reports whether the resumption completed: [Resumption.Session] may
// be called.
func (x *Resumption) Done() bool { return x.state == rsDone }

// Fallback reports whether the responder refused the ticket (it sent, or
// we received, RETRY): both sides then run the full handshake on the same
// stream, starting with its message 1.
func (x *Resumption) Fallback() bool { return x.state == rsFallback }

// fail moves to the final failed state, forgets every secret and returns
// ErrHandshake.
func (x *Resumption) fail() error {
	x.state = rsFailed
	x.forget()
	return ErrHandshake
}

// forget wipes the handshake's secrets and the ticket (used either way).
func (x *Resumption) forget() {
	clear(x.dh[:])
	x.keys.zero()
	if x.ticket != nil {
		x.ticket.Wipe()
	}
	x.ticket, x.eph, x.peerEph, x.peer = nil, nil, nil, nil
}

// WriteMessage returns our next message, to be sent as one frame.
func (x *Resumption) WriteMessage() ([]byte, error) {
	var msg []byte
	var ok bool
	switch x.state {
	case rsWriteR1:
		msg = (&resume1{versions: x.versions, ticketID: x.ticket.id, eph: x.ephPub}).marshal()
		x.tr.add(msg)
		x.state, ok = rsReadR2, true
	case rsWriteR2:
		msg, ok = x.writeR2()
	case rsWriteRetry:
		msg = []byte{msgTypeRetry}
		x.forget()
		x.state, ok = rsFallback, true
	case rsWriteR3:
		fin := finishedMAC(&x.keys.finishedI, x.tr.sum())
		msg = append([]byte{msgTypeResume3}, fin[:]...)
		x.keys.zeroHandshakeKeys()
		x.state, ok = rsDone, true
	}
	if !ok {
		return nil, x.fail()
	}
	return msg, nil
}

// ReadMessage consumes the peer's next message. Every failure is
// [ErrHandshake] and final. A responder that cannot use the presented
// ticket (unknown, used, expired, for other peers or keys, no common
// version) is not failed: its next message is RETRY.
func (x *Resumption) ReadMessage(msg []byte) error {
	if len(msg) > MaxHandshakeMessage {
		return x.fail()
	}
	var ok bool
	switch x.state {
	case rsReadR1:
		ok = x.readR1(msg)
	case rsReadR2:
		ok = x.readR2(msg)
	case rsReadR3:
		ok = x.readR3(msg)
	}
	if !ok {
		return x.fail()
	}
	return nil
}

// readR1 is the responder reading the initiator's hello: it takes the
// presented ticket out of its store (so it is used up whatever follows),
// then checks it.
func (x *Resumption) readR1(b []byte) bool {
	m, ok := parseResume1(b)
	if !ok {
		return false
	}
	var t *Ticket
	if x.take != nil {
		t = x.take(m.ticketID)
	}
	v, vok := chooseVersion(x.versions, m.versions)
	if t == nil || !vok || subtle.ConstantTimeCompare(t.id[:], m.ticketID[:]) != 1 ||
		!t.fits(ticketIssuer, x.cfg.LocalPeerID, x.cfg.RemotePeerID, x.cfg.Identity.Fingerprint(), x.now) {
		if t != nil {
			t.Wipe()
		}
		x.state = rsWriteRetry
		return true
	}
	peer, err := parseKnownBundle(t.peerBundle)
	if err != nil {
		t.Wipe()
		x.state = rsWriteRetry
		return true
	}
	x.ticket, x.peer, x.version = t, peer, v
	x.tr = newResumeTranscript(x.cfg.RemotePeerID, x.cfg.LocalPeerID, t.remoteFP, t.localFP)
	if !x.agree(m.eph[:]) {
		return false
	}
	x.tr.add(b)
	x.state = rsWriteR2
	return true
}

func (x *Resumption) writeR2() ([]byte, bool) {
	m := resume2{version: x.version, versions: x.versions, eph: x.ephPub}
	body := m.marshalBody()
	x.tr.add(body)
	if !x.deriveKeys() {
		return nil, false
	}
	m.finished = finishedMAC(&x.keys.finishedR, x.tr.sum())
	x.tr.add(m.finished[:])
	x.state = rsReadR3
	return append(body, m.finished[:]...), true
}

// readR2 is the initiator reading the responder's answer: RETRY, or its
// ephemeral and finished MAC, which proves it holds the ticket's secret.
func (x *Resumption) readR2(b []byte) bool {
	if len(b) == 1 && b[0] == msgTypeRetry {
		x.forget()
		x.state = rsFallback
		return true
	}
	m, body, ok := parseResume2(b)
	if !ok {
		return false
	}
	if v, ok := chooseVersion(x.versions, m.versions); !ok || v != m.version {
		return false
	}
	x.version = m.version
	if !x.agree(m.eph[:]) {
		return false
	}
	x.tr.add(body)
	if !x.deriveKeys() {
		return false
	}
	want := finishedMAC(&x.keys.finishedR, x.tr.sum())
	if subtle.ConstantTimeCompare(want[:], m.finished[:]) != 1 {
		return false
	}
	x.tr.add(m.finished[:])
	x.state = rsWriteR3
	return true
}

func (x *Resumption) readR3(b []byte) bool {
	if len(b) != 1+finishedSize || b[0] != msgTypeResume3 {
		return false
	}
	want := finishedMAC(&x.keys.finishedI, x.tr.sum())
	if subtle.ConstantTimeCompare(want[:], b[1:]) != 1 {
		return false
	}
	x.keys.zeroHandshakeKeys()
	x.state = rsDone
	return true
}

// agree computes dh = X25519(e, e_peer); a low-order point fails.
func (x *Resumption) agree(peerEph []byte) bool {
	pub, err := ecdh.X25519().NewPublicKey(peerEph)
	if err != nil {
		return false
	}
	dh, err := x.eph.ECDH(pub)
	if err != nil || len(dh) != len(x.dh) {
		return false
	}
	copy(x.dh[:], dh)
	clear(dh)
	x.peerEph = pub
	return true
}

// deriveKeys runs the key schedule with dh || ticket secret as input keying
// material over the transcript through R2's body, then forgets dh and the
// ticket.
func (x *Resumption) deriveKeys() bool {
	var ikm [64]byte
	copy(ikm[:32], x.dh[:])
	copy(ikm[32:], x.ticket.secret[:])
	ks, err := deriveFromIKM(ikm[:], x.tr.sum())
	clear(ikm[:])
	clear(x.dh[:])
	x.ticket.Wipe()
	if err != nil {
		return false
	}
	x.keys = ks
	return true
}

// Session returns the resumed session once the resumption is done: the
// same kind of session as the full handshake's, with the peer's bundle as
// the ticket's session verified it.
func (x *Resumption) Session() (*Session, error) {
	if x.state != rsDone {
		return nil, ErrHandshake
	}
	if x.session == nil && x.sessionErr == nil {
		x.session, x.sessionErr = newSession(sessionParams{
			id:          x.keys.sessionID,
			rootKey:     x.keys.rootKey,
			exporter:    x.keys.exporter,
			initiator:   x.initiator,
			ownRatchet:  x.eph,
			peerRatchet: x.peerEph,
			peer:        x.peer,
			local:       x.cfg.Bundle,
			rand:        x.rand,
		})
		clear(x.keys.rootKey[:])
		clear(x.keys.exporter[:])
		if x.sessionErr != nil {
			x.sessionErr = fmt.Errorf("e2e: start session: %w", x.sessionErr)
		}
	}
	return x.session, x.sessionErr
}
