package e2e

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds mailbox envelopes: a message a contact seals to an owner
// who is offline, for a mailbox node to hold until the owner fetches it.
// PROTOCOL.md, section "Mailbox envelopes and prekeys", has the bytes and the
// reasons.
//
//	envelope = header || AES-256-GCM(key, nonce, inner, AD = header)
//	header   = version (1) || envelope ID (16) || prekey ID (8) || ephemeral X25519 public key (32)
//	inner    = vec16(sender IK_sig DER) || vec16(sender IK_enc DER) || u64(created)
//	           || u32(len(plaintext)) || plaintext || vec16(sender signature) || zero padding
//
// The whole envelope is padded to a power of two between MinEnvelopeSize and
// MaxEnvelopeSize.

// Envelope sizes.
const (
	// MinEnvelopeSize and MaxEnvelopeSize are the smallest and largest size
	// buckets. Every envelope is exactly a power of two between them, so a
	// mailbox learns the bucket of a message, not its length.
	MinEnvelopeSize = 1 << 10
	MaxEnvelopeSize = 128 << 10
	// MaxEnvelopePlaintext is the largest plaintext one envelope carries: a
	// chat text of 64 KiB and room for the payload's own header. With the
	// sender's identity and signature (at most 1.7 KB) it still fits in
	// the largest bucket.
	MaxEnvelopePlaintext = 64<<10 + 512
)

const (
	envelopeVersion    = 1
	envelopeIDSize     = 16
	envelopeHeaderSize = 1 + envelopeIDSize + 8 + 32
	envelopeTagSize    = 16
)

// Labels of the envelope. The context label opens the byte string that both
// the key schedule and the sender's signature cover; the other two separate
// the signature and the HKDF output from every other use.
const (
	envelopeContextLabel = "securechat-v1 envelope"
	envelopeSigLabel     = "securechat-v1 envelope sender"
	envelopeKeyLabel     = "securechat-v1 envelope key"
)

// ErrEnvelope is the one error [OpenEnvelope] returns, whatever failed: a
// wrong size or version, an unknown prekey, a bad tag, a malformed inside, a
// sender key outside the policy or a bad sender signature all look the same.
var ErrEnvelope = errors.New("e2e: envelope authentication failed")

// An EnvelopeID is 16 random bytes the sender draws for every envelope. It
// travels in clear (authenticated) so that the owner can refuse a replay
// before any cryptography, and the mailbox can name the envelope.
type EnvelopeID [envelopeIDSize]byte

// String returns the ID as 32 lower-case hex digits.
func (id EnvelopeID) String() string { return hex.EncodeToString(id[:]) }

// An OpenedEnvelope is what [OpenEnvelope] found in an authentic envelope.
type OpenedEnvelope struct {
	// ID is the envelope ID. OpenEnvelope is a pure function: it opens the
	// same envelope every time. The owner must keep the IDs it has opened
	// and refuse an ID it has seen (see [OpenEnvelope]).
	ID EnvelopeID
	// Prekey is the ID of the owner's prekey the envelope was sealed to.
	Prekey PrekeyID
	// Sender is the identity that signed the envelope. It passed the peer
	// key policy and its signature verified, but whether it is a contact
	// (a pinned fingerprint) is for the caller to decide.
	Sender *PublicIdentity
	// Created is the sender's clock when sealing, signed by the sender.
	Created time.Time
	// Plaintext is the message.
	Plaintext []byte
}

// SealEnvelope seals plaintext (1 to [MaxEnvelopePlaintext] bytes) from
// sender to owner under prekey, one of owner's prekeys (a one-time prekey
// the sender then forgets, or the last-resort prekey when none is left).
// now is the sender's clock: it is signed as the creation time, and a
// last-resort prekey older than [MaxLastResortAge] or from the future is
// refused with [ErrPrekeyExpired].
//
// What is protected: the plaintext and its length up to the size bucket,
// the sender's identity and the creation time are readable by the owner
// only, and only the holder of sender's IK_sig can make an envelope the
// owner accepts as sender's. An envelope sealed to a one-time prekey has
// forward secrecy once the owner deletes that prekey; one sealed to the
// last-resort prekey only once the owner deletes that (after rotation).
// What is not: the mailbox sees the envelope's size bucket, the prekey ID,
// the envelope ID, when it was deposited and fetched and by whom; and the
// owner holds a transferable proof (the signature) that sender wrote it.
func SealEnvelope(sender *Identity, owner *PublicIdentity, prekey *Prekey, plaintext []byte, now time.Time) ([]byte, error) {
	return sealEnvelope(rand.Reader, sender, owner, prekey, plaintext, now)
}

