package e2e

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds the wire format of file transfer's records: the offer,
// accept and reject that travel inside chat DATA records (so the Double
// Ratchet protects them), and the header that opens a file stream. The keys
// are in filekey.go, the chunks in filechunk.go; e2e/PROTOCOL.md, section
// "File transfer", has the layouts.
//
// Parsing is strict, as everywhere in the protocol: the type byte must be the
// record's own, every field must be complete, nothing may follow the last
// one, and the total length is checked before anything is allocated. So each
// record has exactly one encoding, and whatever parses encodes back to the
// same bytes.

// Type bytes of the file records. Offer, accept and reject share the type
// space of the chat payloads (e2e/PROTOCOL.md, "Chat payloads") and are sent
// as the whole plaintext of a DATA record; the stream header is the first
// frame of a file stream.
const (
	FileOfferType  = 0x10
	FileAcceptType = 0x11
	FileRejectType = 0x12
	FileStreamType = 0x13
)

// Sizes of the file records.
const (
	// MaxFileName is the longest file name an offer carries, in bytes of
	// UTF-8. The name is the sender's claim: the receiver sanitizes it
	// before it reaches a terminal or a file system.
	MaxFileName = 255

	fileOfferFixed      = 1 + 16 + 32 + 8 + 32 + 1 // 90: type to name length
	maxFileOfferSize    = fileOfferFixed + MaxFileName
	fileAcceptSize      = 1 + 16 + 8
	fileRejectSize      = 1 + 16 + 1
	fileStreamHeaderLen = 1 + 16 + 8 + 32
)

// ErrFileRecord is the one error of every file record parser: wrong type,
// wrong length, bad field or trailing bytes. The records arrive inside
// authenticated DATA records, so one that does not parse comes from a
// broken or hostile peer.
var ErrFileRecord = errors.New("e2e: malformed file record")

// errFileName is NewFileOffer's error for a name the protocol cannot carry.
var errFileName = errors.New("e2e: file name must be 1 to 255 bytes of UTF-8")

// A FileID names one offered file: 16 random bytes chosen by the sender.
// It is public (file stream headers carry it unencrypted by this layer).
type FileID [16]byte

// String returns the ID as 32 lower-case hex digits.
func (id FileID) String() string { return hex.EncodeToString(id[:]) }

// ParseFileID parses 32 hex digits, as [FileID.String] prints them.
func ParseFileID(s string) (FileID, error) {
	var id FileID
	if len(s) != 2*len(id) {
		return id, errors.New("e2e: file ID must be 32 hex digits")
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, errors.New("e2e: file ID must be 32 hex digits")
	}
	return id, nil
}

// A FileOffer proposes a file to the peer. Besides what the user sees (name,
// size, SHA-256), it carries a 32-byte secret that both sides mix into the
// file's key ([Session.SendFileKey]): the offer is only ever sent inside a
// ratchet DATA record, so the file key is as secret as that record. An
// encoded offer therefore holds a secret and must be stored sealed (the
// node's store is) and never logged; String shows the ID and size only.
//
// Neither the size nor the name is hidden from the relay by padding: the
// relay sees the lengths and timing of the DATA records and of the file
// stream, from which the size follows to within a chunk's tag.
type FileOffer struct {
	ID     FileID   // random, chosen by the sender
	Name   string   // the sender's name for the file: untrusted, 1 to MaxFileName bytes of UTF-8
	Size   uint64   // exact size in bytes; the caller caps what it accepts
	SHA256 [32]byte // SHA-256 of the whole file, checked by the receiver at the end

	secret [32]byte
}

// NewFileOffer returns an offer for a file with a fresh random ID and key
// secret from crypto/rand. name must be 1 to [MaxFileName] bytes of valid
// UTF-8.
func NewFileOffer(name string, size uint64, sum [32]byte) (*FileOffer, error) {
	return newFileOffer(rand.Reader, name, size, sum)
}

