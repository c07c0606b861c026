package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// An invite is how one person hands another everything needed to reach them
// from another network: the peer ID, the RSA signing key (whose SHA-256 is
// the fingerprint), a name and the addresses to dial, in one line of text,
// signed by the identity. The peer ID and the addresses are opaque bytes
// here (libp2p's binary forms); the node validates them.

// InvitePrefix starts every invite.
const InvitePrefix = "securechat:"

// MaxInviteLen is the longest invite, in characters, prefix included: short
// enough for a chat message, a QR code or a terminal line.
const MaxInviteLen = 2000

// MaxInviteName bounds the name in an invite, in bytes of UTF-8 (the same
// bound as a name in a session's HELLO).
const MaxInviteName = 128

// MaxInviteAddrs bounds the addresses in an invite, so a hostile invite
// cannot make a node dial without end even within the size limit.
const MaxInviteAddrs = 16

// maxInviteAddrLen bounds one address. A relay circuit address over IPv6
// with the relay's Ed25519 peer ID is about 70 bytes.
const maxInviteAddrLen = 255

// inviteLabel separates the invite signature from every other signature
// made by IK_sig (bundle, handshake).
const inviteLabel = "securechat-v1 invite"

// inviteVersion is the first byte of every invite body.
const inviteVersion = 1

// maxInviteBody is the largest body whose base64url encoding fits
// MaxInviteLen with the prefix: 1491 bytes.
var maxInviteBody = base64.RawURLEncoding.DecodedLen(MaxInviteLen - len(InvitePrefix))

// inviteEncoding is unpadded base64url that refuses non-zero trailing bits,
// so that a body has exactly one text form.
var inviteEncoding = base64.RawURLEncoding.Strict()

// ErrInvite is the one error of every invite that fails to parse or verify:
// too long, not printable, badly encoded, out of bounds, a key outside the
// peer key policy or a bad signature all look the same.
var ErrInvite = errors.New("e2e: invalid invite")

// An Invite is a signed, self-contained description of how to reach a peer.
// Its fields come from [NewInvite] or from an invite that [ParseInvite]
// verified; it is immutable.
type Invite struct {
	peerID []byte
	sigDER []byte
	fp     Fingerprint
	name   string
	addrs  [][]byte
	text   string
}

// NewInvite signs an invite to reach the node with this identity at peerID
// (libp2p's binary peer ID) and addrs (libp2p's binary multiaddrs), under
// name.
//
// The addresses are in the caller's order of preference. Those that do not
// fit are dropped rather than failing the invite: each address is kept if it
// still fits within [MaxInviteLen] and [MaxInviteAddrs] after the ones before
// it, so an address is never dropped in favour of a later one. The result's
// [Invite.Addrs] says which were kept. The identity, peer ID and a name of up
// to [MaxInviteName] bytes always fit, for RSA keys up to 4096 bits.
func NewInvite(id *Identity, peerID []byte, name string, addrs [][]byte) (*Invite, error) {
	if len(peerID) == 0 || len(peerID) > maxPeerIDLen {
		return nil, errors.New("e2e: invite peer ID out of range")
	}
	if len(name) > MaxInviteName || !utf8.ValidString(name) {
		return nil, errors.New("e2e: invite name is too long or not UTF-8")
	}
	sigLen := id.sig.Size()
	fixed := 1 + 2 + len(peerID) + 2 + len(id.pub.sigDER) + 2 + len(name) + 1 + 2 + sigLen
	if fixed > maxInviteBody {
		return nil, errors.New("e2e: identity too large for an invite")
	}
	var kept [][]byte
	size := fixed
	for _, a := range addrs {
		if len(a) == 0 {
			return nil, errors.New("e2e: empty invite address")
		}
		if len(kept) == MaxInviteAddrs {
			break
		}
		if len(a) > maxInviteAddrLen || size+2+len(a) > maxInviteBody {
			continue
		}
		kept = append(kept, bytes.Clone(a))
		size += 2 + len(a)
	}
	tbs := inviteTBS(peerID, id.pub.sigDER, name, kept)
	sig, err := id.sign(inviteLabel, tbs)
	if err != nil {
		return nil, fmt.Errorf("sign invite: %w", err)
	}
	body := appendVec16(tbs, sig)
	return &Invite{
		peerID: bytes.Clone(peerID),
		sigDER: id.pub.sigDER,
		fp:     id.pub.fp,
		name:   name,
		addrs:  kept,
		text:   InvitePrefix + inviteEncoding.EncodeToString(body),
	}, nil
}