// sealEnvelope draws the envelope ID (16 bytes) and then the ephemeral
// X25519 private key (32 bytes) from r; tests pass a deterministic r.
func sealEnvelope(r io.Reader, sender *Identity, owner *PublicIdentity, prekey *Prekey, plaintext []byte, now time.Time) ([]byte, error) {
	switch {
	case sender == nil || owner == nil || prekey == nil:
		return nil, errors.New("e2e: seal envelope: missing sender, owner or prekey")
	case len(plaintext) == 0 || len(plaintext) > MaxEnvelopePlaintext:
		return nil, errors.New("e2e: seal envelope: plaintext size out of range")
	case !prekey.owner.Equal(owner.fp):
		return nil, errors.New("e2e: seal envelope: prekey belongs to another identity")
	}
	if err := prekey.checkAge(now); err != nil {
		return nil, err
	}
	created := now.Unix()
	if created < 1 || created > maxUnixSeconds {
		return nil, errors.New("e2e: seal envelope: time out of range")
	}

	var seed [envelopeIDSize + 32]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return nil, fmt.Errorf("e2e: envelope randomness: %w", err)
	}
	eph, err := ecdh.X25519().NewPrivateKey(seed[envelopeIDSize:])
	if err != nil {
		return nil, err
	}
	header := make([]byte, 0, envelopeHeaderSize)
	header = append(header, envelopeVersion)
	header = append(header, seed[:envelopeIDSize]...)
	header = binary.BigEndian.AppendUint64(header, uint64(prekey.id))
	header = append(header, eph.PublicKey().Bytes()...)

	prekeyPub, err := ecdh.X25519().NewPublicKey(prekey.pub[:])
	if err != nil {
		return nil, err
	}
	dh, err := eph.ECDH(prekeyPub)
	if err != nil {
		return nil, errors.New("e2e: seal envelope: bad prekey")
	}
	defer clear(dh)

	ctx := envelopeContext(header, owner.fp, &prekey.pub)
	inner := appendVec16(nil, sender.pub.sigDER)
	inner = appendVec16(inner, sender.pub.encDER)
	inner = binary.BigEndian.AppendUint64(inner, uint64(created))
	inner = binary.BigEndian.AppendUint32(inner, uint32(len(plaintext)))
	inner = append(inner, plaintext...)
	sig, err := sender.sign(envelopeSigLabel, append(ctx[:len(ctx):len(ctx)], inner...))
	if err != nil {
		return nil, fmt.Errorf("sign envelope: %w", err)
	}
	inner = appendVec16(inner, sig)
	size := envelopeBucket(envelopeHeaderSize + len(inner) + envelopeTagSize)
	if size == 0 {
		return nil, errors.New("e2e: seal envelope: too large for the largest bucket")
	}
	inner = append(inner, make([]byte, size-envelopeHeaderSize-envelopeTagSize-len(inner))...)

	key, nonce := envelopeKeys(dh, ctx)
	defer clear(key[:])
	env := newRecordAEAD(&key).Seal(header, nonce[:], inner, header)
	clear(inner)
	return env, nil
}

// envelopeBucket returns the size bucket for an envelope of n bytes: the
// smallest power of two at least n and at least MinEnvelopeSize, or 0 if it
// would exceed MaxEnvelopeSize.
func envelopeBucket(n int) int {
	if n <= MinEnvelopeSize {
		return MinEnvelopeSize
	}
	size := 1 << bits.Len(uint(n-1))
	if size > MaxEnvelopeSize {
		return 0
	}
	return size
}

// isEnvelopeBucket reports whether n is a bucket size.
func isEnvelopeBucket(n int) bool {
	return n >= MinEnvelopeSize && n <= MaxEnvelopeSize && n&(n-1) == 0
}

// envelopeContext is the byte string the key schedule hashes and the
// sender's signature starts with:
//
//	vec16("securechat-v1 envelope") || header || owner fingerprint || prekey public key
//
// It binds the keys and the signature to the envelope ID, the prekey (by ID
// and by key), the ephemeral key and the owner. The sender's fingerprint
// cannot be in the key schedule (the owner learns it only by decrypting), so
// the signature binds it: it covers this context and the sender's keys.
func envelopeContext(header []byte, owner Fingerprint, prekeyPub *[32]byte) []byte {
	b := make([]byte, 0, 2+len(envelopeContextLabel)+envelopeHeaderSize+64)
	b = appendVec16(b, []byte(envelopeContextLabel))
	b = append(b, header...)
	b = append(b, owner[:]...)
	return append(b, prekeyPub[:]...)
}

// envelopeKeys derives the AES-256-GCM key and nonce:
//
//	key || nonce = HKDF-SHA256(ikm = dh, salt = SHA-256(context), info = "securechat-v1 envelope key", 44)
//
// Every envelope has a fresh ephemeral key, so a key and nonce never repeat.
func envelopeKeys(dh, ctx []byte) (key [aeadKeySize]byte, nonce [aeadNonceSize]byte) {
	salt := sha256.Sum256(ctx)
	okm, err := hkdf.Key(sha256.New, dh, salt[:], envelopeKeyLabel, aeadKeySize+aeadNonceSize)
	if err != nil {
		panic("e2e: hkdf: " + err.Error()) // cannot happen for 44 bytes
	}
	copy(key[:], okm)
	copy(nonce[:], okm[aeadKeySize:])
	clear(okm)
	return key, nonce
}

