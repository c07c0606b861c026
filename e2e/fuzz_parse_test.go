package e2e

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParsePublicIdentity: the peer key policy never panics, and whatever it
// accepts is canonical DER within the policy.
func FuzzParsePublicIdentity(f *testing.F) {
	id := testIdentity(f, 0)
	f.Add(id.Public().SigningKeyDER(), id.Public().WrapKeyDER())
	f.Add(id.Public().SigningKeyDER(), id.Public().SigningKeyDER())
	f.Add([]byte{0x30, 0x82, 0xff, 0xff}, []byte{})
	f.Fuzz(func(t *testing.T, sigDER, encDER []byte) {
		p, err := ParsePublicIdentity(sigDER, encDER)
		if err != nil {
			return
		}
		if !bytes.Equal(p.SigningKeyDER(), sigDER) || !bytes.Equal(p.WrapKeyDER(), encDER) {
			t.Fatal("accepted a key that is not kept byte for byte")
		}
		if b := p.SigningKeyBits(); b < MinPeerRSABits || b > MaxPeerRSABits {
			t.Fatalf("accepted a %d-bit key", b)
		}
	})
}

// FuzzParseFingerprint: only 64 hex digits parse (either case), and they
// round trip to the lower-case form.
func FuzzParseFingerprint(f *testing.F) {
	f.Add(testIdentity(f, 0).Fingerprint().String())
	f.Add("00")
	f.Add("ZZ" + testIdentity(f, 0).Fingerprint().String()[2:])
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		if fp.String() != strings.ToLower(s) {
			t.Fatalf("ParseFingerprint(%q) round trips to %q", s, fp.String())
		}
	})
}
