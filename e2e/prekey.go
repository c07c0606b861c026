package e2e

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds prekeys: X25519 keys an owner signs with IK_sig and hands
// to its contacts inside the end-to-end session, so that a contact can later
// seal a mailbox envelope ([SealEnvelope]) to the owner while the owner is
// offline. The wire format is in PROTOCOL.md, section "Mailbox envelopes and
// prekeys".

// Prekey lifetimes. e2e has no clock: callers pass the time in.
const (
	// LastResortRotation is how often an owner makes a new last-resort
	// prekey. The last-resort prekey is reused by every sender that has
	// run out of one-time prekeys, so an envelope sealed to it has forward
	// secrecy only once the owner deletes its private key: rotating bounds
	// that window.
	LastResortRotation = 7 * 24 * time.Hour

	// MaxLastResortAge is the oldest last-resort prekey a sender seals to
	// ([ErrPrekeyExpired] beyond it). It is twice [LastResortRotation], so
	// an owner who was offline for a few days at rotation time can still be
	// reached, but one who stopped rotating cannot be made to keep an old
	// key useful forever.
	MaxLastResortAge = 14 * 24 * time.Hour

	// PrekeyClockSkew is how far in the future a last-resort prekey's
	// creation time may lie, as the sender's clock sees it.
	PrekeyClockSkew = 10 * time.Minute

	// MaxOneTimePrekeys is the most one-time prekeys one call to
	// [GeneratePrekeys] makes and one [PrekeyBundle] carries.
	MaxOneTimePrekeys = 32
)

// Labels of the prekey signatures. The two kinds have distinct labels, so a
// one-time prekey's signature can never pass for a last-resort one (which
// senders may reuse) or for any other signature of the protocol.
const (
	prekeyLabelOneTime    = "securechat-v1 prekey one-time"
	prekeyLabelLastResort = "securechat-v1 prekey last-resort"
)

// Prekey kinds, the first byte of an encoded prekey.
const (
	prekeyOneTime    = 1
	prekeyLastResort = 2
)

// Prekey encoding sizes: kind (1), ID (8), creation time (8), X25519 public
// key (32), then vec16(signature).
const (
	prekeyBodySize = 1 + 8 + 8 + 32
	maxPrekeySize  = prekeyBodySize + 2 + MaxPeerRSABits/8
	// maxUnixSeconds bounds creation times (about the year 36800), so a
	// u64 on the wire always fits a time.Time and compares sanely.
	maxUnixSeconds = 1 << 40
)

// privatePrekeyVersion is the first byte of [PrivatePrekey.Encode].
const privatePrekeyVersion = 1

// Prekey errors.
var (
	// ErrPrekey is the one error for every prekey or prekey bundle that
	// fails to parse or verify.
	ErrPrekey = errors.New("e2e: invalid prekey")
	// ErrPrekeyExpired is returned by [SealEnvelope] for a last-resort
	// prekey older than [MaxLastResortAge] or created in the future: the
	// sender should ask the owner for a fresh bundle.
	ErrPrekeyExpired = errors.New("e2e: last-resort prekey expired")
)

// A PrekeyID names a prekey among its owner's prekeys. It is drawn at random
// (64 bits, so the IDs of thousands of outstanding prekeys do not collide)
// and travels in clear in every envelope: the mailbox sees which prekey an
// envelope uses, nothing more.
type PrekeyID uint64

// String returns the ID as 16 lower-case hex digits.
func (id PrekeyID) String() string { return fmt.Sprintf("%016x", uint64(id)) }

// A Prekey is the public, signed half of a prekey, as a sender holds it: an
// X25519 public key with an ID, a kind (one-time or last-resort) and a
// creation time, signed by its owner's IK_sig together with the owner's
// fingerprint. Every Prekey has been made by its owner or has passed
// [ParsePrekey] or [ParsePrekeyBundle] for that owner.
type Prekey struct {
	kind    uint8
	id      PrekeyID
	created int64 // Unix seconds
	pub     [32]byte
	owner   Fingerprint
	raw     []byte // body || vec16(signature)
}

// ID returns the prekey's ID.
func (p *Prekey) ID() PrekeyID { return p.id }

// LastResort reports whether this is the owner's last-resort prekey, which
// senders reuse once they have no one-time prekey left.
func (p *Prekey) LastResort() bool { return p.kind == prekeyLastResort }

