package e2e

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"testing"
)

// TestStackHMAC checks the stack HMAC and HKDF against crypto/hmac and
// crypto/hkdf over the key, message and output sizes the ratchet uses and
// the limits around them.
func TestStackHMAC(t *testing.T) {
	r := newDetReader("stack hmac")
	fill := func(n int) []byte {
		b := make([]byte, n)
		if _, err := r.Read(b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, keyLen := range []int{0, 1, 32, 63, 64} {
		for _, msgLen := range []int{0, 1, 26, 59, 64, 127, hmacScratch} {
			t.Run(fmt.Sprintf("hmac/key%d/msg%d", keyLen, msgLen), func(t *testing.T) {
				key, msg := fill(keyLen), fill(msgLen)
				m := hmac.New(sha256.New, key)
				m.Write(msg)
				want := m.Sum(nil)
				half := msgLen / 2
				if got := hmacSHA256(key, msg[:half], msg[half:]); !bytes.Equal(got[:], want) {
					t.Fatalf("hmacSHA256 = %x, want %x", got, want)
				}
			})
		}
	}
	for _, outLen := range []int{1, 32, 44, 64, 100} {
		for _, salt := range [][]byte{nil, fill(32)} {
			t.Run(fmt.Sprintf("hkdf/out%d/salt%d", outLen, len(salt)), func(t *testing.T) {
				secret := fill(32)
				want, err := hkdf.Key(sha256.New, secret, salt, ratchetRootLabel, outLen)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, outLen)
				hkdfSHA256(got, secret, salt, ratchetRootLabel)
				if !bytes.Equal(got, want) {
					t.Fatalf("hkdfSHA256 = %x, want %x", got, want)
				}
			})
		}
	}
}
