package store

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/securechat/securechat/e2e"
)

func mustEncode(t testing.TB, c Contact) []byte {
	t.Helper()
	b, err := encodeContact(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodeContactLayout pins the v2 byte layout (and, through
// encodeContactV1, the v1 layout the migration reads): a change here needs a
// new encoding version and a migration, not an edit of this test.
func TestEncodeContactLayout(t *testing.T) {
	c := Contact{
		PeerID:    "P",
		Name:      "N",
		Trust:     TrustVerified,
		Addrs:     []string{"A"},
		Blocked:   true,
		FirstSeen: time.Unix(1, 2),
		LastSeen:  time.Unix(3, 4),
	}
	c.Fingerprint[0], c.PendingFingerprint[31] = 0xaa, 0xbb
	var v1 []byte
	v1 = append(v1, 1, 0, 1, 'P')
	v1 = append(v1, c.Fingerprint[:]...)
	v1 = append(v1, 0, 1, 'N', 3)
	v1 = append(v1, c.PendingFingerprint[:]...)
	v1 = append(v1, 1, 0, 1, 0, 1, 'A')
	v1 = append(v1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2)
	v1 = append(v1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4)
	if got := encodeContactV1(t, c); !bytes.Equal(got, v1) {
		t.Errorf("v1 encoding\n got  %x\n want %x", got, v1)
	}
	if got, err := decodeContactV1(v1); err != nil || !reflect.DeepEqual(got, stored(c)) {
		t.Errorf("decodeContactV1 = %+v, %v", got, err)
	}

	v2 := append([]byte{2}, v1[1:]...)
	if got := mustEncode(t, c); !bytes.Equal(got, append(bytes.Clone(v2), 0, 0)) {
		t.Errorf("v2 encoding, no identity\n got  %x\n want %x00", got, v2)
	}
	c.Identity = []byte{0xc0, 0xde}
	if got := mustEncode(t, c); !bytes.Equal(got, append(bytes.Clone(v2), 0, 2, 0xc0, 0xde)) {
		t.Errorf("v2 encoding, identity\n got  %x\n want %x0002c0de", got, v2)
	}
}

// encodeContactV1 is the schema 1 to 3 code's contact encoder: contact
// encoding v2 without the final identity field. Tests use it to build old
// stores.
func encodeContactV1(t testing.TB, c Contact) []byte {
	t.Helper()
	if len(c.Identity) != 0 {
		t.Fatal("a v1 contact has no identity")
	}
	b := mustEncode(t, c)
	b[0] = contactEncodingV1
	return b[:len(b)-2]
}

func TestDecodeContactRejects(t *testing.T) {
	c := sampleContact("peer")
	c.Identity = []byte("identity")
	valid := mustEncode(t, c)
	// Offsets into valid, from the layout in encodeContact.
	const (
		trustAt    = 1 + 2 + 4 + 32 + 2 + len("alice peer")
		flagsAt    = trustAt + 1 + 32
		addrsAt    = flagsAt + 1
		identityAt = len("identity") + 2 // from the end
	)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	tests := map[string][]byte{
		"empty":          {},
		"version 0":      edit(func(b []byte) []byte { b[0] = 0; return b }),
		"version 1":      edit(func(b []byte) []byte { b[0] = 1; return b }),
		"version 1 body": encodeContactV1(t, sampleContact("peer")),
		"version 3":      edit(func(b []byte) []byte { b[0] = 3; return b }),
		"trailing byte":  append(bytes.Clone(valid), 0),
		"trust 0":        edit(func(b []byte) []byte { b[trustAt] = 0; return b }),
		"trust 4":        edit(func(b []byte) []byte { b[trustAt] = 4; return b }),
		"unknown flag":   edit(func(b []byte) []byte { b[flagsAt] |= 2; return b }),
		"addr count":     edit(func(b []byte) []byte { binary.BigEndian.PutUint16(b[addrsAt:], 0xffff); return b }),
		"nanos 1e9": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[len(b)-identityAt-4:], 1e9)
			return b
		}),
		"identity long": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[len(b)-identityAt:], uint16(len("identity")+1))
			return b
		}),
		"identity short": edit(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[len(b)-identityAt:], uint16(len("identity")-1))
			return b
		}),
		"empty peer ID": mustEncodeUnchecked(Contact{PeerID: "", Trust: TrustNew}),
	}
	for i := range valid {
		tests[fmt.Sprintf("truncated to %d", i)] = valid[:i]
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if c, err := decodeContact(b); err == nil {
				t.Errorf("decoded %+v", c)
			}
		})
	}
	// And the v1 decoder, kept for the migration, is as strict about v1.
	v1 := encodeContactV1(t, sampleContact("peer"))
	for name, b := range map[string][]byte{
		"version 2":     valid,
		"trailing byte": append(bytes.Clone(v1), 0, 0),
		"truncated":     v1[:len(v1)-1],
	} {
		if c, err := decodeContactV1(b); err == nil {
			t.Errorf("decodeContactV1(%s) = %+v", name, c)
		}
	}
}

