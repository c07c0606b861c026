package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
)

// pssOptions fixes RSA-PSS to SHA-256 with a 32-byte salt, both when signing
// and when verifying, so a signature made with another salt length is refused.
var pssOptions = &rsa.PSSOptions{SaltLength: 32, Hash: crypto.SHA256}

// errSignature is the one error every failed signature check returns.
var errSignature = errors.New("e2e: bad signature")

// signDigest hashes a domain-separation label, a zero byte and msg, so one
// signature can never be replayed in another context.
func signDigest(label string, msg []byte) []byte {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write(msg)
	return h.Sum(nil)
}

// sign makes an RSA-PSS signature with the identity's signing key.
func (id *Identity) sign(label string, msg []byte) ([]byte, error) {
	return rsa.SignPSS(rand.Reader, id.sig, crypto.SHA256, signDigest(label, msg), pssOptions)
}

// verify checks an RSA-PSS signature by the identity's signing key. The key
// already passed the policy when the PublicIdentity was parsed.
func (p *PublicIdentity) verify(label string, msg, sig []byte) error {
	return verifyPSS(p.sig, signDigest(label, msg), sig)
}

// verifyPSS checks an RSA-PSS signature over a SHA-256 digest with exactly
// our parameters (salt 32, MGF1-SHA-256). It is the part of verify that
// Wycheproof's vectors exercise directly.
func verifyPSS(pub *rsa.PublicKey, digest, sig []byte) error {
	if len(sig) != pub.Size() {
		return errSignature
	}
	if err := rsa.VerifyPSS(pub, crypto.SHA256, digest, sig, pssOptions); err != nil {
		return errSignature
	}
	return nil
}

// wrap encrypts a short secret to the identity's wrap key with RSA-OAEP
// SHA-256; the label binds the ciphertext to its use.
func (p *PublicIdentity) wrap(label string, secret []byte) ([]byte, error) {
	return rsa.EncryptOAEP(sha256.New(), rand.Reader, p.enc, secret, []byte(label))
}

// errUnwrap is the one error every failed unwrap returns; it never says which
// check failed (Manger's attack feeds on such differences).
var errUnwrap = errors.New("e2e: unwrap failed")

// unwrap decrypts what wrap made for this identity and checks its length.
func (id *Identity) unwrap(label string, ct []byte, wantLen int) ([]byte, error) {
	if len(ct) != id.enc.Size() {
		return nil, errUnwrap
	}
	pt, err := rsa.DecryptOAEP(sha256.New(), nil, id.enc, ct, []byte(label))
	if err != nil || len(pt) != wantLen {
		return nil, errUnwrap
	}
	return pt, nil
}
