package e2e

import (
	"bytes"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// A HostSigner is the libp2p host key as the e2e layer sees it: e2e never
// imports libp2p, so the node adapts its key to this interface.
type HostSigner interface {
	// PublicKey returns the host's public key in libp2p's marshalled
	// (protobuf) form, from which its peer ID is derived.
	PublicKey() []byte
	// Sign signs msg with the host key.
	Sign(msg []byte) ([]byte, error)
}

// A HostVerifier checks that hostKey (libp2p's marshalled form) is the key
// behind peerID (libp2p's binary form) and that sig is its signature over
// msg. It returns nil only if both hold.
type HostVerifier func(peerID, hostKey, msg, sig []byte) error

// Labels that separate the bundle's signatures from every other signature.
const (
	bundleLabel     = "securechat-v1 bundle"
	bundleHostLabel = "securechat-v1 bundle host"
)

// bundleVersion is the first byte of every encoded bundle.
const bundleVersion = 1

// maxPeerIDLen and maxHostKeyLen bound the libp2p fields of a bundle. An
// Ed25519 peer ID is 38 bytes and its marshalled key 36; RSA host keys are
// larger, so the bounds leave room without letting a bundle grow unchecked.
const (
	maxPeerIDLen  = 128
	maxHostKeyLen = 1024
)

// ErrBundle is returned for every bundle that fails to parse or verify.
var ErrBundle = errors.New("e2e: invalid identity bundle")

// A Bundle binds an RSA identity to a libp2p peer ID in both directions: the
// identity's signing key signs the peer ID, and the host key behind the peer
// ID signs the identity. Without the second signature anyone could claim
// another node's RSA keys for their own peer ID; without the first, a node
// could claim another's peer ID for its keys.
type Bundle struct {
	peerID   []byte
	identity *PublicIdentity
	hostKey  []byte
	raw      []byte
}

// NewBundle signs id's public keys together with the node's peer ID and host
// key. A node makes its bundle once at start and sends the same bytes in
// every handshake.
func NewBundle(id *Identity, peerID []byte, host HostSigner) (*Bundle, error) {
	hostKey := host.PublicKey()
	if len(peerID) == 0 || len(peerID) > maxPeerIDLen || len(hostKey) == 0 || len(hostKey) > maxHostKeyLen {
		return nil, errors.New("e2e: peer ID or host key out of range")
	}
	tbs := bundleTBS(peerID, id.pub.sigDER, id.pub.encDER, hostKey)
	sigSig, err := id.sign(bundleLabel, tbs)
	if err != nil {
		return nil, fmt.Errorf("sign bundle: %w", err)
	}
	hostSig, err := host.Sign(hostSignedBytes(tbs))
	if err != nil {
		return nil, fmt.Errorf("host-sign bundle: %w", err)
	}
	raw := []byte{bundleVersion}
	raw = appendVec16(raw, peerID)
	raw = appendVec16(raw, id.pub.sigDER)
	raw = appendVec16(raw, id.pub.encDER)
	raw = appendVec16(raw, hostKey)
	raw = appendVec16(raw, sigSig)
	raw = appendVec16(raw, hostSig)
	return &Bundle{
		peerID:   bytes.Clone(peerID),
		identity: id.pub,
		hostKey:  bytes.Clone(hostKey),
		raw:      raw,
	}, nil
}

func bundleTBS(peerID, sigDER, encDER, hostKey []byte) []byte {
	var b []byte
	b = append(b, bundleVersion)
	b = appendVec16(b, peerID)
	b = appendVec16(b, sigDER)
	b = appendVec16(b, encDER)
	b = appendVec16(b, hostKey)
	return b
}

func hostSignedBytes(tbs []byte) []byte {
	return append([]byte(bundleHostLabel+"\x00"), tbs...)
}

// ParseBundle decodes a bundle and checks, in this order and before any RSA
// arithmetic, the encoding and the peer key policy; then the identity's
// signature; then the host signature through verifyHost. Every failure is
// [ErrBundle] or [ErrKeyPolicy].
func ParseBundle(b []byte, verifyHost HostVerifier) (*Bundle, error) {
	f, err := decodeBundleParts(b)
	if err != nil {
		return nil, err
	}
	tbs := bundleTBS(f.peerID, f.sigDER, f.encDER, f.hostKey)
	if err := f.pub.verify(bundleLabel, tbs, f.sigSig); err != nil {
		return nil, ErrBundle
	}
	if verifyHost == nil || verifyHost(f.peerID, f.hostKey, hostSignedBytes(tbs), f.hostSig) != nil {
		return nil, ErrBundle
	}
	return f.bundle(b), nil
}

// bundleParts are a bundle's parts as decoded, before any signature is
// checked.
type bundleParts struct {
	peerID, sigDER, encDER, hostKey, sigSig, hostSig []byte
	pub                                              *PublicIdentity
}

// decodeBundleParts checks a bundle's encoding and its keys against the peer key
// policy, without any RSA arithmetic.
func decodeBundleParts(b []byte) (bundleParts, error) {
	var f bundleParts
	s := cryptobyte.String(b)
	var version uint8
	if !s.ReadUint8(&version) || !readVec16(&s, &f.peerID) ||
		!readVec16(&s, &f.sigDER) || !readVec16(&s, &f.encDER) || !readVec16(&s, &f.hostKey) ||
		!readVec16(&s, &f.sigSig) || !readVec16(&s, &f.hostSig) || !s.Empty() ||
		version != bundleVersion ||
		len(f.peerID) == 0 || len(f.peerID) > maxPeerIDLen ||
		len(f.hostKey) == 0 || len(f.hostKey) > maxHostKeyLen {
		return bundleParts{}, ErrBundle
	}
	pub, err := ParsePublicIdentity(f.sigDER, f.encDER)
	if err != nil {
		return bundleParts{}, err
	}
	f.pub = pub
	return f, nil
}

// bundle is the Bundle of encoding b, whose fields f are, with copies of
// the bytes it keeps.
func (f bundleParts) bundle(b []byte) *Bundle {
	return &Bundle{
		peerID:   bytes.Clone(f.peerID),
		identity: f.pub,
		hostKey:  bytes.Clone(f.hostKey),
		raw:      bytes.Clone(b),
	}
}

// PeerID returns the libp2p peer ID (binary form) the bundle is bound to.
func (b *Bundle) PeerID() []byte { return b.peerID }

// Identity returns the bundle's RSA identity.
func (b *Bundle) Identity() *PublicIdentity { return b.identity }

// Bytes returns the encoded bundle. The caller must not modify it.
func (b *Bundle) Bytes() []byte { return b.raw }
