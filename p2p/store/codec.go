package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// Contact encoding versions: the first byte of every encoded contact. A
// later layout gets a new number, and a schema migration rewrites old
// records. encodeContact writes only the newest; version 1 is read only by
// the schema 3 to 4 migration ([decodeContactV1]), version 2 only by the
// schema 5 to 6 one ([decodeContactV2]).
const (
	contactEncodingV1 = 1
	contactEncodingV2 = 2
	contactEncodingV3 = 3
)

// maxField is the longest string, and the most addresses, one contact can
// hold: lengths and counts are uint16 on the wire.
const maxField = math.MaxUint16

// Trust levels are stored as one byte, so a typo in a Trust string can never
// reach the disk.
var trustCodes = map[Trust]byte{TrustNew: 1, TrustPinned: 2, TrustVerified: 3}

func trustFromCode(b byte) (Trust, bool) {
	for t, c := range trustCodes {
		if c == b {
			return t, true
		}
	}
	return "", false
}

// flagBlocked is the only flag defined in v1 to v3; other bits must be
// zero, so that each contact has exactly one encoding.
const flagBlocked = 1 << 0

// encodeContact returns the version 3 encoding of c:
//
//	u8     version (3)
//	vec16  peer ID
//	[32]   fingerprint
//	vec16  name
//	u8     trust (1 new, 2 pinned, 3 verified)
//	[32]   pending fingerprint (all zero: none)
//	u8     flags (bit 0: blocked)
//	u16    address count, then vec16 per address
//	i64 u32  first seen: Unix seconds, nanoseconds
//	i64 u32  last seen
//	vec16  identity ([EncodePublicIdentity]; empty: not known yet)
//	vec16  label (the user's own name for the contact; empty: none)
//
// Version 2 is the same without the label, version 1 without the identity
// and the label. Integers are big-endian;
// vec16 is a u16 length then the bytes. The format is strict:
// decodeContact accepts only what encodeContact produces.
func encodeContact(c Contact) ([]byte, error) {
	if c.PeerID == "" {
		return nil, fmt.Errorf("%w: empty peer ID", ErrInvalidContact)
	}
	trust, ok := trustCodes[c.Trust]
	if !ok {
		return nil, fmt.Errorf("%w: unknown trust level %q", ErrInvalidContact, c.Trust)
	}
	if len(c.Addrs) > maxField {
		return nil, fmt.Errorf("%w: too many addresses", ErrInvalidContact)
	}
	var flags byte
	if c.Blocked {
		flags |= flagBlocked
	}
	b := make([]byte, 0, 128+len(c.PeerID)+len(c.Name)+len(c.Identity)+len(c.Label))
	b = append(b, contactEncodingV3)
	b, err := appendVec16(b, c.PeerID)
	if err != nil {
		return nil, fmt.Errorf("%w: peer ID: %w", ErrInvalidContact, err)
	}
	b = append(b, c.Fingerprint[:]...)
	if b, err = appendVec16(b, c.Name); err != nil {
		return nil, fmt.Errorf("%w: name: %w", ErrInvalidContact, err)
	}
	b = append(b, trust)
	b = append(b, c.PendingFingerprint[:]...)
	b = append(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Addrs)))
	for _, a := range c.Addrs {
		if b, err = appendVec16(b, a); err != nil {
			return nil, fmt.Errorf("%w: address: %w", ErrInvalidContact, err)
		}
	}
	b = appendTime(b, c.FirstSeen)
	b = appendTime(b, c.LastSeen)
	if b, err = appendVec16(b, c.Identity); err != nil {
		return nil, fmt.Errorf("%w: identity: %w", ErrInvalidContact, err)
	}
	if b, err = appendVec16(b, c.Label); err != nil {
		return nil, fmt.Errorf("%w: label: %w", ErrInvalidContact, err)
	}
	return b, nil
}

// errMalformed is wrapped into ErrCorrupt by callers: a record that
// authenticated but does not decode is damage all the same (or a bug).
var errMalformed = errors.New("store: malformed record")

// decodeContact parses what encodeContact produced. It never panics and
// allocates at most a small multiple of len(b).
func decodeContact(b []byte) (Contact, error) {
	return decodeContactVersion(b, contactEncodingV3)
}

// decodeContactVersion parses a contact of encoding version v (1 to 3) and
// nothing else.
func decodeContactVersion(b []byte, v byte) (Contact, error) {
	s := cryptobyte.String(b)
	var c Contact
	var version, trust, flags uint8
	var n uint16
	// Each address takes at least two bytes, so a count larger than what
	// is left is refused before anything is allocated for it.
	if !s.ReadUint8(&version) || version != v || !readVec16(&s, &c.PeerID) ||
		!s.CopyBytes(c.Fingerprint[:]) || !readVec16(&s, &c.Name) || !s.ReadUint8(&trust) ||
		!s.CopyBytes(c.PendingFingerprint[:]) || !s.ReadUint8(&flags) ||
		!s.ReadUint16(&n) || int(n) > len(s)/2 {
		return Contact{}, errMalformed
	}
	if n > 0 {
		c.Addrs = make([]string, n)
		for i := range c.Addrs {
			if !readVec16(&s, &c.Addrs[i]) {
				return Contact{}, errMalformed
			}
		}
	}
	if !readTime(&s, &c.FirstSeen) || !readTime(&s, &c.LastSeen) {
		return Contact{}, errMalformed
	}
	if v >= contactEncodingV2 {
		var id cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&id) {
			return Contact{}, errMalformed
		}
		// Empty is nil, as for Addrs, so a round trip is exact.
		if len(id) > 0 {
			c.Identity = bytes.Clone(id)
		}
	}
	if v >= contactEncodingV3 && !readVec16(&s, &c.Label) {
		return Contact{}, errMalformed
	}
	var ok bool
	c.Trust, ok = trustFromCode(trust)
	if !s.Empty() || !ok || flags&^flagBlocked != 0 || c.PeerID == "" {
		return Contact{}, errMalformed
	}
	c.Blocked = flags&flagBlocked != 0
	return c, nil
}

// errFieldTooLong is what appendVec16 returns for a string its u16 length
// cannot describe. Encoders wrap it in their own error.
var errFieldTooLong = errors.New("longer than 65535 bytes")

// appendVec16 appends s after its length as a big-endian u16. A longer s is
// an error, never a truncated length: a record written that way would be
// refused by every reader, the write lost without a word.
func appendVec16[S ~string | ~[]byte](b []byte, s S) ([]byte, error) {
	if len(s) > maxField {
		return b, errFieldTooLong
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...), nil
}

// appendTime stores an instant as Unix seconds and nanoseconds. The zero
// time.Time round-trips exactly (it is a valid, if early, instant).
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// readVec16 reads a u16 length and that many bytes into out, as a string
// (a copy: out never aliases the record).
func readVec16(s *cryptobyte.String, out *string) bool {
	var v cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&v) {
		return false
	}
	*out = string(v)
	return true
}

// readTime reads what appendTime wrote. Only canonical nanoseconds are
// accepted, so one instant has one encoding.
func readTime(s *cryptobyte.String, out *time.Time) bool {
	var sec uint64
	var nsec uint32
	if !s.ReadUint64(&sec) || !s.ReadUint32(&nsec) || nsec >= 1e9 {
		return false
	}
	*out = time.Unix(int64(sec), int64(nsec)).UTC()
	return true
}
