package e2e

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestParsersStrict holds every length-prefixed parser to the one rule of
// encoding.go: exactly the bytes the writer produced are accepted. A valid
// encoding is accepted; every proper prefix, a trailing byte, and each
// vec16 length moved by one or set past the end are refused.
func TestParsersStrict(t *testing.T) {
	x, y := []byte{1, 2, 3}, []byte{4, 5}
	id := testIdentity(t, 0).Encode()
	idSigLen := int(binary.BigEndian.Uint16(id))
	secrets := appendVec16(appendVec16(nil, x), id)
	secrets = append(secrets, make([]byte, 32)...)
	tests := []struct {
		name  string
		enc   []byte
		parse func([]byte) bool
		vecs  []int // offsets of the vec16 length fields
	}{
		{"msg1", (&msg1{versions: []uint16{1, 2}, bundle: x}).marshal(), parse1, []int{1 + 1 + 4 + 64}},
		{"msg2", (&msg2{version: 1, versions: []uint16{1}, bundle: x, wrapped: y, sig: x}).marshal(), parse2,
			[]int{1 + 2 + 1 + 2 + 64, 1 + 2 + 1 + 2 + 64 + 2 + 3, 1 + 2 + 1 + 2 + 64 + 2 + 3 + 2 + 2}},
		{"msg3", (&msg3{wrapped: x, sig: y}).marshal(), parse3, []int{1, 1 + 2 + 3}},
		{"msg4", (&msg4{}).marshal(), parse4, nil},
		{"identity", id, func(b []byte) bool { _, err := ParseIdentity(b); return err == nil },
			[]int{0, 2 + idSigLen}},
		{"key file secrets", secrets, func(b []byte) bool { _, err := parseKeyFileSecrets(b); return err == nil },
			[]int{0, 2 + len(x)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.parse(bytes.Clone(tt.enc)) {
				t.Fatal("valid encoding refused")
			}
			for n := range len(tt.enc) {
				if tt.parse(bytes.Clone(tt.enc[:n])) {
					t.Fatalf("prefix of %d bytes accepted", n)
				}
			}
			if tt.parse(append(bytes.Clone(tt.enc), 0)) {
				t.Fatal("trailing byte accepted")
			}
			for _, off := range tt.vecs {
				n := binary.BigEndian.Uint16(tt.enc[off:])
				for _, bad := range []uint16{n + 1, n - 1, 0xffff} {
					b := bytes.Clone(tt.enc)
					binary.BigEndian.PutUint16(b[off:], bad)
					if tt.parse(b) {
						t.Errorf("length at %d set to %d (was %d) accepted", off, bad, n)
					}
				}
			}
		})
	}
}

func TestAppendVec16PanicsWhenTooLong(t *testing.T) {
	if got := appendVec16([]byte{9}, make([]byte, 0xffff)); len(got) != 1+2+0xffff || got[1] != 0xff || got[2] != 0xff {
		t.Fatal("longest vector encoded wrongly")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a vector of 64 KiB was written with a truncated length")
		}
	}()
	appendVec16(nil, make([]byte, 0x10000))
}
