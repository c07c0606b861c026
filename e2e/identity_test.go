package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
)

// craftRSAPublicDER returns the PKIX DER of an RSA "public key" with a random
// odd modulus of exactly bits bits. It is not a real key (nobody knows its
// factors, it may not even be a product of two primes) but it is what a
// hostile peer can send, and it takes no key generation.
func craftRSAPublicDER(tb testing.TB, bits, e int) []byte {
	tb.Helper()
	b := make([]byte, (bits+7)/8)
	if _, err := rand.Read(b); err != nil {
		tb.Fatal(err)
	}
	n := new(big.Int).SetBytes(b)
	for i := bits; i < len(b)*8; i++ {
		n.SetBit(n, i, 0)
	}
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	der, err := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: n, E: e})
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

func TestKeyPolicy(t *testing.T) {
	good := testIdentity(t, 0).Public().WrapKeyDER()
	tests := []struct {
		bits, e int
		ok      bool
	}{
		{1024, 65537, false},
		{2047, 65537, false},
		{2048, 65537, true},
		{3072, 65537, true},
		{4096, 65537, true},
		{4097, 65537, false},
		{8192, 65537, false},
		{16384, 65537, false},
		{2048, 3, false},
		{3072, 17, false},
		{3072, 65539, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d bits e=%d", tt.bits, tt.e), func(t *testing.T) {
			der := craftRSAPublicDER(t, tt.bits, tt.e)
			for _, pos := range []string{"signing", "wrap"} {
				sig, enc := der, good
				if pos == "wrap" {
					sig, enc = good, der
				}
				p, err := ParsePublicIdentity(sig, enc)
				if tt.ok {
					if err != nil {
						t.Fatalf("%s key refused: %v", pos, err)
					}
					if pos == "signing" && p.SigningKeyBits() != tt.bits {
						t.Fatalf("SigningKeyBits = %d", p.SigningKeyBits())
					}
					continue
				}
				if !errors.Is(err, ErrKeyPolicy) {
					t.Fatalf("%s key: got %v, want ErrKeyPolicy", pos, err)
				}
			}
		})
	}
}

func TestKeyPolicyOtherKeys(t *testing.T) {
	good := testIdentity(t, 0).Public().WrapKeyDER()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKIXPublicKey(edPub)
	even := new(big.Int).Lsh(big.NewInt(1), 3071) // 3072 bits, even
	evenDER, _ := x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: even, E: 65537})
	pkcs1 := x509.MarshalPKCS1PublicKey(&rsa.PublicKey{N: new(big.Int).Add(even, big.NewInt(1)), E: 65537})
	tests := map[string][]byte{
		"ECDSA":            ecDER,
		"Ed25519":          edDER,
		"even modulus":     evenDER,
		"PKCS #1 not PKIX": pkcs1,
		"empty":            nil,
		"garbage":          []byte{0x30, 0x03, 0x02, 0x01, 0x01},
		"oversized":        make([]byte, maxPublicKeyDER+1),
	}
	for name, der := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePublicIdentity(der, good); !errors.Is(err, ErrKeyPolicy) {
				t.Fatalf("got %v, want ErrKeyPolicy", err)
			}
		})
	}
}

// TestOneKeyOneScheme: a bundle that offers its signing key as its wrap key
// too is refused, since one RSA key must never serve both PSS and OAEP.
func TestOneKeyOneScheme(t *testing.T) {
	pub := testIdentity(t, 0).Public()
	if _, err := ParsePublicIdentity(pub.SigningKeyDER(), pub.SigningKeyDER()); !errors.Is(err, ErrKeyPolicy) {
		t.Fatalf("same key for both schemes: got %v, want ErrKeyPolicy", err)
	}
	if _, err := ParsePublicIdentity(pub.SigningKeyDER(), pub.WrapKeyDER()); err != nil {
		t.Fatalf("distinct keys: %v", err)
	}
}

