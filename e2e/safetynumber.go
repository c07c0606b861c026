package e2e

import (
	"crypto/sha512"
	"strings"
)

// Safety numbers follow Signal's displayable fingerprint (libsignal
// NumericFingerprintGenerator, fingerprint version 0) so that its published
// test vector checks our code: each side contributes 30 digits computed from
// its own key and identifier, and the two halves are sorted, so both ends
// show the same 60 digits without agreeing on who is "first".
//
// Per side:
//
//	h := u16(0) || key || identifier
//	repeat 5200 times: h = SHA-512(h || key)
//	30 digits: for i in 0..5, uint40(h[5i:5i+5]) mod 100000, as 5 digits
//
// The key is the side's signing key as PKIX DER and the identifier its binary
// libp2p peer ID. DER is self-delimiting, so key || identifier has one
// parse. The iterations make a targeted collision (a key whose 30 digits
// match a victim's) cost 5200 hashes per try on top of the 2^100 tries.

// safetyNumberIterations is Signal's iteration count.
const safetyNumberIterations = 5200

// safetyNumberVersion is the hash input's version prefix, Signal's
// FINGERPRINT_VERSION.
const safetyNumberVersion = 0

// SafetyNumber returns the 60-digit safety number of a session between local
// and remote, each named by its libp2p peer ID in binary form. Both ends get
// the same digits; they change when either signing key or either peer ID
// changes. Two people who read out the same number have verified each other
// (the wrap keys are certified by the signing keys in the bundle).
//
// Show it with [FormatSafetyNumber].
func SafetyNumber(local *PublicIdentity, localPeerID []byte, remote *PublicIdentity, remotePeerID []byte) string {
	return displayableFingerprint(safetyNumberIterations,
		local.sigDER, localPeerID, remote.sigDER, remotePeerID)
}

// FormatSafetyNumber splits a safety number into groups of five digits
// separated by single spaces, the way Signal shows it (12 groups for 60
// digits).
func FormatSafetyNumber(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 5 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+5, len(s))])
	}
	return b.String()
}

// displayableFingerprint is Signal's algorithm with its parameters open, so
// tests can run it on Signal's vector.
func displayableFingerprint(iterations int, localKey, localID, remoteKey, remoteID []byte) string {
	l := fingerprintDigits(iterations, localKey, localID)
	r := fingerprintDigits(iterations, remoteKey, remoteID)
	if l <= r {
		return l + r
	}
	return r + l
}

// fingerprintDigits is one side's 30 digits.
func fingerprintDigits(iterations int, key, id []byte) string {
	h := make([]byte, 0, 2+len(key)+len(id))
	h = append(h, byte(safetyNumberVersion>>8), byte(safetyNumberVersion))
	h = append(h, key...)
	h = append(h, id...)
	d := sha512.New()
	for range iterations {
		d.Reset()
		d.Write(h)
		d.Write(key)
		h = d.Sum(h[:0])
	}
	var out [30]byte
	for i := 0; i < 30; i += 5 {
		v := uint64(h[i])<<32 | uint64(h[i+1])<<24 | uint64(h[i+2])<<16 |
			uint64(h[i+3])<<8 | uint64(h[i+4])
		v %= 100000
		for j := 4; j >= 0; j-- {
			out[i+j] = byte('0' + v%10)
			v /= 10
		}
	}
	return string(out[:])
}
