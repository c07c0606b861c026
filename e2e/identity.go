package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// IdentityBits is the size of the RSA keys a new [Identity] gets.
const IdentityBits = 3072

// MinPeerRSABits and MaxPeerRSABits bound the RSA modulus a peer may present.
// The upper bound matters as much as the lower one: crypto/rsa accepts any
// size, and a 16384-bit key costs a verifier tens of milliseconds, so a hostile
// peer could buy our CPU cheaply. Both bounds are checked before any RSA
// arithmetic runs.
const (
	MinPeerRSABits = 2048
	MaxPeerRSABits = 4096
)

// rsaExponent is the only public exponent accepted from peers. Small exponents
// such as 3 invite a family of padding attacks, and no honest implementation
// uses anything else.
const rsaExponent = 65537

// ErrKeyPolicy is returned when a peer's RSA key is outside the accepted sizes
// or has an exponent other than 65537.
var ErrKeyPolicy = errors.New("e2e: RSA key refused by policy")

// An Identity is a node's long-term end-to-end identity: an RSA-PSS signing
// key, whose public half's SHA-256 is the [Fingerprint], and a separate
// RSA-OAEP key that peers use to wrap handshake secrets to us. One key never
// serves two schemes.
//
// An Identity never prints its private keys: String shows the fingerprint,
// and saving it takes the explicit [Identity.Encode].
type Identity struct {
	sig *rsa.PrivateKey
	enc *rsa.PrivateKey
	pub *PublicIdentity
}

// A PublicIdentity is the public half of an [Identity], as a peer presents it
// in its bundle. Every PublicIdentity has passed the peer key policy.
type PublicIdentity struct {
	sig    *rsa.PublicKey
	enc    *rsa.PublicKey
	sigDER []byte // PKIX DER of sig
	encDER []byte // PKIX DER of enc
	fp     Fingerprint
}

// GenerateIdentity makes a fresh identity with two RSA-3072 keys drawn from
// crypto/rand. Generating takes about a second.
func GenerateIdentity() (*Identity, error) {
	sig, err := rsa.GenerateKey(rand.Reader, IdentityBits)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	enc, err := rsa.GenerateKey(rand.Reader, IdentityBits)
	if err != nil {
		return nil, fmt.Errorf("generate wrap key: %w", err)
	}
	return newIdentity(sig, enc)
}

func newIdentity(sig, enc *rsa.PrivateKey) (*Identity, error) {
	sigDER, err := x509.MarshalPKIXPublicKey(&sig.PublicKey)
	if err != nil {
		return nil, err
	}
	encDER, err := x509.MarshalPKIXPublicKey(&enc.PublicKey)
	if err != nil {
		return nil, err
	}
	pub, err := ParsePublicIdentity(sigDER, encDER)
	if err != nil {
		return nil, err
	}
	return &Identity{sig: sig, enc: enc, pub: pub}, nil
}

// Encode returns the identity's private keys as bytes for the key file: a
// uint16 length and PKCS #8 DER for the signing key, then the same for the
// wrap key. The result is secret; callers seal it before it touches disk.
func (id *Identity) Encode() []byte {
	sigDER, err := x509.MarshalPKCS8PrivateKey(id.sig)
	if err != nil {
		panic("e2e: marshal own signing key: " + err.Error()) // cannot happen for keys we hold
	}
	encDER, err := x509.MarshalPKCS8PrivateKey(id.enc)
	if err != nil {
		panic("e2e: marshal own wrap key: " + err.Error())
	}
	var b []byte
	b = appendVec16(b, sigDER)
	b = appendVec16(b, encDER)
	return b
}

// ParseIdentity decodes what [Identity.Encode] produced. Own keys follow the
// same policy as peers' keys.
func ParseIdentity(b []byte) (*Identity, error) {
	s := cryptobyte.String(b)
	var sigDER, encDER []byte
	if !readVec16(&s, &sigDER) || !readVec16(&s, &encDER) || !s.Empty() {
		return nil, errors.New("e2e: malformed identity encoding")
	}
	sig, err := parseRSAPrivate(sigDER)
	if err != nil {
		return nil, err
	}
	enc, err := parseRSAPrivate(encDER)
	if err != nil {
		return nil, err
	}
	return newIdentity(sig, enc)
}

// maxPrivateKeyDER bounds the PKCS #8 DER handed to the parser: a 4096-bit
// key is about 2.4 KiB. Without the bound, a damaged or hostile encoding
// with a huge modulus makes the parser's key checks run for minutes.
const maxPrivateKeyDER = 4096

func parseRSAPrivate(der []byte) (*rsa.PrivateKey, error) {
	if len(der) > maxPrivateKeyDER {
		return nil, errors.New("e2e: identity key too large")
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("e2e: malformed identity key")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("e2e: identity key is not RSA")
	}
	if err := checkKeyPolicy(&rk.PublicKey); err != nil {
		return nil, err
	}
	return rk, nil
}

// Public returns the public half of the identity.
func (id *Identity) Public() *PublicIdentity { return id.pub }