// Created returns the creation time the owner signed.
func (p *Prekey) Created() time.Time { return time.Unix(p.created, 0) }

// Owner returns the fingerprint of the identity that signed the prekey.
func (p *Prekey) Owner() Fingerprint { return p.owner }

// Bytes returns the encoded prekey, for a sender's store. The caller must
// not modify it.
func (p *Prekey) Bytes() []byte { return p.raw }

// String names the kind and ID.
func (p *Prekey) String() string { return "e2e.Prekey(" + p.kindName() + " " + p.id.String() + ")" }

func (p *Prekey) kindName() string {
	if p.LastResort() {
		return "last-resort"
	}
	return "one-time"
}

// A PrivatePrekey is a prekey as its owner keeps it: the X25519 private key
// and the signed public half. Envelopes are opened with it
// ([OpenEnvelope]). The owner deletes a one-time PrivatePrekey after the
// first envelope sealed to it opens, and a last-resort one once no envelope
// sealed to it can still arrive (see [MaxLastResortAge]); until then a
// stolen PrivatePrekey opens those envelopes.
//
// A PrivatePrekey never prints its key: every fmt verb shows the kind and ID,
// and storing it takes the explicit [PrivatePrekey.Encode].
type PrivatePrekey struct {
	priv *ecdh.PrivateKey
	pub  *Prekey
}

// Public returns the signed public half, to be put in a [PrekeyBundle].
func (k *PrivatePrekey) Public() *Prekey { return k.pub }

// ID returns the prekey's ID.
func (k *PrivatePrekey) ID() PrekeyID { return k.pub.id }

// String names the kind and ID, never the key.
func (k *PrivatePrekey) String() string {
	return "e2e.PrivatePrekey(" + k.pub.kindName() + " " + k.pub.id.String() + ")"
}