func newFileOffer(r io.Reader, name string, size uint64, sum [32]byte) (*FileOffer, error) {
	if !validFileName(name) {
		return nil, errFileName
	}
	o := &FileOffer{Name: name, Size: size, SHA256: sum}
	if _, err := io.ReadFull(r, o.ID[:]); err != nil {
		return nil, fmt.Errorf("e2e: file offer randomness: %w", err)
	}
	if _, err := io.ReadFull(r, o.secret[:]); err != nil {
		return nil, fmt.Errorf("e2e: file offer randomness: %w", err)
	}
	return o, nil
}

func validFileName(name string) bool {
	return len(name) >= 1 && len(name) <= MaxFileName && utf8.ValidString(name)
}

// String names the offer by ID and size, never showing its secret.
func (o *FileOffer) String() string {
	return fmt.Sprintf("e2e.FileOffer(%s, %d bytes)", o.ID, o.Size)
}

// GoString keeps %#v from printing the secret too.
func (o *FileOffer) GoString() string { return o.String() }

// Encode returns the offer record:
//
//	0x10 || ID (16) || secret (32) || u64 size || SHA-256 (32) || u8 len || name
//
// It panics on a name NewFileOffer or ParseFileOffer would refuse, which
// would be a bug in the caller.
func (o *FileOffer) Encode() []byte {
	if !validFileName(o.Name) {
		panic("e2e: encoding a file offer with an invalid name")
	}
	b := make([]byte, 0, fileOfferFixed+len(o.Name))
	b = append(b, FileOfferType)
	b = append(b, o.ID[:]...)
	b = append(b, o.secret[:]...)
	b = binary.BigEndian.AppendUint64(b, o.Size)
	b = append(b, o.SHA256[:]...)
	b = append(b, byte(len(o.Name)))
	return append(b, o.Name...)
}

// ParseFileOffer parses an offer record strictly. Every failure is
// [ErrFileRecord].
func ParseFileOffer(b []byte) (*FileOffer, error) {
	// The one variable field has a one-byte length, so the whole record is
	// bounded before anything is read or allocated.
	if len(b) < fileOfferFixed+1 || len(b) > maxFileOfferSize {
		return nil, ErrFileRecord
	}
	s := cryptobyte.String(b)
	var typ uint8
	var id, secret, sum, name []byte
	o := &FileOffer{}
	if !s.ReadUint8(&typ) || typ != FileOfferType ||
		!s.ReadBytes(&id, len(o.ID)) || !s.ReadBytes(&secret, len(o.secret)) ||
		!s.ReadUint64(&o.Size) || !s.ReadBytes(&sum, len(o.SHA256)) ||
		!s.ReadUint8LengthPrefixed((*cryptobyte.String)(&name)) || !s.Empty() ||
		!validFileName(string(name)) {
		return nil, ErrFileRecord
	}
	copy(o.ID[:], id)
	copy(o.secret[:], secret)
	copy(o.SHA256[:], sum)
	o.Name = string(name)
	return o, nil
}

// A FileAccept answers an offer: the receiver wants the file from chunk
// From on (0 for all of it; more when it kept the chunks before From from an
// earlier attempt). See [FileChunks] for the chunk count.
type FileAccept struct {
	ID   FileID
	From uint64 // index of the first chunk wanted
}

// Encode returns the accept record: 0x11 || ID (16) || u64 From.
func (a FileAccept) Encode() []byte {
	b := make([]byte, 0, fileAcceptSize)
	b = append(b, FileAcceptType)
	b = append(b, a.ID[:]...)
	return binary.BigEndian.AppendUint64(b, a.From)
}

// ParseFileAccept parses an accept record strictly. Every failure is
// [ErrFileRecord]. Whether From is within the file is checked when the
// sender starts the stream ([FileKey.NewSealer]).
func ParseFileAccept(b []byte) (FileAccept, error) {
	var a FileAccept
	if len(b) != fileAcceptSize || b[0] != FileAcceptType {
		return FileAccept{}, ErrFileRecord
	}
	copy(a.ID[:], b[1:17])
	a.From = binary.BigEndian.Uint64(b[17:])
	return a, nil
}

