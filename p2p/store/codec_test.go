package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func mustEncode(t testing.TB, c Contact) []byte {
	t.Helper()
	b, err := encodeContact(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEncodeContactLayout pins the v1 byte layout: a change here needs a new
// encoding version and a migration, not an edit of this test.
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
	var want []byte
	want = append(want, 1, 0, 1, 'P')
	want = append(want, c.Fingerprint[:]...)
	want = append(want, 0, 1, 'N', 3)
	want = append(want, c.PendingFingerprint[:]...)
	want = append(want, 1, 0, 1, 0, 1, 'A')
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2)
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 4)
	if got := mustEncode(t, c); !bytes.Equal(got, want) {
		t.Errorf("encoding\n got  %x\n want %x", got, want)
	}
}

func TestDecodeContactRejects(t *testing.T) {
	valid := mustEncode(t, sampleContact("peer"))
	// Offsets into valid, from the layout in encodeContact.
	const (
		trustAt = 1 + 2 + 4 + 32 + 2 + len("alice peer")
		flagsAt = trustAt + 1 + 32
		addrsAt = flagsAt + 1
	)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(valid)) }
	tests := map[string][]byte{
		"empty":         {},
		"version 0":     edit(func(b []byte) []byte { b[0] = 0; return b }),
		"version 2":     edit(func(b []byte) []byte { b[0] = 2; return b }),
		"trailing byte": append(bytes.Clone(valid), 0),
		"trust 0":       edit(func(b []byte) []byte { b[trustAt] = 0; return b }),
		"trust 4":       edit(func(b []byte) []byte { b[trustAt] = 4; return b }),
		"unknown flag":  edit(func(b []byte) []byte { b[flagsAt] |= 2; return b }),
		"addr count":    edit(func(b []byte) []byte { binary.BigEndian.PutUint16(b[addrsAt:], 0xffff); return b }),
		"nanos 1e9":     edit(func(b []byte) []byte { binary.BigEndian.PutUint32(b[len(b)-4:], 1e9); return b }),
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
}

// mustEncodeUnchecked builds an encoding that encodeContact would refuse,
// by encoding a valid contact and cutting its peer ID out.
func mustEncodeUnchecked(c Contact) []byte {
	c.PeerID = "x"
	b, _ := encodeContact(c)
	return append([]byte{b[0], 0, 0}, b[4:]...)
}

func TestDecodeContactRoundTrip(t *testing.T) {
	c := sampleContact("peer")
	c.Blocked = true
	c.PendingFingerprint = fp(9)
	got, err := decodeContact(mustEncode(t, c))
	if err != nil || !reflect.DeepEqual(got, stored(c)) {
		t.Fatalf("decode = %+v, %v", got, err)
	}
}

// FuzzDecodeContact checks that the decoder never panics and is strict:
// whatever it accepts, encodeContact reproduces byte for byte, so no record
// has two encodings.
func FuzzDecodeContact(f *testing.F) {
	full := sampleContact("12D3KooWFuzz")
	full.PendingFingerprint, full.Blocked, full.Trust = fp(7), true, TrustVerified
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
