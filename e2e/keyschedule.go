package e2e

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
)

// This file holds the handshake transcript and key schedule. They are kept
// apart from the message logic so that the key schedule can be checked with
// a known-answer vector that involves no RSA randomness at all
// (testdata/handshake_keyschedule.txt).

// Domain-separation labels of the handshake. Every label starts with the
// protocol generation ("securechat-v1") so that a future version can never
// produce a value this version accepts.
const (
	// handshakeLabel opens the transcript prologue.
	handshakeLabel = "securechat-v1 handshake"
	// sigLabelResponder and sigLabelInitiator separate the two handshake
	// signatures, so that one side's signature is never valid as the
	// other's (reflection), nor as a bundle signature.
	sigLabelResponder = "securechat-v1 handshake responder"
	sigLabelInitiator = "securechat-v1 handshake initiator"
	// wrapLabelResponder and wrapLabelInitiator are the RSA-OAEP labels of
	// the wrapped secrets s_R and s_I.
	wrapLabelResponder = "securechat-v1 handshake secret responder"
	wrapLabelInitiator = "securechat-v1 handshake secret initiator"
	// HKDF-Expand info strings, one per output.
	kdfLabelFinishedI = "securechat-v1 finished initiator"
	kdfLabelFinishedR = "securechat-v1 finished responder"
	kdfLabelRootKey   = "securechat-v1 root key"
	kdfLabelSessionID = "securechat-v1 session id"
	// kdfLabelExporter derives the session's exporter secret, the one
	// secret from which keys for use outside the ratchet (file transfer)
	// are derived (exporter.go).
	kdfLabelExporter = "securechat-v1 exporter"
)

// transcript is the byte string both sides hash. It is kept whole rather
// than as a running hash state: at most four messages under 8 KiB each, it
// is cheap to rehash, and a plain byte slice is trivial to reason about.
//
// Layout: vec16(handshakeLabel) || vec16(ProtocolID) || vec16(initiator peer
// ID) || vec16(responder peer ID), then each added element as a vec16. The
// length prefixes make the encoding injective, so two different histories
// never hash alike.
type transcript struct {
	b []byte
}

// newTranscript starts a transcript with the prologue. The peer IDs come
// from each side's own view of the authenticated connection, never from the
// wire: if a relay sits between two parties, their prologues differ and no
// signature made for one verifies for the other.
func newTranscript(initiatorID, responderID []byte) transcript {
	var b []byte
	b = appendVec16(b, []byte(handshakeLabel))
	b = appendVec16(b, []byte(ProtocolID))
	b = appendVec16(b, initiatorID)
	b = appendVec16(b, responderID)
	return transcript{b: b}
}

// add appends one element. Elements are handshake messages or parts of
// them, all bounded by MaxHandshakeMessage, so the vec16 never overflows.
func (t *transcript) add(p []byte) { t.b = appendVec16(t.b, p) }

// sum returns SHA-256 of the transcript so far.
func (t *transcript) sum() [32]byte { return sha256.Sum256(t.b) }

// keySchedule holds what the key schedule derives from the handshake
// secrets. master and the finished keys live only for the handshake; the
// root key and session ID go to the session.
type keySchedule struct {
	master    [32]byte
	finishedI [32]byte // key of the initiator's finished MAC
	finishedR [32]byte // key of the responder's finished MAC
	rootKey   [32]byte // first root key of the Double Ratchet
	sessionID [32]byte // public name of the session, used as AEAD context
	exporter  [32]byte // exporter secret, kept by the session for file keys
}

// errKeySchedule never reaches callers: the handshake turns it into
// ErrHandshake like every other failure.
var errKeySchedule = errors.New("e2e: key schedule failed")

