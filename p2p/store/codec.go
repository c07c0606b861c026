package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Contact encoding versions: the first byte of every encoded contact. A
// later layout gets a new number, and a schema migration rewrites old
// records. encodeContact writes only the newest; version 1 is read only by
// the schema 3 to 4 migration ([decodeContactV1]).
const (
	contactEncodingV1 = 1
	contactEncodingV2 = 2
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

// flagBlocked is the only flag defined in v1 and v2; other bits must be
// zero, so that each contact has exactly one encoding.
const flagBlocked = 1 << 0

// encodeContact returns the version 2 encoding of c:
//
//	u8     version (2)
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
//
// Version 1 is the same without the identity. Integers are big-endian;
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
	if len(c.PeerID) > maxField || len(c.Name) > maxField || len(c.Addrs) > maxField || len(c.Identity) > maxField {
		return nil, fmt.Errorf("%w: field too long", ErrInvalidContact)
	}
	for _, a := range c.Addrs {
		if len(a) > maxField {
			return nil, fmt.Errorf("%w: address too long", ErrInvalidContact)
		}
	}
	var flags byte
	if c.Blocked {
		flags |= flagBlocked
	}
	b := make([]byte, 0, 128+len(c.PeerID)+len(c.Name)+len(c.Identity))
	b = append(b, contactEncodingV2)
	b = appendVec16(b, c.PeerID)
	b = append(b, c.Fingerprint[:]...)
	b = appendVec16(b, c.Name)
	b = append(b, trust)
	b = append(b, c.PendingFingerprint[:]...)
	b = append(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Addrs)))
	for _, a := range c.Addrs {
		b = appendVec16(b, a)
	}
	b = appendTime(b, c.FirstSeen)
	b = appendTime(b, c.LastSeen)
	b = appendVec16(b, string(c.Identity))
	return b, nil
}

// errMalformed is wrapped into ErrCorrupt by callers: a record that
// authenticated but does not decode is damage all the same (or a bug).
var errMalformed = errors.New("store: malformed record")

// decodeContact parses what encodeContact produced. It never panics and
// allocates at most a small multiple of len(b).
func decodeContact(b []byte) (Contact, error) {
	return decodeContactVersion(b, contactEncodingV2)
}

// decodeContactVersion parses a contact of encoding version v (1 or 2) and
// nothing else.
func decodeContactVersion(b []byte, v byte) (Contact, error) {
	r := decoder{b: b}
	if r.u8() != v {
		return Contact{}, errMalformed
	}
	var c Contact
	c.PeerID = r.vec16()
	copy(c.Fingerprint[:], r.bytes(len(c.Fingerprint)))
	c.Name = r.vec16()
	trust, ok := trustFromCode(r.u8())
	c.Trust = trust
	copy(c.PendingFingerprint[:], r.bytes(len(c.PendingFingerprint)))
	flags := r.u8()
	c.Blocked = flags&flagBlocked != 0
	n := int(r.u16())
	// Each address takes at least two bytes, so a count larger than what
	// is left is refused before anything is allocated for it.
	if n > len(r.b)/2 {
		r.fail()
	}
	if n > 0 && !r.err {
		c.Addrs = make([]string, 0, n)
		for range n {
			c.Addrs = append(c.Addrs, r.vec16())
		}
	}
	c.FirstSeen = r.time()
	c.LastSeen = r.time()
	if v >= contactEncodingV2 {
		// Empty is nil, as for Addrs, so a round trip is exact.
		if id := r.bytes(int(r.u16())); len(id) > 0 {
			c.Identity = bytes.Clone(id)
		}
	}
	if r.err || len(r.b) != 0 || !ok || flags&^flagBlocked != 0 || c.PeerID == "" {
		return Contact{}, errMalformed
	}
	return c, nil
}

func appendVec16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendTime stores an instant as Unix seconds and nanoseconds. The zero
// time.Time round-trips exactly (it is a valid, if early, instant).
func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

// decoder is a strict cursor: the first short read sets err, and every later
// read returns zero values, so callers check once at the end.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) fail() { d.err, d.b = true, nil }

func (d *decoder) bytes(n int) []byte {
	if d.err || n > len(d.b) {
		d.fail()
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() byte {
	if v := d.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if v := d.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if v := d.bytes(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.bytes(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) vec16() string {
	return string(d.bytes(int(d.u16())))
}

func (d *decoder) time() time.Time {
	sec := int64(d.u64())
	nsec := d.u32()
	// Only canonical nanoseconds are accepted, so one instant has one
	// encoding.
	if nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
