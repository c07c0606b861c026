package e2e

import (
	"bufio"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"time"
)

// ProtocolID is the libp2p protocol of the chat stream. It is also the
// second element of every handshake transcript, so a handshake made for
// another protocol never verifies here.
const ProtocolID = "/securechat/1.0.0"

// MaxHandshakeMessage is the largest handshake message accepted (8 KiB). It is
// checked before a message is parsed, and [Handshake.Run] reads frames with
// this bound, so a peer cannot make us buffer more during the handshake.
const MaxHandshakeMessage = 8 << 10

// HandshakeTimeout bounds a whole handshake. The e2e package has no clock of
// its own: the caller sets a stream deadline of this length before
// [Handshake.Run], so a peer that sends one byte a second is cut off.
const HandshakeTimeout = 10 * time.Second

// ErrHandshake is the one error for every handshake failure that a peer can
// cause: malformed or oversized messages, bad signatures, secrets that do not
// unwrap, refused keys, wrong peer IDs, low-order X25519 points, version
// mismatches and wrong finished MACs all look the same, so a peer learns
// nothing about which check it failed. Misuse (calls out of order) also
// returns it.
var ErrHandshake = errors.New("e2e: handshake failed")

// HandshakeConfig is what one side brings to a handshake.
type HandshakeConfig struct {
	// Identity is our long-term RSA identity.
	Identity *Identity
	// Bundle is our own bundle, made by [NewBundle] for Identity and
	// LocalPeerID.
	Bundle *Bundle
	// LocalPeerID and RemotePeerID are the binary libp2p peer IDs of the
	// two ends of the authenticated connection, as our side of that
	// connection sees them. They are never taken from the wire: binding
	// them into the transcript is what stops a relay from splicing two
	// handshakes (identity misbinding).
	LocalPeerID, RemotePeerID []byte
	// VerifyHost checks the host signature of the peer's bundle.
	VerifyHost HostVerifier
	// Rand is the source of ephemeral keys, nonces and secrets. Nil means
	// crypto/rand; only tests set it.
	Rand io.Reader
}

// handshakeState is the position of a [Handshake]: the next call it expects.
//
//	      initiator                                   responder
//	  stateWriteMsg1 --WriteMessage-- msg1 -->      stateReadMsg1 --ReadMessage
//	  stateReadMsg2  <--ReadMessage-- msg2 <-- WriteMessage-- stateWriteMsg2
//	  stateWriteMsg3 --WriteMessage-- msg3 -->      stateReadMsg3 --ReadMessage
//	  stateReadMsg4  <--ReadMessage-- msg4 <-- WriteMessage-- stateWriteMsg4
//	  stateDone                                     stateDone
//
//	Any error, and any call in the wrong state, moves to stateFailed, which
//	is final: a handshake is never resumed after a failure.
type handshakeState uint8

const (
	stateFailed handshakeState = iota // the zero value: an unset Handshake is unusable
	stateWriteMsg1
	stateReadMsg1
	stateReadMsg2
	stateWriteMsg2
	stateWriteMsg3
	stateReadMsg3
	stateReadMsg4
	stateWriteMsg4
	stateDone
)

var stateNames = [...]string{
	stateFailed:    "failed",
	stateWriteMsg1: "write message 1",
	stateReadMsg1:  "read message 1",
	stateReadMsg2:  "read message 2",
	stateWriteMsg2: "write message 2",
	stateWriteMsg3: "write message 3",
	stateReadMsg3:  "read message 3",
	stateReadMsg4:  "read message 4",
	stateWriteMsg4: "write message 4",
	stateDone:      "done",
}

// String names the state.
func (s handshakeState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("handshakeState(%d)", s)
}

func (s handshakeState) writes() bool {
	return s == stateWriteMsg1 || s == stateWriteMsg2 || s == stateWriteMsg3 || s == stateWriteMsg4
}

// A Handshake is one side of the four-message handshake that authenticates
// both identities and derives a [Session]. Drive it with [Handshake.Run], or
// message by message with WriteMessage and ReadMessage in the order of the
// diagram on handshakeState. A Handshake is not safe for concurrent use.
type Handshake struct {
	cfg       HandshakeConfig
	initiator bool
	state     handshakeState
	versions  []uint16 // our version list; supportedVersions outside tests
	rand      io.Reader

	eph        *ecdh.PrivateKey
	ephPub     [ephemeralSize]byte // the bytes we send as our ephemeral
	nonce      [nonceSize]byte
	secret     [secretSize]byte // our s_I or s_R
	peerSecret [secretSize]byte // the peer's, once unwrapped
	dh         [32]byte
	peerEph    *ecdh.PublicKey
	peer       *Bundle // parsed and verified, but the peer is proven only at done
	version    uint16  // negotiated version
	msg3       *msg3   // initiator: wrapped s_I and sig_I, made while reading msg 2

	tr   transcript
	keys keySchedule

	session    *Session
	sessionErr error
}