// deriveKeys runs the key schedule:
//
//	master    = HKDF-Extract(SHA-256, salt = th, ikm = dh || s_I || s_R)
//	finishedI = HKDF-Expand(master, "securechat-v1 finished initiator", 32)
//	finishedR = HKDF-Expand(master, "securechat-v1 finished responder", 32)
//	rootKey   = HKDF-Expand(master, "securechat-v1 root key", 32)
//	sessionID = HKDF-Expand(master, "securechat-v1 session id", 32)
//	exporter  = HKDF-Expand(master, "securechat-v1 exporter", 32)
//
// th is the transcript hash through the initiator's signature, so the keys
// are bound to everything both sides signed. The X25519 output gives forward
// secrecy; s_I and s_R, each readable only by the holder of an RSA wrap key,
// make the keys depend on both long-term identities as well, so an attacker
// must break both the ephemeral exchange and an identity.
func deriveKeys(dh, sI, sR *[32]byte, th [32]byte) (keySchedule, error) {
	var ikm [96]byte
	copy(ikm[0:32], dh[:])
	copy(ikm[32:64], sI[:])
	copy(ikm[64:96], sR[:])
	ks, err := deriveFromIKM(ikm[:], th)
	clear(ikm[:])
	return ks, err
}

// deriveFromIKM is the key schedule from its input keying material: the
// full handshake's dh || s_I || s_R, or resumption's dh || ticket secret
// (resume.go). The transcripts of the two begin with different labels, so
// their salts, and so all their keys, never coincide.
func deriveFromIKM(ikm []byte, th [32]byte) (keySchedule, error) {
	var ks keySchedule
	prk, err := hkdf.Extract(sha256.New, ikm, th[:])
	if err != nil || len(prk) != len(ks.master) {
		return ks, errKeySchedule
	}
	copy(ks.master[:], prk)
	clear(prk)
	outs := []struct {
		label string
		dst   *[32]byte
	}{
		{kdfLabelFinishedI, &ks.finishedI},
		{kdfLabelFinishedR, &ks.finishedR},
		{kdfLabelRootKey, &ks.rootKey},
		{kdfLabelSessionID, &ks.sessionID},
		{kdfLabelExporter, &ks.exporter},
	}
	for _, o := range outs {
		k, err := hkdf.Expand(sha256.New, ks.master[:], o.label, 32)
		if err != nil {
			ks.zero()
			return keySchedule{}, errKeySchedule
		}
		copy(o.dst[:], k)
		clear(k)
	}
	return ks, nil
}

// zeroHandshakeKeys forgets the keys only the handshake needs.
func (ks *keySchedule) zeroHandshakeKeys() {
	clear(ks.master[:])
	clear(ks.finishedI[:])
	clear(ks.finishedR[:])
}

// zero forgets every derived key.
func (ks *keySchedule) zero() {
	ks.zeroHandshakeKeys()
	clear(ks.rootKey[:])
	clear(ks.sessionID[:])
	clear(ks.exporter[:])
}

// finishedMAC is HMAC-SHA256(key, th): the "finished" value that proves its
// sender derived the same keys from the same transcript, and so holds the
// RSA wrap key that opened the peer's secret (key confirmation).
func finishedMAC(key *[32]byte, th [32]byte) [32]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(th[:])
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// agree computes dh = X25519(e, e_peer). crypto/ecdh refuses an all-zero
// result, which is what every low-order point gives, so a peer cannot force
// a known shared secret.
func (h *Handshake) agree(peerEph []byte) bool {
	pub, err := ecdh.X25519().NewPublicKey(peerEph)
	if err != nil {
		return false
	}
	dh, err := h.eph.ECDH(pub)
	if err != nil || len(dh) != len(h.dh) {
		return false
	}
	copy(h.dh[:], dh)
	clear(dh)
	h.peerEph = pub
	return true
}

// deriveKeys runs the key schedule over the transcript through the
// initiator's signature, then forgets the inputs it no longer needs.
func (h *Handshake) deriveKeys() error {
	sI, sR := &h.secret, &h.peerSecret
	if !h.initiator {
		sI, sR = sR, sI
	}
	ks, err := deriveKeys(&h.dh, sI, sR, h.tr.sum())
	clear(h.secret[:])
	clear(h.peerSecret[:])
	clear(h.dh[:])
	if err != nil {
		return err
	}
	h.keys = ks
	return nil
}