// Format prints [PrivatePrekey.String] for every verb, so that no verb
// (%x, %d, %#v) walks into the private key.
func (k *PrivatePrekey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// GeneratePrekeys makes n (1 to [MaxOneTimePrekeys]) one-time prekeys signed
// by owner, each with a fresh random ID and key, created at now.
func GeneratePrekeys(owner *Identity, n int, now time.Time) ([]*PrivatePrekey, error) {
	if n < 1 || n > MaxOneTimePrekeys {
		return nil, errors.New("e2e: one-time prekey count out of range")
	}
	keys := make([]*PrivatePrekey, 0, n)
	for range n {
		k, err := generatePrekey(rand.Reader, owner, prekeyOneTime, now)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// GenerateLastResortPrekey makes a last-resort prekey signed by owner,
// created at now. The owner makes a new one every [LastResortRotation].
func GenerateLastResortPrekey(owner *Identity, now time.Time) (*PrivatePrekey, error) {
	return generatePrekey(rand.Reader, owner, prekeyLastResort, now)
}

// generatePrekey draws the ID (8 bytes) and then the X25519 private key (32
// bytes) from r; tests pass a deterministic r.
func generatePrekey(r io.Reader, owner *Identity, kind uint8, now time.Time) (*PrivatePrekey, error) {
	created := now.Unix()
	if created < 1 || created > maxUnixSeconds {
		return nil, errors.New("e2e: prekey creation time out of range")
	}
	var buf [8 + 32]byte
	defer clear(buf[:])
	if _, err := io.ReadFull(r, buf[:]); err != nil {
		return nil, fmt.Errorf("e2e: prekey randomness: %w", err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(buf[8:])
	if err != nil {
		return nil, err
	}
	p := &Prekey{
		kind:    kind,
		id:      PrekeyID(binary.BigEndian.Uint64(buf[:8])),
		created: created,
		owner:   owner.Fingerprint(),
	}
	copy(p.pub[:], priv.PublicKey().Bytes())
	body := p.appendBody(nil)
	sig, err := owner.sign(prekeyLabel(kind), prekeySigned(p.owner, body))
	if err != nil {
		return nil, fmt.Errorf("sign prekey: %w", err)
	}
	p.raw = appendVec16(body, sig)
	return &PrivatePrekey{priv: priv, pub: p}, nil
}

func prekeyLabel(kind uint8) string {
	if kind == prekeyLastResort {
		return prekeyLabelLastResort
	}
	return prekeyLabelOneTime
}

// appendBody appends kind || u64(id) || u64(created) || public key.
func (p *Prekey) appendBody(b []byte) []byte {
	b = append(b, p.kind)
	b = binary.BigEndian.AppendUint64(b, uint64(p.id))
	b = binary.BigEndian.AppendUint64(b, uint64(p.created))
	return append(b, p.pub[:]...)
}

// prekeySigned is what the owner signs: its own fingerprint, then the body.
// The fingerprint binds the prekey to one identity even if another identity
// ever shared the modulus size and a forged signature were tried under it.
func prekeySigned(owner Fingerprint, body []byte) []byte {
	return append(owner[:len(owner):len(owner)], body...)
}

// ParsePrekey decodes one prekey ([Prekey.Bytes]) and verifies its signature
// under owner. Every failure is [ErrPrekey].
func ParsePrekey(b []byte, owner *PublicIdentity) (*Prekey, error) {
	p, sig, ok := parsePrekeyUnverified(b, owner)
	if !ok || p.verify(owner, sig) != nil {
		return nil, ErrPrekey
	}
	return p, nil
}

// parsePrekeyUnverified does every check of ParsePrekey that costs no RSA
// arithmetic, so a bundle can be refused for a malformed last entry before
// its first signature is checked.
func parsePrekeyUnverified(b []byte, owner *PublicIdentity) (*Prekey, []byte, bool) {
	if owner == nil || len(b) > maxPrekeySize {
		return nil, nil, false
	}
	s := cryptobyte.String(b)
	p := &Prekey{owner: owner.fp}
	var id, created uint64
	var sig []byte
	if !s.ReadUint8(&p.kind) || !s.ReadUint64(&id) || !s.ReadUint64(&created) ||
		!s.CopyBytes(p.pub[:]) || !readVec16(&s, &sig) || !s.Empty() {
		return nil, nil, false
	}
	if (p.kind != prekeyOneTime && p.kind != prekeyLastResort) ||
		created < 1 || created > maxUnixSeconds || len(sig) != owner.sig.Size() {
		return nil, nil, false
	}
	p.id, p.created = PrekeyID(id), int64(created)
	p.raw = append([]byte(nil), b...)
	return p, sig, true
}

func (p *Prekey) verify(owner *PublicIdentity, sig []byte) error {
	return owner.verify(prekeyLabel(p.kind), prekeySigned(owner.fp, p.raw[:prekeyBodySize]), sig)
}

// checkAge refuses a last-resort prekey older than MaxLastResortAge or
// created more than PrekeyClockSkew after now. One-time prekeys have no age
// limit: each is used once, and the owner drops those it no longer wants.
func (p *Prekey) checkAge(now time.Time) error {
	if !p.LastResort() {
		return nil
	}
	created := p.Created()
	if now.Sub(created) > MaxLastResortAge || created.Sub(now) > PrekeyClockSkew {
		return ErrPrekeyExpired
	}
	return nil
}

// Encode returns the private prekey for the owner's sealed store:
// u8(1) || X25519 private key (32) || vec16(signed public prekey). The
// result is secret; the caller seals it before it touches disk.
func (k *PrivatePrekey) Encode() []byte {
	b := []byte{privatePrekeyVersion}
	priv := k.priv.Bytes()
	b = append(b, priv...)
	clear(priv)
	return appendVec16(b, k.pub.raw)
}

// ParsePrivatePrekey decodes what [PrivatePrekey.Encode] produced for owner.
// It checks that the private key matches the signed public key and that the
// signature is owner's.
func ParsePrivatePrekey(b []byte, owner *Identity) (*PrivatePrekey, error) {
	s := cryptobyte.String(b)
	var version uint8
	var raw, pubRaw []byte
	if !s.ReadUint8(&version) || version != privatePrekeyVersion ||
		!s.ReadBytes(&raw, 32) || !readVec16(&s, &pubRaw) || !s.Empty() {
		return nil, errors.New("e2e: malformed private prekey")
	}
	pub, err := ParsePrekey(pubRaw, owner.Public())
	if err != nil {
		return nil, err
	}
	priv, err := ecdh.X25519().NewPrivateKey(raw)
	if err != nil || subtle.ConstantTimeCompare(priv.PublicKey().Bytes(), pub.pub[:]) != 1 {
		return nil, errors.New("e2e: private prekey does not match its public key")
	}
	return &PrivatePrekey{priv: priv, pub: pub}, nil
}
