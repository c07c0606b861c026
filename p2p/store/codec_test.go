package store

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
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

// TestEncodeContactLayout pins the v3 byte layout (and, through
// encodeContactV1 and encodeContactV2, the v1 and v2 layouts the migrations
// read): a change here needs a
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
	if got := encodeContactV2(t, c); !bytes.Equal(got, append(bytes.Clone(v2), 0, 0)) {
		t.Errorf("v2 encoding, no identity\n got  %x\n want %x0000", got, v2)
	}
	if got, err := decodeContactV2(append(bytes.Clone(v2), 0, 0)); err != nil || !reflect.DeepEqual(got, stored(c)) {
		t.Errorf("decodeContactV2 = %+v, %v", got, err)
	}
	v3 := append([]byte{3}, v1[1:]...)
	if got := mustEncode(t, c); !bytes.Equal(got, append(bytes.Clone(v3), 0, 0, 0, 0)) {
		t.Errorf("v3 encoding, no identity, no label\n got  %x\n want %x00000000", got, v3)
	}
	c.Identity, c.Label = []byte{0xc0, 0xde}, "L"
	if got := mustEncode(t, c); !bytes.Equal(got, append(bytes.Clone(v3), 0, 2, 0xc0, 0xde, 0, 1, 'L')) {
		t.Errorf("v3 encoding, identity and label\n got  %x\n want %x0002c0de00014c", got, v3)
	}
	if _, err := decodeContactV2(mustEncode(t, c)); err == nil {
		t.Error("decodeContactV2 accepted a v3 record")
	}
}

// encodeContactV2 is the schema 4 and 5 code's contact encoder: contact
// encoding v3 without the final label field. Tests use it to build old
// stores.
func encodeContactV2(t testing.TB, c Contact) []byte {
	t.Helper()
	if c.Label != "" {
		t.Fatal("a v2 contact has no label")
	}
	b := mustEncode(t, c)
	b[0] = contactEncodingV2
	return b[:len(b)-2]
}

// encodeContactV1 is the schema 1 to 3 code's contact encoder: contact
// encoding v3 without the final identity and label fields. Tests use it to
// build old stores.
func encodeContactV1(t testing.TB, c Contact) []byte {
	t.Helper()
	if len(c.Identity) != 0 || c.Label != "" {
		t.Fatal("a v1 contact has no identity and no label")
	}
	b := mustEncode(t, c)
	b[0] = contactEncodingV1
	return b[:len(b)-4]
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
		identityAt = len("identity") + 2 + 2 // from the end, before the empty label
	)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	tests := map[string][]byte{
		"empty":          {},
		"version 0":      edit(func(b []byte) []byte { b[0] = 0; return b }),
		"version 1":      edit(func(b []byte) []byte { b[0] = 1; return b }),
		"version 1 body": encodeContactV1(t, sampleContact("peer")),
		"version 2":      edit(func(b []byte) []byte { b[0] = 2; return b }),
		"version 2 body": encodeContactV2(t, c),
		"version 4":      edit(func(b []byte) []byte { b[0] = 4; return b }),
		"label long":     edit(func(b []byte) []byte { b[len(b)-1] = 1; return b }),
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

// TestOversizeFieldIsAnError: a string longer than its u16 length can say
// is refused by every encoder, never written with its length cut to the low
// 16 bits (which makes a record no reader accepts: a silent lost write).
// The encoders' callers check first; this is the check behind theirs.
func TestOversizeFieldIsAnError(t *testing.T) {
	longest, over := string(make([]byte, maxField)), string(make([]byte, maxField+1))
	b, err := appendVec16([]byte{9}, longest)
	if err != nil || len(b) != 1+2+maxField || binary.BigEndian.Uint16(b[1:]) != maxField {
		t.Fatalf("longest field: %d bytes, %v", len(b), err)
	}
	if b, err := appendVec16([]byte{9}, over); !errors.Is(err, errFieldTooLong) || len(b) != 1 {
		t.Fatalf("field of %d bytes: wrote %d bytes, %v; want errFieldTooLong and nothing written", len(over), len(b), err)
	}
	if b, err := appendVec16([]byte{9}, []byte(over)); !errors.Is(err, errFieldTooLong) || len(b) != 1 {
		t.Fatalf("byte field of %d bytes: wrote %d bytes, %v", len(over), len(b), err)
	}
	// appendMessage and encodeOutboxPointer skip checkMessage; they must
	// still refuse.
	if _, err := appendMessage(nil, Message{PeerID: over, Text: "x"}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("appendMessage with a %d-byte peer ID: %v, want ErrInvalidMessage", len(over), err)
	}
	if _, err := encodeOutboxPointer(over, msgID(1)); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("encodeOutboxPointer with a %d-byte peer ID: %v, want ErrInvalidMessage", len(over), err)
	}
	for name, c := range map[string]Contact{
		"peer ID": {PeerID: over, Trust: TrustNew},
		"name":    {PeerID: "p", Name: over, Trust: TrustNew},
		"address": {PeerID: "p", Addrs: []string{"a", over}, Trust: TrustNew},
	} {
		if _, err := encodeContact(c); !errors.Is(err, ErrInvalidContact) || !errors.Is(err, errFieldTooLong) {
			t.Errorf("contact with a long %s: %v, want ErrInvalidContact and errFieldTooLong", name, err)
		}
	}
}