// NewInitiator starts the handshake of the side that dialled the connection.
// Its first call is WriteMessage.
func NewInitiator(cfg HandshakeConfig) (*Handshake, error) {
	return newHandshake(cfg, true)
}

// NewResponder starts the handshake of the side that accepted the
// connection. Its first call is ReadMessage.
func NewResponder(cfg HandshakeConfig) (*Handshake, error) {
	return newHandshake(cfg, false)
}

// checkHandshakeConfig refuses a config that cannot make a handshake (or a
// resumption, resume.go): the caller's mistake, not the peer's.
func checkHandshakeConfig(cfg HandshakeConfig) error {
	switch {
	case cfg.Identity == nil || cfg.Bundle == nil || cfg.VerifyHost == nil:
		return errors.New("e2e: handshake config lacks identity, bundle or host verifier")
	case !cfg.Bundle.Identity().Equal(cfg.Identity.Public()):
		return errors.New("e2e: handshake config: bundle is not for this identity")
	case subtle.ConstantTimeCompare(cfg.Bundle.PeerID(), cfg.LocalPeerID) != 1:
		return errors.New("e2e: handshake config: bundle is not for the local peer ID")
	case len(cfg.RemotePeerID) == 0 || len(cfg.RemotePeerID) > maxPeerIDLen:
		return errors.New("e2e: handshake config: remote peer ID out of range")
	case subtle.ConstantTimeCompare(cfg.LocalPeerID, cfg.RemotePeerID) == 1:
		// libp2p never connects a host to itself; refusing it here also
		// rules out reflecting our own messages back to us.
		return errors.New("e2e: handshake config: remote peer is the local peer")
	}
	return nil
}

func newHandshake(cfg HandshakeConfig, initiator bool) (*Handshake, error) {
	if err := checkHandshakeConfig(cfg); err != nil {
		return nil, err
	}
	cfg.LocalPeerID = append([]byte(nil), cfg.LocalPeerID...)
	cfg.RemotePeerID = append([]byte(nil), cfg.RemotePeerID...)
	h := &Handshake{cfg: cfg, initiator: initiator, versions: supportedVersions, rand: cfg.Rand}
	if h.rand == nil {
		h.rand = rand.Reader
	}
	var seed [32]byte
	_, err := io.ReadFull(h.rand, seed[:])
	if err == nil {
		h.eph, err = ecdh.X25519().NewPrivateKey(seed[:])
	}
	clear(seed[:])
	if err == nil {
		_, err = io.ReadFull(h.rand, h.nonce[:])
	}
	if err == nil {
		_, err = io.ReadFull(h.rand, h.secret[:])
	}
	if err != nil {
		return nil, fmt.Errorf("e2e: handshake randomness: %w", err)
	}
	copy(h.ephPub[:], h.eph.PublicKey().Bytes())
	if initiator {
		h.tr = newTranscript(cfg.LocalPeerID, cfg.RemotePeerID)
		h.state = stateWriteMsg1
	} else {
		h.tr = newTranscript(cfg.RemotePeerID, cfg.LocalPeerID)
		h.state = stateReadMsg1
	}
	return h, nil
}

// Done reports whether the handshake has completed: the peer is
// authenticated and [Handshake.Session] may be called.
func (h *Handshake) Done() bool { return h.state == stateDone }

// PeerBundle returns the peer's bundle once the handshake is done, and nil
// before: until then the peer has not proven that the bundle is its own.
func (h *Handshake) PeerBundle() *Bundle {
	if h.state != stateDone {
		return nil
	}
	return h.peer
}

// fail moves to the final failed state, forgets every secret and returns
// ErrHandshake.
func (h *Handshake) fail() error {
	h.state = stateFailed
	clear(h.secret[:])
	clear(h.peerSecret[:])
	clear(h.dh[:])
	h.keys.zero()
	h.eph, h.peerEph, h.peer, h.msg3 = nil, nil, nil, nil
	return ErrHandshake
}