// mustEncodeUnchecked builds an encoding that encodeContact would refuse,
// by encoding a valid contact and cutting its peer ID out.
func mustEncodeUnchecked(c Contact) []byte {
	c.PeerID = "x"
	b, _ := encodeContact(c)
	return append([]byte{b[0], 0, 0}, b[4:]...)
}

func TestDecodeContactRoundTrip(t *testing.T) {
	for name, id := range map[string][]byte{
		"no identity": nil,
		"identity":    bytes.Repeat([]byte{0x42}, 1100),
		"largest":     bytes.Repeat([]byte{7}, maxField),
	} {
		t.Run(name, func(t *testing.T) {
			c := sampleContact("peer")
			c.Blocked = true
			c.PendingFingerprint = fp(9)
			c.Identity = id
			got, err := decodeContact(mustEncode(t, c))
			if err != nil || !reflect.DeepEqual(got, stored(c)) {
				t.Fatalf("decode = %+v, %v", got, err)
			}
		})
	}
	c := sampleContact("peer")
	c.Identity = make([]byte, maxField+1)
	if _, err := encodeContact(c); !errors.Is(err, ErrInvalidContact) {
		t.Errorf("identity over %d bytes: %v, want ErrInvalidContact", maxField, err)
	}
}

// TestPublicIdentityEncoding: EncodePublicIdentity round-trips through
// ParsePublicIdentity, which is strict and applies the peer key policy.
func TestPublicIdentityEncoding(t *testing.T) {
	pub := testPublicIdentity(t)
	b := EncodePublicIdentity(pub)
	got, err := ParsePublicIdentity(b)
	if err != nil || !got.Equal(pub) || got.Fingerprint() != pub.Fingerprint() {
		t.Fatalf("ParsePublicIdentity = %v, %v", got, err)
	}
	sigLen := len(pub.SigningKeyDER())
	swapped := append(EncodePublicIdentity(pub)[sigLen+2:], EncodePublicIdentity(pub)[:sigLen+2]...)
	same := append(EncodePublicIdentity(pub)[:sigLen+2], EncodePublicIdentity(pub)[:sigLen+2]...)
	tests := map[string][]byte{
		"empty":         {},
		"trailing byte": append(bytes.Clone(b), 0),
		"no wrap key":   b[:sigLen+2],
		"one key twice": same,
		"flipped DER":   func() []byte { x := bytes.Clone(b); x[10] ^= 1; return x }(),
	}
	for i := range len(b) {
		tests[fmt.Sprintf("truncated to %d", i)] = b[:i]
	}
	for name, x := range tests {
		t.Run(name, func(t *testing.T) {
			if got, err := ParsePublicIdentity(x); err == nil {
				t.Errorf("parsed %v", got)
			}
		})
	}
	// Swapped keys parse (both are valid RSA keys), but as another
	// identity: the fingerprint is what a caller checks.
	if got, err := ParsePublicIdentity(swapped); err == nil && got.Fingerprint() == pub.Fingerprint() {
		t.Error("swapped keys give the same fingerprint")
	}
}

// testPublicIdentity returns a public identity of two RSA-2048 keys, the
// smallest the policy allows, so that generating it stays cheap.
func testPublicIdentity(t testing.TB) *e2e.PublicIdentity {
	t.Helper()
	var der [2][]byte
	for i := range der {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		if der[i], err = x509.MarshalPKIXPublicKey(&k.PublicKey); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := e2e.ParsePublicIdentity(der[0], der[1])
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// FuzzDecodeContact checks that the decoder never panics and is strict:
// whatever it accepts, encodeContact reproduces byte for byte, so no record
// has two encodings.
func FuzzDecodeContact(f *testing.F) {
	full := sampleContact("12D3KooWFuzz")
	full.PendingFingerprint, full.Blocked, full.Trust = fp(7), true, TrustVerified
	full.Identity = []byte("public identity bytes")
	for _, c := range []Contact{
		{PeerID: "p", Trust: TrustNew},
		sampleContact("peer"),
		full,
		{PeerID: "z", Trust: TrustPinned, Name: "Zoë", Addrs: []string{"", "/x"}, FirstSeen: time.Unix(-1, 5)},
	} {
		f.Add(mustEncode(f, c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeContact(b)
		if err != nil {
			return
		}
		again, err := encodeContact(c)
		if err != nil {
			t.Fatalf("decoded contact does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("not canonical:\n in  %x\n out %x", b, again)
		}
	})
}