// inviteTBS is the body up to the signature: what IK_sig signs.
func inviteTBS(peerID, sigDER []byte, name string, addrs [][]byte) []byte {
	b := []byte{inviteVersion}
	b = appendVec16(b, peerID)
	b = appendVec16(b, sigDER)
	b = appendVec16(b, []byte(name))
	b = append(b, byte(len(addrs)))
	for _, a := range addrs {
		b = appendVec16(b, a)
	}
	return b
}

// ParseInvite decodes and verifies an invite. It is strict: the text must be
// exactly [InvitePrefix] and unpadded base64url (no spaces, line breaks or
// other characters, nothing after it) of at most [MaxInviteLen] characters,
// the body must hold every field within its bounds and nothing more, the
// signing key must pass the peer key policy, and the signature must verify.
// The length is checked before anything is decoded. Every failure is
// [ErrInvite].
//
// A valid invite proves only that whoever holds the identity made it; the
// node still checks at the first session that the peer presents that
// identity.
func ParseInvite(s string) (*Invite, error) {
	if len(s) > MaxInviteLen || !strings.HasPrefix(s, InvitePrefix) {
		return nil, ErrInvite
	}
	enc := s[len(InvitePrefix):]
	// Go's base64 decoder skips CR and LF; the alphabet check makes sure no
	// character is ignored, so one invite has one text.
	for i := 0; i < len(enc); i++ {
		if !isBase64URL(enc[i]) {
			return nil, ErrInvite
		}
	}
	body, err := inviteEncoding.DecodeString(enc)
	if err != nil || len(body) > maxInviteBody {
		return nil, ErrInvite
	}
	r := cryptobyte.String(body)
	var version, count uint8
	var peerID, sigDER, name []byte
	if !r.ReadUint8(&version) || !readVec16(&r, &peerID) || !readVec16(&r, &sigDER) ||
		!readVec16(&r, &name) || !r.ReadUint8(&count) ||
		version != inviteVersion ||
		len(peerID) == 0 || len(peerID) > maxPeerIDLen ||
		len(name) > MaxInviteName || !utf8.Valid(name) || int(count) > MaxInviteAddrs {
		return nil, ErrInvite
	}
	var addrs [][]byte
	for range count {
		var a []byte
		if !readVec16(&r, &a) || len(a) == 0 || len(a) > maxInviteAddrLen {
			return nil, ErrInvite
		}
		addrs = append(addrs, bytes.Clone(a))
	}
	tbs := body[:len(body)-len(r)]
	var sig []byte
	if !readVec16(&r, &sig) || !r.Empty() {
		return nil, ErrInvite
	}
	key, err := parseRSAPublic(sigDER)
	if err != nil {
		return nil, ErrInvite
	}
	if verifyPSS(key, signDigest(inviteLabel, tbs), sig) != nil {
		return nil, ErrInvite
	}
	return &Invite{
		peerID: bytes.Clone(peerID),
		sigDER: bytes.Clone(sigDER),
		fp:     sha256.Sum256(sigDER),
		name:   string(name),
		addrs:  addrs,
		text:   s,
	}, nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// Encode returns the invite as one line of printable ASCII, at most
// [MaxInviteLen] characters, starting with [InvitePrefix]. An invite that
// [ParseInvite] accepted encodes to the very text it was parsed from.
func (inv *Invite) Encode() string { return inv.text }

// PeerID returns the binary libp2p peer ID the invite names. The caller must
// not modify it.
func (inv *Invite) PeerID() []byte { return inv.peerID }

// Fingerprint returns the fingerprint of the identity that signed the
// invite: the one the peer must present at the first session.
func (inv *Invite) Fingerprint() Fingerprint { return inv.fp }

// SigningKeyDER returns the PKIX DER of the identity's signing key. The
// caller must not modify it.
func (inv *Invite) SigningKeyDER() []byte { return inv.sigDER }

// Name returns the name in the invite: valid UTF-8, chosen by the invite's
// maker and not sanitized.
func (inv *Invite) Name() string { return inv.name }

// Addrs returns the addresses in the invite, in its order (binary
// multiaddrs, not validated here). The caller must not modify them.
func (inv *Invite) Addrs() [][]byte { return inv.addrs }