// WriteMessage returns our next handshake message, to be sent to the peer
// as one frame.
func (h *Handshake) WriteMessage() ([]byte, error) {
	var msg []byte
	var err error
	switch h.state {
	case stateWriteMsg1:
		msg = h.writeMsg1()
	case stateWriteMsg2:
		msg, err = h.writeMsg2()
	case stateWriteMsg3:
		msg, err = h.writeMsg3()
	case stateWriteMsg4:
		msg = h.writeMsg4()
	default:
		return nil, h.fail()
	}
	if err != nil || len(msg) > MaxHandshakeMessage {
		return nil, h.fail()
	}
	return msg, nil
}

// ReadMessage consumes the peer's next handshake message. Every failure is
// [ErrHandshake] and leaves the handshake failed for good.
func (h *Handshake) ReadMessage(msg []byte) error {
	// The size is checked before any parsing, whatever the caller did.
	if len(msg) > MaxHandshakeMessage {
		return h.fail()
	}
	var ok bool
	switch h.state {
	case stateReadMsg1:
		ok = h.readMsg1(msg)
	case stateReadMsg2:
		ok = h.readMsg2(msg)
	case stateReadMsg3:
		ok = h.readMsg3(msg)
	case stateReadMsg4:
		ok = h.readMsg4(msg)
	}
	if !ok {
		return h.fail()
	}
	return nil
}

// Session returns the session the handshake established. It fails unless
// the handshake is done. The session is made once and owns the handshake's
// ratchet keys, so every call returns the same session.
func (h *Handshake) Session() (*Session, error) {
	if h.state != stateDone {
		return nil, ErrHandshake
	}
	if h.session == nil && h.sessionErr == nil {
		h.session, h.sessionErr = newSession(sessionParams{
			id:          h.keys.sessionID,
			rootKey:     h.keys.rootKey,
			exporter:    h.keys.exporter,
			initiator:   h.initiator,
			ownRatchet:  h.eph,
			peerRatchet: h.peerEph,
			peer:        h.peer,
			local:       h.cfg.Bundle,
			rand:        h.rand,
		})
		clear(h.keys.rootKey[:])
		clear(h.keys.exporter[:])
		if h.sessionErr != nil {
			h.sessionErr = fmt.Errorf("e2e: start session: %w", h.sessionErr)
		}
	}
	return h.session, h.sessionErr
}

// Run drives the handshake to its end over a stream: each message travels
// as one frame ([WriteFrame]), and incoming frames are read with
// [ReadFrame] bounded by [MaxHandshakeMessage]. Run has no timeout of its
// own; the caller sets a deadline ([HandshakeTimeout]) on the stream first.
func (h *Handshake) Run(r *bufio.Reader, w io.Writer) (*Session, error) {
	for h.state != stateDone {
		if h.state.writes() {
			msg, err := h.WriteMessage()
			if err != nil {
				return nil, err
			}
			if err := WriteFrame(w, msg); err != nil {
				h.fail()
				return nil, fmt.Errorf("e2e: write handshake message: %w", err)
			}
			continue
		}
		if h.state == stateFailed {
			return nil, ErrHandshake
		}
		msg, err := ReadFrame(r, MaxHandshakeMessage)
		if err != nil {
			h.fail()
			// Frame errors (too large, malformed) count as handshake
			// failures, and still say whether the stream simply ended.
			if errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrBadFrame) {
				return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
			}
			return nil, fmt.Errorf("e2e: read handshake message: %w", err)
		}
		if err := h.ReadMessage(msg); err != nil {
			return nil, err
		}
	}
	return h.Session()
}

func (h *Handshake) writeMsg1() []byte {
	m := msg1{versions: h.versions, eph: h.ephPub, nonce: h.nonce, bundle: h.cfg.Bundle.Bytes()}
	b := m.marshal()
	h.tr.add(b)
	h.state = stateReadMsg2
	return b
}

// readMsg1 is the responder reading the initiator's hello. Nothing in it is
// signed yet; the initiator signs it (inside the transcript) in message 3.
func (h *Handshake) readMsg1(b []byte) bool {
	m, ok := parseMsg1(b)
	if !ok {
		return false
	}
	if h.version, ok = chooseVersion(h.versions, m.versions); !ok {
		return false
	}
	if !h.acceptBundle(m.bundle) || !h.agree(m.eph[:]) {
		return false
	}
	h.tr.add(b)
	h.state = stateWriteMsg2
	return true
}

