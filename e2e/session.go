package e2e

import (
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Session limits and timers.
const (
	// MaxChainLength is the most records one sending chain carries. It is
	// far below 2^32, so a counter can never wrap, and a receiver refuses a
	// larger counter from the header alone, before any key derivation.
	// Honest sessions never come near it: the peer answers with a
	// heartbeat after [HeartbeatAfterMessages], which starts a new chain.
	MaxChainLength = 1 << 20

	// HeartbeatAfterMessages is how many records a side receives without
	// a sending ratchet step (control records do not step) before
	// [Session.HeartbeatDue] asks it to send a heartbeat. Without one, a
	// side that only listens never contributes fresh DH input and a
	// leaked state would never heal.
	HeartbeatAfterMessages = 50

	// HeartbeatInterval is how long a side that has received records may
	// stay silent, or send only control records while [Session.StepOwed],
	// before the caller should send a heartbeat anyway. The session has no
	// clock; the caller keeps this timer.
	HeartbeatInterval = 30 * time.Second
)

// Session errors. Callers branch on them; none carries detail an attacker
// could use.
var (
	// ErrAuth is the one error for every record that fails: forged,
	// tampered, replayed, reordered, dropped before, truncated, malformed
	// or of unknown type. After it the session is dead.
	ErrAuth = errors.New("e2e: message authentication failed")
	// ErrClosed is returned for sending after either side sent CLOSE, and
	// for receiving after the peer's CLOSE.
	ErrClosed = errors.New("e2e: session closed")
	// ErrCounterLimit is returned by Seal when the sending chain holds
	// MaxChainLength records and the peer has not yet started a new one.
	ErrCounterLimit = errors.New("e2e: record counter limit reached")
)

// Errors of Seal that are the caller's mistake, not the peer's.
var (
	errEmptyPlaintext = errors.New("e2e: empty plaintext")
	errPlaintextSize  = errors.New("e2e: plaintext too large for one record")
)

// sessionParams is what a finished handshake hands to the ratchet.
type sessionParams struct {
	id          [32]byte         // session ID, from the key schedule
	rootKey     [32]byte         // initial root key, from the key schedule
	exporter    [32]byte         // exporter secret, from the key schedule
	initiator   bool             // true on the dialer's side
	ownRatchet  *ecdh.PrivateKey // own handshake ephemeral: e_I or e_R
	peerRatchet *ecdh.PublicKey  // peer's handshake ephemeral
	peer        *Bundle          // the peer's verified bundle
	local       *Bundle          // our own bundle: names our side in tickets (ticket.go)
	rand        io.Reader        // crypto/rand in production
}

// sessionHooks let tests observe key derivation. They are nil in
// production and called with the session's lock held.
type sessionHooks struct {
	kdf     func()                                        // every DH, KDF_RK, KDF_CK or message key expansion
	sealKey func(key [32]byte, nonce [aeadNonceSize]byte) // every AEAD key and nonce Seal uses
}

// A Session is an established end-to-end session: a Double Ratchet over
// AES-256-GCM records, one per message. Records must be opened in the order
// they were sealed, exactly once each; libp2p streams are ordered, so
// anything else is an attack and ends the session.
//
// A Session is safe for concurrent use. After Open fails once, every call
// fails: a session that saw a forged record is never trusted again.
type Session struct {
	id        [32]byte
	initiator bool
	peer      *Bundle
	local     *Bundle // our own bundle, for resumption tickets (ticket.go)
	rand      io.Reader
	hooks     *sessionHooks

	mu  sync.Mutex
	st  ratchetState
	exp exporter           // file keys; forgotten with the session
	err error              // sticky: set by the first failed Open
	ad  [recordADSize]byte // scratch for the associated data of one record
}

// newSession starts the ratchet from the handshake's root key and
// ephemerals so that both sides can send at once:
//
//	initiator: DHs = e_I, DHr = e_R, (RK, CKs) = KDF_RK(root, DH(e_I, e_R))
//	responder: DHr = e_I, (RK, CKr) = KDF_RK(root, DH(e_R, e_I)),
//	           then, at its first send, a fresh DHs and
//	           (RK, CKs) = KDF_RK(RK, DH(DHs, e_I))
//
// The responder's first record therefore already carries a fresh key, and
// its first chain depends on a DH the handshake never used.
func newSession(p sessionParams) (*Session, error) {
	if p.ownRatchet == nil || p.peerRatchet == nil ||
		p.ownRatchet.Curve() != ecdh.X25519() || p.peerRatchet.Curve() != ecdh.X25519() {
		return nil, errors.New("e2e: session needs two X25519 ephemerals")
	}
	if p.rand == nil {
		p.rand = rand.Reader
	}
	s := &Session{id: p.id, initiator: p.initiator, peer: p.peer, local: p.local, rand: p.rand}
	st := ratchetState{rk: p.rootKey, dhs: p.ownRatchet}
	copy(st.dhr[:], p.peerRatchet.Bytes())
	if p.initiator {
		out, err := ratchetDH(st.dhs, &st.dhr)
		if err != nil {
			return nil, err
		}
		st.rk, st.cks = kdfRK(&st.rk, out)
		clear(out)
		copy(st.sendPub[:], st.dhs.PublicKey().Bytes())
		st.hasSend = true
	} else {
		pub := st.dhr
		if err := st.recvStep(&pub); err != nil {
			return nil, err
		}
	}
	s.exp = newExporter(&p.exporter)
	clear(p.rootKey[:]) // our copies; the handshake clears its own
	clear(p.exporter[:])
	s.st = st
	return s, nil
}

// String names the session by a prefix of its ID. It exists so that
// printing a Session, or logging it, never shows its keys.
func (s *Session) String() string {
	return fmt.Sprintf("e2e.Session(%x)", s.id[:8])
}

// GoString keeps %#v from printing the keys too.
func (s *Session) GoString() string { return s.String() }

// ID returns the session ID the handshake derived. Both sides hold the same
// ID; it names the session and binds every record to it.
func (s *Session) ID() [32]byte { return s.id }

// PeerBundle returns the peer's verified identity bundle.
func (s *Session) PeerBundle() *Bundle { return s.peer }

// Initiator reports whether this side dialled and so ran the handshake as
// initiator.
func (s *Session) Initiator() bool { return s.initiator }

// HeartbeatDue reports whether a ratchet step is owed (the peer sent a new
// ratchet key) and HeartbeatAfterMessages records arrived since this side
// last took a sending step. Records sealed with [Session.SealControl] do
// not step, so a side that only acknowledges still becomes due. The caller
// should then send [Session.SealHeartbeat] (or a DATA record sealed with
// [Session.Seal]), so that the peer ratchets onto a fresh key of ours.
func (s *Session) HeartbeatDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil && !s.st.recvClosed && !s.st.sendClosed &&
		s.st.stepOwed && s.st.recvSinceStep >= HeartbeatAfterMessages
}

