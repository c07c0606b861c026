package e2e

import (
	"crypto/ecdh"
	"errors"
	"io"
)

// This file holds the Double Ratchet's key derivations (Signal, "The Double
// Ratchet Algorithm", revision 1, 2016, section 5.2) and the state they act
// on. The record format and the rules about which record may come next live
// in record.go and session.go.

// Domain-separation labels of the ratchet. Like every label of the protocol
// they start with the protocol generation, so a future version can never
// derive a key this version uses.
const (
	// ratchetRootLabel is the HKDF info of KDF_RK.
	ratchetRootLabel = "securechat-v1 ratchet root"
	// ratchetMessageLabel is the HKDF info that expands a message key into
	// an AES-256-GCM key and nonce.
	ratchetMessageLabel = "securechat-v1 message key"
)

// The HMAC inputs of KDF_CK, as the specification recommends: a message key
// and the next chain key come from the same chain key under different
// constants, so neither reveals the other.
const (
	chainMessageByte = 0x01
	chainNextByte    = 0x02
)

// Sizes of the ratchet's keys and of the derived AEAD key and nonce.
const (
	ratchetKeySize = 32 // root, chain and message keys; X25519 keys
	aeadKeySize    = 32 // AES-256
	aeadNonceSize  = 12 // GCM standard nonce
)

// errRatchet never reaches callers: Open turns it into ErrAuth.
var errRatchet = errors.New("e2e: ratchet step failed")

// kdfRK is KDF_RK: HKDF-SHA-256 with the root key as salt and the X25519
// output as input keying material, expanded to a new root key and a new
// chain key. Salting with the old root key chains every DH output into all
// later keys, which is what makes one lost DH secret heal at the next step.
func kdfRK(rk *[32]byte, dhOut []byte) (newRK, ck [32]byte) {
	var out [2 * ratchetKeySize]byte
	hkdfSHA256(out[:], dhOut, rk[:], ratchetRootLabel)
	copy(newRK[:], out[:ratchetKeySize])
	copy(ck[:], out[ratchetKeySize:])
	clear(out[:])
	return newRK, ck
}

// kdfCK is KDF_CK: HMAC-SHA-256 keyed by the chain key, over 0x01 for the
// message key and over 0x02 for the next chain key. HMAC is one-way, so a
// chain key leaked later reveals no earlier message key (forward secrecy
// inside a chain).
func kdfCK(ck *[32]byte) (next, mk [32]byte) {
	mk = hmacSHA256(ck[:], []byte{chainMessageByte})
	next = hmacSHA256(ck[:], []byte{chainNextByte})
	return next, mk
}

// messageKeys expands a message key into the AES-256-GCM key and nonce of
// one record: HKDF-SHA-256 with no salt and ratchetMessageLabel as info, 44
// bytes, key first. Every message key is used for exactly one record, so a
// (key, nonce) pair never repeats even though the nonce is not a counter.
func messageKeys(mk *[32]byte) (key [aeadKeySize]byte, nonce [aeadNonceSize]byte) {
	var out [aeadKeySize + aeadNonceSize]byte
	hkdfSHA256(out[:], mk[:], nil, ratchetMessageLabel)
	copy(key[:], out[:aeadKeySize])
	copy(nonce[:], out[aeadKeySize:])
	clear(out[:])
	return key, nonce
}

// newRatchetKey makes a fresh X25519 key from 32 bytes of rand. Since Go
// 1.26 ecdh.GenerateKey ignores its reader; reading the bytes ourselves keeps
// test vectors deterministic and costs nothing in production, where rand is
// crypto/rand.
func newRatchetKey(rand io.Reader) (*ecdh.PrivateKey, error) {
	var b [ratchetKeySize]byte
	defer clear(b[:])
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPrivateKey(b[:])
}

// ratchetDH is X25519(priv, pub). crypto/ecdh refuses an all-zero output,
// which is what a low-order peer point produces, so a peer cannot force a
// known shared secret.
func ratchetDH(priv *ecdh.PrivateKey, pub *[32]byte) ([]byte, error) {
	if priv == nil {
		return nil, errRatchet
	}
	pk, err := ecdh.X25519().NewPublicKey(pub[:])
	if err != nil {
		return nil, errRatchet
	}
	out, err := priv.ECDH(pk)
	if err != nil {
		return nil, errRatchet
	}
	return out, nil
}

// ratchetState is everything a session changes while it runs. It is a plain
// value (arrays, counters and one pointer to an immutable key), so that Open
// and Seal can work on a copy and commit it with one assignment only once
// the record authenticates: a bad record cannot change anything.
//
// The sending DH step is taken lazily. The specification makes a new
// sending key pair as soon as a new peer key arrives; we make it when we next
// send, which puts the same bytes on the wire but means a state that leaks
// between a receive and the next send holds no private key we will use
// later, so healing starts with our very next record. Control records
// ([Session.SealControl]) do not take an owed step: they go out on the
// current sending chain, under sendPub, until a DATA or HEARTBEAT record
// takes it.
type ratchetState struct {
	rk      [32]byte         // root key
	dhs     *ecdh.PrivateKey // own ratchet key; nil while stepOwed
	sendPub [32]byte         // public key of the sending chain, valid if hasSend
	dhr     [32]byte         // peer's current ratchet public key
	cks     [32]byte         // sending chain key, valid if hasSend
	ckr     [32]byte         // receiving chain key, valid if hasRecv
	ns      uint32           // records sent on the sending chain
	nr      uint32           // records received on the receiving chain
	pn      uint32           // records sent on the previous sending chain

	hasRecv  bool // ckr is a live chain for dhr (false for a new initiator)
	hasSend  bool // cks is a live chain under sendPub (false for a new responder)
	stepOwed bool // a new dhr arrived: the next send makes a fresh dhs first

	recvSinceStep uint32 // records received since our last sending step
	sendClosed    bool   // we sent CLOSE
	recvClosed    bool   // the peer sent CLOSE
}

// recvStep is the receiving half of a DH ratchet step: a record carries a
// ratchet key we have not seen, so the peer has seen our current one. The
// old receiving chain ends here (the caller checked that it was read to its
// end) and our own private key is dropped, since no later record can need
// it.
func (st *ratchetState) recvStep(pub *[32]byte) error {
	out, err := ratchetDH(st.dhs, pub)
	if err != nil {
		return err
	}
	st.rk, st.ckr = kdfRK(&st.rk, out)
	clear(out)
	st.dhr = *pub
	st.nr = 0
	st.hasRecv = true
	st.dhs = nil
	st.stepOwed = true
	return nil
}

// sendStep is the sending half of a DH ratchet step: a fresh key pair, a new
// root key and a new sending chain. pn remembers the length of the chain it
// ends, so the peer can check it received all of it.
func (st *ratchetState) sendStep(rand io.Reader) error {
	k, err := newRatchetKey(rand)
	if err != nil {
		return err
	}
	out, err := ratchetDH(k, &st.dhr)
	if err != nil {
		return err
	}
	st.rk, st.cks = kdfRK(&st.rk, out)
	clear(out)
	st.dhs = k
	copy(st.sendPub[:], k.PublicKey().Bytes())
	st.hasSend = true
	st.pn = st.ns
	st.ns = 0
	st.stepOwed = false
	st.recvSinceStep = 0
	return nil
}

// wipe forgets the keys of a state that will not be committed.
func (st *ratchetState) wipe() {
	clear(st.rk[:])
	clear(st.cks[:])
	clear(st.ckr[:])
	st.dhs = nil
}