// A FileReason says why a transfer ended without the file.
type FileReason uint8

// The reasons a [FileReject] may carry. Any other value is refused.
const (
	// FileRejected: the receiver declined the offer.
	FileRejected FileReason = 1
	// FileCancelled: a user cancelled the transfer, on either side.
	FileCancelled FileReason = 2
	// FileFailed: the sender could not read, or the receiver could not
	// store, the file.
	FileFailed FileReason = 3
	// FileCorrupt: the receiver refused a chunk or the whole file's
	// SHA-256 did not match the offer.
	FileCorrupt FileReason = 4
	// FileTooLarge: the file is over what the receiver accepts.
	FileTooLarge FileReason = 5
)

// String names the reason as the API's file_failed event does.
func (r FileReason) String() string {
	switch r {
	case FileRejected:
		return "rejected"
	case FileCancelled:
		return "cancelled"
	case FileFailed:
		return "failed"
	case FileCorrupt:
		return "corrupt"
	case FileTooLarge:
		return "too_large"
	}
	return fmt.Sprintf("FileReason(%d)", uint8(r))
}

func (r FileReason) valid() bool { return r >= FileRejected && r <= FileTooLarge }

// A FileReject refuses an offer or ends a transfer, sent by either side.
type FileReject struct {
	ID     FileID
	Reason FileReason
}

// Encode returns the reject record: 0x12 || ID (16) || u8 reason. It panics
// on an undefined reason, which would be a bug in the caller.
func (r FileReject) Encode() []byte {
	if !r.Reason.valid() {
		panic("e2e: encoding a file reject with an undefined reason")
	}
	b := make([]byte, 0, fileRejectSize)
	b = append(b, FileRejectType)
	b = append(b, r.ID[:]...)
	return append(b, byte(r.Reason))
}

// ParseFileReject parses a reject record strictly, refusing undefined
// reasons. Every failure is [ErrFileRecord].
func ParseFileReject(b []byte) (FileReject, error) {
	var r FileReject
	if len(b) != fileRejectSize || b[0] != FileRejectType {
		return FileReject{}, ErrFileRecord
	}
	copy(r.ID[:], b[1:17])
	r.Reason = FileReason(b[17])
	if !r.Reason.valid() {
		return FileReject{}, ErrFileRecord
	}
	return r, nil
}

// A FileStreamHeader is the first frame of a file stream. It is not
// encrypted by this layer and needs no MAC of its own: the ID and Salt
// select the key and First the first chunk's index, which is in that
// chunk's associated data, so a header changed in transit makes the first
// chunk fail. Every stream has at least one chunk (the final one).
type FileStreamHeader struct {
	ID    FileID
	First uint64   // index of the first chunk on this stream
	Salt  [32]byte // random per stream: the chunk key is new on every stream
}

// Encode returns the header: 0x13 || ID (16) || u64 First || Salt (32).
func (h FileStreamHeader) Encode() []byte {
	b := make([]byte, 0, fileStreamHeaderLen)
	b = append(b, FileStreamType)
	b = append(b, h.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, h.First)
	return append(b, h.Salt[:]...)
}

// ParseFileStreamHeader parses a stream header strictly. Every failure is
// [ErrFileRecord].
func ParseFileStreamHeader(b []byte) (FileStreamHeader, error) {
	var h FileStreamHeader
	if len(b) != fileStreamHeaderLen || b[0] != FileStreamType {
		return FileStreamHeader{}, ErrFileRecord
	}
	copy(h.ID[:], b[1:17])
	h.First = binary.BigEndian.Uint64(b[17:25])
	copy(h.Salt[:], b[25:])
	return h, nil
}