// TestNonCanonicalDER feeds encodings that crypto/x509 accepts but that are
// not what it would write. One key must have one fingerprint, so each is
// refused.
func TestNonCanonicalDER(t *testing.T) {
	pub := testIdentity(t, 0).Public()
	good := pub.WrapKeyDER()
	key := pub.sig
	rsaOID := asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	spki := func(inner []byte) []byte {
		der, err := asn1.Marshal(struct {
			Algo pkix.AlgorithmIdentifier
			Key  asn1.BitString
		}{
			pkix.AlgorithmIdentifier{Algorithm: rsaOID, Parameters: asn1.NullRawValue},
			asn1.BitString{Bytes: inner, BitLength: 8 * len(inner)},
		})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	canonInner, _ := asn1.Marshal(struct {
		N *big.Int
		E int
	}{key.N, key.E})
	extraField, _ := asn1.Marshal(struct {
		N     *big.Int
		E     int
		Extra int
	}{key.N, key.E, 0})
	if !bytes.Equal(spki(canonInner), pub.SigningKeyDER()) {
		t.Fatal("test builder does not reproduce the canonical encoding")
	}
	tests := map[string][]byte{
		"extra field in RSAPublicKey":  spki(extraField),
		"bytes after RSAPublicKey":     spki(append(bytes.Clone(canonInner), 0x05, 0x00)),
		"trailing bytes after the key": append(bytes.Clone(pub.SigningKeyDER()), 0x00),
	}
	for name, der := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePublicIdentity(der, good); !errors.Is(err, ErrKeyPolicy) {
				t.Fatalf("got %v, want ErrKeyPolicy", err)
			}
		})
	}
	// The first two really are accepted by crypto/x509 as the same key, so
	// the test exercises our canonical check, not the ASN.1 parser.
	for _, name := range []string{"extra field in RSAPublicKey", "bytes after RSAPublicKey"} {
		k, err := x509.ParsePKIXPublicKey(tests[name])
		if err != nil || !k.(*rsa.PublicKey).Equal(key) {
			t.Errorf("%s: crypto/x509 no longer accepts it (%v); pick another variant", name, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	id := testIdentity(t, 0)
	sum := sha256.Sum256(id.Public().SigningKeyDER())
	want := hex.EncodeToString(sum[:])
	fp := id.Fingerprint()
	if fp.String() != want || id.Public().Fingerprint() != fp {
		t.Fatalf("fingerprint %s, want SHA-256 of the signing SPKI %s", fp, want)
	}
	if strings.ToLower(want) != fp.String() || len(fp.String()) != 64 {
		t.Fatal("fingerprint text is not 64 lower-case hex digits")
	}
	if fp.Short() != want[:16] {
		t.Fatalf("Short = %s", fp.Short())
	}
	if fp.IsZero() || !(Fingerprint{}).IsZero() {
		t.Fatal("IsZero")
	}
	if !fp.Equal(fp) || fp.Equal(testIdentity(t, 1).Fingerprint()) {
		t.Fatal("Equal")
	}
	// The wrap key does not enter the fingerprint.
	if sha256.Sum256(id.Public().WrapKeyDER()) == [32]byte(fp) {
		t.Fatal("fingerprint covers the wrap key")
	}
}

func TestParseFingerprint(t *testing.T) {
	fp := testIdentity(t, 0).Fingerprint()
	s := fp.String()
	for _, in := range []string{s, strings.ToUpper(s)} {
		got, err := ParseFingerprint(in)
		if err != nil || got != fp {
			t.Fatalf("ParseFingerprint(%q) = %v, %v", in, got, err)
		}
	}
	bad := []string{"", s[:63], s + "0", s[:62] + "zz", "0x" + s[:62], " " + s[:63], s[:32] + " " + s[33:], s[:63] + "\n"}
	for _, in := range bad {
		if _, err := ParseFingerprint(in); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", in)
		}
	}
}

func TestIdentityEncodeRoundTrip(t *testing.T) {
	id := testIdentity(t, 0)
	enc := id.Encode()
	got, err := ParseIdentity(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Public().Equal(id.Public()) || got.Fingerprint() != id.Fingerprint() {
		t.Fatal("round trip changed the keys")
	}
	if !bytes.Equal(got.Encode(), enc) {
		t.Fatal("Encode is not stable")
	}
	if got.Public().Equal(testIdentity(t, 1).Public()) {
		t.Fatal("Equal holds for different identities")
	}
	// A signature by the parsed identity verifies under the original.
	sig, err := got.sign("label", []byte("msg"))
	if err != nil || id.Public().verify("label", []byte("msg"), sig) != nil {
		t.Fatal("parsed identity signs differently")
	}
}

func TestParseIdentityRefuses(t *testing.T) {
	enc := testIdentity(t, 0).Encode()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKCS8PrivateKey(small)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	s := cryptobyte.String(enc)
	var sigDER []byte
	if !readVec16(&s, &sigDER) {
		t.Fatal("cannot split identity encoding")
	}
	tests := map[string][]byte{
		"empty":          nil,
		"truncated":      enc[:len(enc)-1],
		"trailing byte":  append(bytes.Clone(enc), 0),
		"one key only":   appendVec16(nil, sigDER),
		"1024-bit key":   appendVec16(appendVec16(nil, smallDER), sigDER),
		"ECDSA key":      appendVec16(appendVec16(nil, sigDER), ecDER),
		"garbage key":    appendVec16(appendVec16(nil, []byte{0x30, 0x00}), sigDER),
		"length too big": append([]byte{0xff, 0xff}, enc[2:]...),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseIdentity(b); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestIdentityNeverPrintsKeys checks every fmt verb on identities. Public
// keys are not secret, but private exponents and primes must never appear.
func TestIdentityNeverPrintsKeys(t *testing.T) {
	id := testIdentity(t, 0)
	var secrets []string
	for _, k := range []*rsa.PrivateKey{id.sig, id.enc} {
		secrets = append(secrets, k.D.String()[:24], k.D.Text(16)[:24], k.Primes[0].String()[:24], k.Primes[0].Text(16)[:24])
	}
	der, _ := x509.MarshalPKCS8PrivateKey(id.sig)
	secrets = append(secrets, hex.EncodeToString(der[len(der)-40:]))
	fp := id.Fingerprint().String()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x"} {
		for _, arg := range []any{id, id.Public(), []*Identity{id}, struct{ ID *Identity }{id}} {
			out := fmt.Sprintf(verb, arg)
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("%s of %T prints private key material: %.80q", verb, arg, out)
				}
			}
		}
		if out := fmt.Sprintf(verb, id); (verb == "%v" || verb == "%s" || verb == "%+v" || verb == "%#v") && !strings.Contains(out, fp) {
			t.Errorf("%s of *Identity = %q, want the fingerprint", verb, out)
		}
	}
}

func FuzzParseIdentity(f *testing.F) {
	f.Add(testIdentity(f, 0).Encode())
	f.Add([]byte{0, 2, 0x30, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := ParseIdentity(b)
		if err != nil {
			return
		}
		again, err := ParseIdentity(id.Encode())
		if err != nil || !again.Public().Equal(id.Public()) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
		if bits := id.Public().SigningKeyBits(); bits < MinPeerRSABits || bits > MaxPeerRSABits {
			t.Fatalf("accepted a %d-bit key", bits)
		}
	})
}
