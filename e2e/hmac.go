package e2e

import "crypto/sha256"

// This file computes the ratchet's HMAC-SHA-256 and HKDF-SHA-256 on the
// stack. crypto/hmac and crypto/hkdf build hash objects on the heap for
// every key: with a new chain key per record that was 36 of the 40
// allocations of each Seal and Open. The inputs here are a few dozen bytes
// of fixed size, so the padded key and the message fit in a stack buffer and
// sha256.Sum256 does the rest. The results are bit for bit those of RFC 2104
// and RFC 5869 (the test vectors and TestStackHMAC check it against the
// standard library).

// hmacScratch is the most message bytes hmacSHA256 handles on the stack.
const hmacScratch = 128

const sha256BlockSize = 64

// hmacSHA256 returns HMAC-SHA-256 under key (at most one block) of the
// concatenation of msg (at most hmacScratch bytes).
func hmacSHA256(key []byte, msg ...[]byte) (sum [sha256.Size]byte) {
	n := 0
	for _, m := range msg {
		n += len(m)
	}
	if len(key) > sha256BlockSize || n > hmacScratch {
		// Every caller passes fixed-size keys and labels well inside the
		// limits: this is a bug, not an input a peer controls.
		panic("e2e: hmac input too long")
	}
	var buf [sha256BlockSize + hmacScratch]byte
	defer clear(buf[:])
	copy(buf[:], key)
	for i := range sha256BlockSize {
		buf[i] ^= 0x36 // ipad
	}
	off := sha256BlockSize
	for _, m := range msg {
		off += copy(buf[off:], m)
	}
	inner := sha256.Sum256(buf[:off])
	for i := range sha256BlockSize {
		buf[i] ^= 0x36 ^ 0x5c // ipad off, opad on
	}
	copy(buf[sha256BlockSize:], inner[:])
	clear(inner[:])
	return sha256.Sum256(buf[:sha256BlockSize+sha256.Size])
}

// hkdfSHA256 fills out (at most 255 blocks, in practice one or two) with
// HKDF-SHA-256 of secret under salt (nil means the all-zero salt RFC 5869
// prescribes) and info.
func hkdfSHA256(out, secret, salt []byte, info string) {
	if len(out) > 255*sha256.Size {
		panic("e2e: hkdf output too long")
	}
	if salt == nil {
		var zero [sha256.Size]byte
		salt = zero[:]
	}
	prk := hmacSHA256(salt, secret)
	defer clear(prk[:])
	var t [sha256.Size]byte
	defer clear(t[:])
	var infoBuf [64]byte
	inf := append(infoBuf[:0], info...) // on the stack for our short labels
	prev := t[:0]
	for i := byte(1); len(out) > 0; i++ {
		t = hmacSHA256(prk[:], prev, inf, []byte{i})
		out = out[copy(out, t[:]):]
		prev = t[:]
	}
}
