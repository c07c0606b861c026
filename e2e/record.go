package e2e

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds the wire format of session records, kept apart from the
// ratchet logic in session.go:
//
//	record = header || AES-256-GCM(key, nonce, plaintext, AD)   (ciphertext and 16-byte tag)
//	header = type (1) || ratchet public key (32) || pn (u32) || n (u32)
//	AD     = "securechat-v1 record" || session ID (32) || direction (1) || header
//
// The header travels in clear (the ratchet needs it before it has a key) but
// is authenticated whole as associated data, so not one bit of it can change
// unnoticed.

// A RecordType says what a record carries. It is authenticated with the
// record, so a peer's DATA can never be turned into its CLOSE.
type RecordType byte

// The record types. Any other value fails like a forged record.
const (
	// RecordData carries one chat payload of at least one byte.
	RecordData RecordType = 1
	// RecordHeartbeat is empty. It exists to carry the sender's current
	// ratchet key when it has nothing to say, so that a peer who does all the
	// talking still gets fresh DH input and the session keeps healing.
	RecordHeartbeat RecordType = 2
	// RecordClose is empty and ends the session in its sender's direction.
	// Because it is authenticated, an attacker can cut a stream but cannot
	// make the cut look like a clean end.
	RecordClose RecordType = 3
)

// String returns the lower-case name of the type.
func (t RecordType) String() string {
	switch t {
	case RecordData:
		return "data"
	case RecordHeartbeat:
		return "heartbeat"
	case RecordClose:
		return "close"
	}
	return "RecordType(" + strconv.Itoa(int(t)) + ")"
}

// recordADLabel opens the associated data of every record, separating it
// from every other use of the same keys.
const recordADLabel = "securechat-v1 record"

// Record sizes.
const (
	recordHeaderSize = 1 + 32 + 4 + 4
	recordTagSize    = 16
	// recordMinSize is an empty record (HEARTBEAT or CLOSE).
	recordMinSize = recordHeaderSize + recordTagSize
	// maxPlaintext is the largest DATA payload whose record still fits in
	// one frame of MaxFrameSize.
	maxPlaintext = MaxFrameSize - recordMinSize
)

// Direction bytes of the associated data, named for the sender. Binding the
// direction stops a record from being reflected back to its sender even if
// both chains ever derived the same key.
const (
	dirInitiatorToResponder = 0
	dirResponderToInitiator = 1
)

// recordHeader is the parsed clear-text header.
type recordHeader struct {
	typ RecordType
	key [32]byte // sender's ratchet public key
	pn  uint32   // length of the sender's previous sending chain
	n   uint32   // index of this record in its chain
}

func (h *recordHeader) append(b []byte) []byte {
	b = append(b, byte(h.typ))
	b = append(b, h.key[:]...)
	b = binary.BigEndian.AppendUint32(b, h.pn)
	return binary.BigEndian.AppendUint32(b, h.n)
}

// parseRecord splits a record into header and ciphertext, checking only
// what needs no key: the size, a known type, and that DATA has a payload
// while HEARTBEAT and CLOSE have none. Everything it refuses costs O(1).
func parseRecord(rec []byte) (h recordHeader, ct []byte, ok bool) {
	if len(rec) < recordMinSize || len(rec) > MaxFrameSize {
		return h, nil, false
	}
	s := cryptobyte.String(rec)
	var typ uint8
	if !s.ReadUint8(&typ) || !s.CopyBytes(h.key[:]) || !s.ReadUint32(&h.pn) || !s.ReadUint32(&h.n) {
		return h, nil, false // cannot happen after the size check
	}
	h.typ, ct = RecordType(typ), s
	switch h.typ {
	case RecordData:
		ok = len(ct) > recordTagSize
	case RecordHeartbeat, RecordClose:
		ok = len(ct) == recordTagSize
	}
	return h, ct, ok
}

// recordADSize is the size of a record's associated data.
const recordADSize = len(recordADLabel) + 32 + 1 + recordHeaderSize

// recordAD builds the associated data for a header in buf (the session's
// scratch space, under its lock: the AEAD is an interface, so a stack
// buffer would escape to the heap on every record). dir is the sender's
// direction byte.
func recordAD(buf *[recordADSize]byte, id *[32]byte, dir byte, header []byte) []byte {
	ad := append(buf[:0], recordADLabel...)
	ad = append(ad, id[:]...)
	ad = append(ad, dir)
	return append(ad, header...)
}

// newRecordAEAD returns AES-256-GCM under key. Each record gets its own key,
// so the AEAD is built per record.
func newRecordAEAD(key *[aeadKeySize]byte) cipher.AEAD {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic("e2e: aes: " + err.Error()) // cannot happen for 32-byte keys
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("e2e: gcm: " + err.Error())
	}
	return aead
}

// sealRecordWith appends header and ciphertext to a new slice sized
// exactly, building the associated data in adBuf.
func sealRecordWith(adBuf *[recordADSize]byte, h *recordHeader, id *[32]byte, dir byte, key *[aeadKeySize]byte, nonce *[aeadNonceSize]byte, pt []byte) []byte {
	rec := make([]byte, 0, recordHeaderSize+len(pt)+recordTagSize)
	rec = h.append(rec)
	ad := recordAD(adBuf, id, dir, rec)
	return newRecordAEAD(key).Seal(rec, nonce[:], pt, ad)
}

// openRecordWith authenticates and decrypts a record already split by
// parseRecord, building the associated data in adBuf. The plaintext is a
// fresh slice, never an alias of rec.
func openRecordWith(adBuf *[recordADSize]byte, rec, ct []byte, id *[32]byte, dir byte, key *[aeadKeySize]byte, nonce *[aeadNonceSize]byte) ([]byte, bool) {
	ad := recordAD(adBuf, id, dir, rec[:recordHeaderSize])
	pt, err := newRecordAEAD(key).Open(nil, nonce[:], ct, ad)
	if err != nil {
		return nil, false
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, true
}