// Fingerprint returns the fingerprint of the identity's signing key.
func (id *Identity) Fingerprint() Fingerprint { return id.pub.fp }

// String shows the fingerprint, never key material.
func (id *Identity) String() string { return "e2e.Identity(" + id.pub.fp.String() + ")" }

// GoString keeps %#v from printing private keys.
func (id *Identity) GoString() string { return id.String() }

// ParsePublicIdentity decodes the two PKIX DER public keys of a peer and
// applies the peer key policy (RSA, 2048-4096 bits, e=65537) before anything
// else is done with them.
func ParsePublicIdentity(sigDER, encDER []byte) (*PublicIdentity, error) {
	sig, err := parseRSAPublic(sigDER)
	if err != nil {
		return nil, err
	}
	enc, err := parseRSAPublic(encDER)
	if err != nil {
		return nil, err
	}
	// One key never serves two schemes: a bundle that offers its signing
	// key for wrapping too is refused.
	if sig.N.Cmp(enc.N) == 0 {
		return nil, ErrKeyPolicy
	}
	return &PublicIdentity{
		sig:    sig,
		enc:    enc,
		sigDER: append([]byte(nil), sigDER...),
		encDER: append([]byte(nil), encDER...),
		fp:     sha256.Sum256(sigDER),
	}, nil
}

// maxPublicKeyDER bounds the DER we hand to the ASN.1 parser: a 4096-bit SPKI
// is 550 bytes, so anything much larger is refused unparsed.
const maxPublicKeyDER = 1024

func parseRSAPublic(der []byte) (*rsa.PublicKey, error) {
	if len(der) > maxPublicKeyDER {
		return nil, ErrKeyPolicy
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, ErrKeyPolicy
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, ErrKeyPolicy
	}
	if err := checkKeyPolicy(rk); err != nil {
		return nil, err
	}
	// Only the canonical encoding is accepted, so that one key has one
	// fingerprint.
	canon, err := x509.MarshalPKIXPublicKey(rk)
	if err != nil || subtle.ConstantTimeCompare(canon, der) != 1 {
		return nil, ErrKeyPolicy
	}
	return rk, nil
}

func checkKeyPolicy(k *rsa.PublicKey) error {
	if k.N == nil || k.N.Sign() <= 0 {
		return ErrKeyPolicy
	}
	if bits := k.N.BitLen(); bits < MinPeerRSABits || bits > MaxPeerRSABits {
		return ErrKeyPolicy
	}
	if k.E != rsaExponent || k.N.Bit(0) == 0 {
		return ErrKeyPolicy
	}
	return nil
}

// Fingerprint returns the SHA-256 of the signing key's PKIX DER.
func (p *PublicIdentity) Fingerprint() Fingerprint { return p.fp }

// SigningKeyDER returns the PKIX DER of the signing key. The caller must not
// modify it.
func (p *PublicIdentity) SigningKeyDER() []byte { return p.sigDER }

// WrapKeyDER returns the PKIX DER of the wrap key. The caller must not modify
// it.
func (p *PublicIdentity) WrapKeyDER() []byte { return p.encDER }

// Equal reports whether p and q hold the same two keys.
func (p *PublicIdentity) Equal(q *PublicIdentity) bool {
	return p.fp.Equal(q.fp) && subtle.ConstantTimeCompare(p.encDER, q.encDER) == 1
}

// String shows the fingerprint.
func (p *PublicIdentity) String() string { return "e2e.PublicIdentity(" + p.fp.String() + ")" }

// SigningKeyBits returns the size of the signing key's modulus.
func (p *PublicIdentity) SigningKeyBits() int { return p.sig.N.BitLen() }

// A Fingerprint is the SHA-256 of an identity's signing key in PKIX DER form.
// Its text form is 64 lower-case hex digits.
type Fingerprint [sha256.Size]byte

// ParseFingerprint decodes 64 hex digits (either case).
func ParseFingerprint(s string) (Fingerprint, error) {
	var f Fingerprint
	if len(s) != 2*len(f) {
		return f, errors.New("e2e: fingerprint must be 64 hex digits")
	}
	if _, err := hex.Decode(f[:], []byte(s)); err != nil {
		return f, errors.New("e2e: fingerprint must be 64 hex digits")
	}
	return f, nil
}

// String returns the fingerprint as 64 lower-case hex digits.
func (f Fingerprint) String() string { return hex.EncodeToString(f[:]) }

// Short returns the first 16 hex digits, for display beside a name. It is
// not enough to verify a peer: use the full fingerprint or [SafetyNumber].
func (f Fingerprint) Short() string { return hex.EncodeToString(f[:8]) }

// Equal compares two fingerprints in constant time.
func (f Fingerprint) Equal(g Fingerprint) bool {
	return subtle.ConstantTimeCompare(f[:], g[:]) == 1
}

// IsZero reports whether f is the zero value.
func (f Fingerprint) IsZero() bool { return f == Fingerprint{} }