// StepOwed reports whether the peer sent a ratchet key that no record of
// ours has yet answered with a fresh key: until [Session.Seal],
// [Session.SealHeartbeat] or [Session.SealClose] takes the step, a state
// leaked from this side keeps reading the peer's records. The caller's
// [HeartbeatInterval] timer runs while it holds.
func (s *Session) StepOwed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err == nil && s.st.stepOwed
}

// Seal encrypts one chat payload of 1 to maxPlaintext bytes (MaxFrameSize
// less 57 bytes of header and tag) into a DATA record. It fails with
// ErrClosed once either side sent CLOSE and with ErrCounterLimit when the
// sending chain is exhausted; a failed Seal changes nothing.
func (s *Session) Seal(plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 {
		return nil, errEmptyPlaintext
	}
	if len(plaintext) > maxPlaintext {
		return nil, errPlaintextSize
	}
	return s.seal(RecordData, plaintext, true)
}

// SealControl encrypts one control payload (a receipt: anything that
// carries no user content) into a DATA record like Seal, except that it
// does not take an owed ratchet step: it uses the current sending chain,
// so that answering each message costs no X25519 work. Only when no
// sending chain exists yet (a responder's first record) or the chain is
// exhausted does it step as Seal does. The record is indistinguishable
// from Seal's on the wire and opens the same way.
//
// Until this side's next Seal, SealHeartbeat or SealClose, its records
// stay on a chain a leaked state can derive; [Session.HeartbeatDue] and
// [Session.StepOwed] count and time that, so healing is only delayed up
// to the heartbeat.
func (s *Session) SealControl(plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 {
		return nil, errEmptyPlaintext
	}
	if len(plaintext) > maxPlaintext {
		return nil, errPlaintextSize
	}
	return s.seal(RecordData, plaintext, false)
}

// SealHeartbeat returns an empty HEARTBEAT record. It carries our current
// ratchet key, which is a fresh one whenever the peer has sent a new key
// since we last stepped, and that gives the peer new DH input to heal from.
func (s *Session) SealHeartbeat() ([]byte, error) { return s.seal(RecordHeartbeat, nil, true) }

// SealClose returns an authenticated CLOSE record and closes the session for
// sending. It may follow the peer's CLOSE, to answer it.
func (s *Session) SealClose() ([]byte, error) { return s.seal(RecordClose, nil, true) }

