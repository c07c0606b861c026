package e2e

import (
	"encoding/binary"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds the wire format of the four handshake messages, apart from
// the handshake logic. Every parser is strict: the type byte must match, every
// fixed field has its exact length, every variable field its uint16 length,
// version lists are canonical, and nothing may follow the last field. One
// message therefore has exactly one encoding, which the transcript relies on.
// The layouts are specified byte for byte in PROTOCOL.md, section "Handshake".

// Message type bytes, the first byte of each handshake message.
const (
	msgType1 byte = 1 // initiator hello
	msgType2 byte = 2 // responder hello, signed
	msgType3 byte = 3 // initiator auth, signed, with finished
	msgType4 byte = 4 // responder finished
)

// Sizes of the fixed fields.
const (
	ephemeralSize = 32 // X25519 public key
	nonceSize     = 32
	secretSize    = 32 // s_I, s_R
	finishedSize  = 32 // HMAC-SHA256
)

// maxVersions bounds a peer's version list. Version lists travel in the
// signed transcript, so their length only needs a bound against abuse.
const maxVersions = 16

// supportedVersions is the list this implementation offers, in ascending
// order. Version 1 is the protocol PROTOCOL.md describes.
var supportedVersions = []uint16{1}

// appendVersions writes a version list: a count byte, then each version as a
// big-endian uint16.
func appendVersions(b []byte, vs []uint16) []byte {
	b = append(b, byte(len(vs)))
	for _, v := range vs {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

// readVersions reads a version list and checks that it is canonical: 1 to
// maxVersions entries, no zero, strictly ascending (hence no duplicates).
func readVersions(s *cryptobyte.String) ([]uint16, bool) {
	var n uint8
	if !s.ReadUint8(&n) || n == 0 || n > maxVersions {
		return nil, false
	}
	vs := make([]uint16, n)
	for i := range vs {
		if !s.ReadUint16(&vs[i]) || vs[i] == 0 || (i > 0 && vs[i] <= vs[i-1]) {
			return nil, false
		}
	}
	return vs, true
}

// chooseVersion returns the highest version in both lists.
func chooseVersion(ours, theirs []uint16) (uint16, bool) {
	var best uint16
	for _, a := range ours {
		for _, b := range theirs {
			if a == b && a > best {
				best = a
			}
		}
	}
	return best, best != 0
}

// msg1 is the initiator's hello:
//
//	type=1 | versions | e_I [32] | n_I [32] | vec16 bundle_I
type msg1 struct {
	versions []uint16
	eph      [ephemeralSize]byte
	nonce    [nonceSize]byte
	bundle   []byte
}

func (m *msg1) marshal() []byte {
	b := []byte{msgType1}
	b = appendVersions(b, m.versions)
	b = append(b, m.eph[:]...)
	b = append(b, m.nonce[:]...)
	return appendVec16(b, m.bundle)
}

func parseMsg1(b []byte) (*msg1, bool) {
	s := cryptobyte.String(b)
	var typ uint8
	if !s.ReadUint8(&typ) || typ != msgType1 {
		return nil, false
	}
	var m msg1
	var ok bool
	if m.versions, ok = readVersions(&s); !ok {
		return nil, false
	}
	if !s.CopyBytes(m.eph[:]) || !s.CopyBytes(m.nonce[:]) ||
		!readVec16(&s, &m.bundle) || !s.Empty() || len(m.bundle) == 0 {
		return nil, false
	}
	return &m, true
}

// msg2 is the responder's hello. Its body is everything before the
// signature, which signs the transcript through the body:
//
//	type=2 | chosen version u16 | versions | e_R [32] | n_R [32] |
//	vec16 bundle_R | vec16 OAEP(IK_enc_I, s_R) | vec16 sig_R
type msg2 struct {
	version  uint16
	versions []uint16
	eph      [ephemeralSize]byte
	nonce    [nonceSize]byte
	bundle   []byte
	wrapped  []byte
	sig      []byte
}

func (m *msg2) marshalBody() []byte {
	b := []byte{msgType2}
	b = binary.BigEndian.AppendUint16(b, m.version)
	b = appendVersions(b, m.versions)
	b = append(b, m.eph[:]...)
	b = append(b, m.nonce[:]...)
	b = appendVec16(b, m.bundle)
	return appendVec16(b, m.wrapped)
}

func (m *msg2) marshal() []byte { return appendVec16(m.marshalBody(), m.sig) }

// parseMsg2 also returns the body, the bytes the signature covers.
func parseMsg2(b []byte) (m *msg2, body []byte, ok bool) {
	s := cryptobyte.String(b)
	var typ uint8
	m = &msg2{}
	if !s.ReadUint8(&typ) || typ != msgType2 || !s.ReadUint16(&m.version) {
		return nil, nil, false
	}
	if m.versions, ok = readVersions(&s); !ok {
		return nil, nil, false
	}
	if !s.CopyBytes(m.eph[:]) || !s.CopyBytes(m.nonce[:]) ||
		!readVec16(&s, &m.bundle) || !readVec16(&s, &m.wrapped) {
		return nil, nil, false
	}
	bodyLen := len(b) - len(s)
	if !readVec16(&s, &m.sig) || !s.Empty() ||
		len(m.bundle) == 0 || len(m.wrapped) == 0 || len(m.sig) == 0 {
		return nil, nil, false
	}
	return m, b[:bodyLen], true
}

// msg3 is the initiator's authentication. The signature covers the
// transcript through the body (type and wrapped secret); the finished MAC
// covers the transcript through the signature:
//
//	type=3 | vec16 OAEP(IK_enc_R, s_I) | vec16 sig_I | finished_I [32]
type msg3 struct {
	wrapped  []byte
	sig      []byte
	finished [finishedSize]byte
}

func (m *msg3) marshalBody() []byte {
	return appendVec16([]byte{msgType3}, m.wrapped)
}

func (m *msg3) marshal() []byte {
	b := appendVec16(m.marshalBody(), m.sig)
	return append(b, m.finished[:]...)
}

// parseMsg3 also returns the body, the bytes the signature covers.
func parseMsg3(b []byte) (m *msg3, body []byte, ok bool) {
	s := cryptobyte.String(b)
	var typ uint8
	m = &msg3{}
	if !s.ReadUint8(&typ) || typ != msgType3 || !readVec16(&s, &m.wrapped) {
		return nil, nil, false
	}
	bodyLen := len(b) - len(s)
	if !readVec16(&s, &m.sig) || !s.CopyBytes(m.finished[:]) || !s.Empty() ||
		len(m.wrapped) == 0 || len(m.sig) == 0 {
		return nil, nil, false
	}
	return m, b[:bodyLen], true
}

// msg4 is the responder's finished message:
//
//	type=4 | finished_R [32]
type msg4 struct {
	finished [finishedSize]byte
}

func (m *msg4) marshal() []byte { return append([]byte{msgType4}, m.finished[:]...) }

func parseMsg4(b []byte) (*msg4, bool) {
	s := cryptobyte.String(b)
	var typ uint8
	var m msg4
	if !s.ReadUint8(&typ) || typ != msgType4 || !s.CopyBytes(m.finished[:]) || !s.Empty() {
		return nil, false
	}
	return &m, true
}
