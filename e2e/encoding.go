package e2e

import "golang.org/x/crypto/cryptobyte"

// This file holds the small big-endian encoding helpers shared by the wire
// formats. Parsers read through a [cryptobyte.String]: every read reports
// whether it succeeded, and each parser ends by checking that nothing is
// left, so a short, over-long or trailing-garbage input is one error, never
// a panic. Writers append to a plain byte slice, which keeps the record path
// free of allocations. Fixed-width integers use encoding/binary's BigEndian
// append functions.

// readVec16 reads a uint16 length and that many bytes into out, as
// [cryptobyte.String.ReadUint16LengthPrefixed] does for a String. out
// aliases the input.
func readVec16(s *cryptobyte.String, out *[]byte) bool {
	return s.ReadUint16LengthPrefixed((*cryptobyte.String)(out))
}

// appendVec16 appends v after its length as a big-endian uint16. Every
// caller bounds its input far below 64 KiB, so a longer v is a bug and
// panics rather than writing a truncated length.
func appendVec16(b, v []byte) []byte {
	if len(v) > 0xffff {
		panic("e2e: vector too long")
	}
	b = append(b, byte(len(v)>>8), byte(len(v)))
	return append(b, v...)
}