// seal seals one record. step says whether an owed sending step is taken
// now (Seal, SealHeartbeat, SealClose) or may wait (SealControl), which it
// may only while a sending chain with room exists.
func (s *Session) seal(typ RecordType, pt []byte, step bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	if s.st.sendClosed || (s.st.recvClosed && typ != RecordClose) {
		return nil, ErrClosed
	}
	next := s.st
	if next.stepOwed && (step || !next.hasSend || next.ns >= MaxChainLength) {
		s.hook()
		if err := next.sendStep(s.rand); err != nil {
			next.wipe()
			return nil, fmt.Errorf("e2e: new ratchet key: %w", err)
		}
	}
	if !next.hasSend {
		next.wipe() // unreachable: a side without a chain always owes a step
		return nil, errRatchet
	}
	if next.ns >= MaxChainLength {
		next.wipe()
		return nil, ErrCounterLimit
	}
	h := recordHeader{typ: typ, key: next.sendPub, pn: next.pn, n: next.ns}
	s.hook()
	ck, mk := kdfCK(&next.cks)
	s.hook()
	key, nonce := messageKeys(&mk)
	clear(mk[:])
	if s.hooks != nil && s.hooks.sealKey != nil {
		s.hooks.sealKey(key, nonce)
	}
	rec := sealRecordWith(&s.ad, &h, &s.id, s.direction(true), &key, &nonce, pt)
	clear(key[:])
	next.cks = ck
	clear(ck[:])
	next.ns++
	if typ == RecordClose {
		next.sendClosed = true
	}
	s.st = next
	next.wipe()
	s.forgetExporterIfClosed()
	return rec, nil
}

// Open authenticates and decrypts the next record from the peer. It returns
// the record's type and, for DATA, its payload (nil for HEARTBEAT and
// CLOSE). Every failure is ErrAuth and kills the session; the state is then
// exactly as it was before the bad record. After the peer's CLOSE, Open
// returns ErrClosed.
func (s *Session) Open(record []byte) (RecordType, []byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, nil, s.err
	}
	if s.st.recvClosed {
		return 0, nil, ErrClosed
	}
	typ, pt, ok := s.open(record)
	if !ok {
		s.err = ErrAuth
		s.exp.wipe() // a dead session starts no transfer
		return 0, nil, ErrAuth
	}
	return typ, pt, nil
}

// open is Open's work on a copy of the state. Every check that needs no key
// comes first, so that an absurd counter or a gap costs O(1); the copy is
// committed only after the AEAD accepts the record.
func (s *Session) open(rec []byte) (RecordType, []byte, bool) {
	h, ct, ok := parseRecord(rec)
	if !ok || h.n >= MaxChainLength || h.pn > MaxChainLength {
		return 0, nil, false
	}
	next := s.st
	if next.hasRecv && h.key == next.dhr {
		// Same chain: strictly the next record, nothing skipped.
		if h.n != next.nr {
			return 0, nil, false
		}
	} else {
		// A new peer ratchet key. It is legitimate only as the first record
		// of a new chain, after every record of the previous one (pn), and
		// only if the peer can have seen our current key: while a step is
		// owed we have sent nothing since its last key.
		if next.stepOwed || h.key == next.dhr || h.n != 0 || h.pn != next.nr {
			return 0, nil, false
		}
		s.hook()
		if next.recvStep(&h.key) != nil {
			next.wipe()
			return 0, nil, false
		}
	}
	s.hook()
	ck, mk := kdfCK(&next.ckr)
	s.hook()
	key, nonce := messageKeys(&mk)
	clear(mk[:])
	pt, ok := openRecordWith(&s.ad, rec, ct, &s.id, s.direction(false), &key, &nonce)
	clear(key[:])
	if !ok {
		clear(ck[:])
		next.wipe()
		return 0, nil, false
	}
	next.ckr = ck
	clear(ck[:])
	next.nr++
	next.recvSinceStep++
	switch h.typ {
	case RecordHeartbeat:
		pt = nil
	case RecordClose:
		pt = nil
		next.recvClosed = true
	}
	s.st = next
	next.wipe()
	s.forgetExporterIfClosed()
	return h.typ, pt, true
}

// direction returns the AD direction byte of records we send (sending =
// true) or receive.
func (s *Session) direction(sending bool) byte {
	if s.initiator == sending {
		return dirInitiatorToResponder
	}
	return dirResponderToInitiator
}

func (s *Session) hook() {
	if s.hooks != nil && s.hooks.kdf != nil {
		s.hooks.kdf()
	}
}