// EnvelopeHeader returns the envelope ID and prekey ID of env without
// opening it, so that the owner can refuse a seen ID, or an unknown prekey,
// before spending any cryptography. Neither is authenticated until
// [OpenEnvelope] succeeds. It fails with [ErrEnvelope] for a wrong size or
// version.
func EnvelopeHeader(env []byte) (EnvelopeID, PrekeyID, error) {
	var id EnvelopeID
	if !isEnvelopeBucket(len(env)) || env[0] != envelopeVersion {
		return id, 0, ErrEnvelope
	}
	copy(id[:], env[1:])
	return id, PrekeyID(binary.BigEndian.Uint64(env[1+envelopeIDSize:])), nil
}

// OpenEnvelope opens an envelope sealed to owner. prekey looks up the
// owner's private prekey by ID and returns nil if it has none.
//
// The work is bounded before any RSA operation: the size must be a bucket
// and the version 1 (no allocation), the prekey ID must be known (one
// lookup), then one X25519, one HKDF and one AES-GCM over at most
// [MaxEnvelopeSize] bytes; only an envelope made by a holder of the prekey
// gets as far as the key policy check and the one RSA-PSS verification.
// Every failure is [ErrEnvelope].
//
// OpenEnvelope is a pure function and opens the same envelope as often as
// it is given. The caller must:
//   - refuse an envelope whose ID it has already opened ([EnvelopeHeader]
//     reads it first), keeping the seen IDs of a prekey for as long as it
//     keeps that prekey's private key;
//   - delete a one-time prekey after the first envelope sealed to it opens
//     (this is what gives that envelope forward secrecy, and what makes a
//     replay fail even if the seen ID were lost);
//   - check that the sender is a contact (its fingerprint pinned), since any
//     identity holding one of the owner's prekeys can seal an envelope.
func OpenEnvelope(owner *Identity, prekey func(PrekeyID) *PrivatePrekey, env []byte) (*OpenedEnvelope, error) {
	id, pid, err := EnvelopeHeader(env)
	if err != nil || owner == nil || prekey == nil {
		return nil, ErrEnvelope
	}
	k := prekey(pid)
	if k == nil || k.priv == nil || k.pub == nil || k.pub.id != pid || !k.pub.owner.Equal(owner.pub.fp) {
		return nil, ErrEnvelope
	}
	header := env[:envelopeHeaderSize]
	ephPub, err := ecdh.X25519().NewPublicKey(header[1+envelopeIDSize+8:])
	if err != nil {
		return nil, ErrEnvelope
	}
	dh, err := k.priv.ECDH(ephPub)
	if err != nil { // a low-order ephemeral gives an all-zero result
		return nil, ErrEnvelope
	}
	ctx := envelopeContext(header, owner.pub.fp, &k.pub.pub)
	key, nonce := envelopeKeys(dh, ctx)
	clear(dh)
	inner, err := newRecordAEAD(&key).Open(nil, nonce[:], env[envelopeHeaderSize:], header)
	clear(key[:])
	if err != nil {
		return nil, ErrEnvelope
	}
	out, ok := openInner(inner, ctx)
	clear(inner)
	if !ok {
		return nil, ErrEnvelope
	}
	out.ID, out.Prekey = id, pid
	return out, nil
}

// openInner parses the decrypted inside strictly and checks the sender's
// key and signature, in that order.
func openInner(inner, ctx []byte) (*OpenedEnvelope, bool) {
	s := cryptobyte.String(inner)
	var sigDER, encDER, plaintext, sig []byte
	var created uint64
	var n uint32
	if !readVec16(&s, &sigDER) || !readVec16(&s, &encDER) ||
		!s.ReadUint64(&created) || !s.ReadUint32(&n) ||
		n == 0 || n > MaxEnvelopePlaintext || !s.ReadBytes(&plaintext, int(n)) {
		return nil, false
	}
	signedLen := len(inner) - len(s)
	if !readVec16(&s, &sig) || created < 1 || created > maxUnixSeconds {
		return nil, false
	}
	// The padding must be zeros, so that an envelope has one encoding.
	for _, c := range s {
		if c != 0 {
			return nil, false
		}
	}
	sender, err := ParsePublicIdentity(sigDER, encDER)
	if err != nil {
		return nil, false
	}
	signed := append(ctx[:len(ctx):len(ctx)], inner[:signedLen]...)
	if sender.verify(envelopeSigLabel, signed, sig) != nil {
		return nil, false
	}
	return &OpenedEnvelope{
		Sender:    sender,
		Created:   time.Unix(int64(created), 0),
		Plaintext: bytes.Clone(plaintext),
	}, true
}