func (h *Handshake) writeMsg2() ([]byte, error) {
	wrapped, err := h.peer.Identity().wrap(wrapLabelResponder, h.secret[:])
	if err != nil {
		return nil, err
	}
	m := msg2{version: h.version, versions: h.versions, eph: h.ephPub, nonce: h.nonce,
		bundle: h.cfg.Bundle.Bytes(), wrapped: wrapped}
	body := m.marshalBody()
	h.tr.add(body)
	th := h.tr.sum()
	if m.sig, err = h.cfg.Identity.sign(sigLabelResponder, th[:]); err != nil {
		return nil, err
	}
	h.tr.add(m.sig)
	h.state = stateReadMsg3
	return m.marshal(), nil
}

// readMsg2 is the initiator reading the responder's signed hello. The order
// of checks matters: the signature, a public-key operation, is checked
// before the wrapped secret is opened with our private key, so unsigned
// garbage never reaches RSA decryption.
func (h *Handshake) readMsg2(b []byte) bool {
	m, body, ok := parseMsg2(b)
	if !ok {
		return false
	}
	// The responder must pick the highest version we both list. Both lists
	// are in the signed transcript, so a change to either fails below.
	if v, ok := chooseVersion(h.versions, m.versions); !ok || v != m.version {
		return false
	}
	h.version = m.version
	if !h.acceptBundle(m.bundle) {
		return false
	}
	h.tr.add(body)
	th := h.tr.sum()
	if h.peer.Identity().verify(sigLabelResponder, th[:], m.sig) != nil {
		return false
	}
	h.tr.add(m.sig)
	if !h.agree(m.eph[:]) {
		return false
	}
	// Unwrap s_R and sign message 3 at once (handshake_parallel.go).
	if !h.unwrapAndPrepareMsg3(m.wrapped) {
		return false
	}
	h.state = stateWriteMsg3
	return true
}

// writeMsg3 sends what readMsg2 prepared: the wrapped s_I and sig_I, then
// the finished MAC, which needs the keys and so s_R.
func (h *Handshake) writeMsg3() ([]byte, error) {
	m := h.msg3
	h.msg3 = nil
	if m == nil {
		return nil, ErrHandshake
	}
	h.tr.add(m.marshalBody())
	h.tr.add(m.sig)
	if err := h.deriveKeys(); err != nil {
		return nil, err
	}
	m.finished = finishedMAC(&h.keys.finishedI, h.tr.sum())
	h.tr.add(m.finished[:])
	h.state = stateReadMsg4
	return m.marshal(), nil
}

// readMsg3 is the responder reading the initiator's signature and finished
// MAC; as in readMsg2 the signature is checked before any decryption.
func (h *Handshake) readMsg3(b []byte) bool {
	m, body, ok := parseMsg3(b)
	if !ok {
		return false
	}
	h.tr.add(body)
	th := h.tr.sum()
	if h.peer.Identity().verify(sigLabelInitiator, th[:], m.sig) != nil {
		return false
	}
	h.tr.add(m.sig)
	s, err := h.cfg.Identity.unwrap(wrapLabelInitiator, m.wrapped, secretSize)
	if err != nil {
		return false
	}
	copy(h.peerSecret[:], s)
	clear(s)
	if h.deriveKeys() != nil {
		return false
	}
	want := finishedMAC(&h.keys.finishedI, h.tr.sum())
	if subtle.ConstantTimeCompare(want[:], m.finished[:]) != 1 {
		return false
	}
	h.tr.add(m.finished[:])
	h.state = stateWriteMsg4
	return true
}

func (h *Handshake) writeMsg4() []byte {
	m := msg4{finished: finishedMAC(&h.keys.finishedR, h.tr.sum())}
	h.keys.zeroHandshakeKeys()
	h.state = stateDone
	return m.marshal()
}

func (h *Handshake) readMsg4(b []byte) bool {
	m, ok := parseMsg4(b)
	if !ok {
		return false
	}
	want := finishedMAC(&h.keys.finishedR, h.tr.sum())
	if subtle.ConstantTimeCompare(want[:], m.finished[:]) != 1 {
		return false
	}
	h.keys.zeroHandshakeKeys()
	h.state = stateDone
	return true
}

// acceptBundle parses and verifies the peer's bundle (key policy first, then
// both signatures) and checks that it names the peer we are connected to:
// a valid bundle replayed by another node is refused here.
func (h *Handshake) acceptBundle(b []byte) bool {
	bundle, err := ParseBundle(b, h.cfg.VerifyHost)
	if err != nil || subtle.ConstantTimeCompare(bundle.PeerID(), h.cfg.RemotePeerID) != 1 {
		return false
	}
	h.peer = bundle
	return true
}