// TestEncodingsGolden pins the stored bytes of each record encoding, as the
// code before the cryptobyte parsers wrote them: a change to an encoder
// that moves one byte fails here, not in a user's store after an upgrade.
func TestEncodingsGolden(t *testing.T) {
	const peer = "12D3KooWpeer"
	c := sampleContact(peer)
	c.Blocked = true
	c.PendingFingerprint = fp(0x20)
	c.Identity = []byte("identity bytes")
	m := outMessage(peer, 5)
	m.FromMe, m.Seq = true, 77
	adSum := sha256.Sum256(appendAD(nil, bucketHistory, []byte("k")))
	tests := []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"contact", func() ([]byte, error) { return encodeContact(c) },
			"03000c313244334b6f6f5770656572101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f" +
				"0012616c69636520313244334b6f6f577065657202202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" +
				"01000200172f6970342f3132372e302e302e312f7463702f34303031001f2f6970342f3132372e302e302e312f7564702f343030312f717569632d7631" +
				"00000000695735a500000006000000006b091c603b9ac9ff000e6964656e74697479206279746573" + "0000"},
		{"contact v3 with a label", func() ([]byte, error) { c := c; c.Label = "L"; return encodeContact(c) },
			"03000c313244334b6f6f5770656572101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f" +
				"0012616c69636520313244334b6f6f577065657202202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f" +
				"01000200172f6970342f3132372e302e302e312f7463702f34303031001f2f6970342f3132372e302e302e312f7564702f343030312f717569632d7631" +
				"00000000695735a500000006000000006b091c603b9ac9ff000e6964656e74697479206279746573" + "00014c"},
		{"message", func() ([]byte, error) { return encodeMessage(m) },
			"02000c313244334b6f6f577065657205040706010003020d0c0f0e09080b0a01000000000000004d0000000069a7bdbf007a120000000006746578742066"},
		{"outbox pointer", func() ([]byte, error) { return encodeOutboxPointer(peer, msgID(6)) },
			"02000c313244334b6f6f577065657206070405020300010e0f0c0d0a0b0809"},
		{"ids entry", func() ([]byte, error) {
			return encodeIDEntry(idEntry{fromMe: true, state: StateSent, seq: 77}), nil
		}, "020102000000000000004d"},
		{"associated data (SHA-256)", func() ([]byte, error) { return adSum[:], nil },
			"e9b01618c4e3e1c006db2ee3887d20f1453363b54836f5fba2393ec7f72e1c09"},
	}
	for _, tt := range tests {
		got, err := tt.got()
		if err != nil || hex.EncodeToString(got) != tt.want {
			t.Errorf("%s: %x, %v\nwant %s", tt.name, got, err, tt.want)
		}
	}
}
