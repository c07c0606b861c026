package e2e

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
)

// This file derives the key of one file transfer from the live session
// (exporter.go) and the offer's secret. Chunks are sealed under keys derived
// from it (filechunk.go).

// fileKeyLabel is the exporter label of file keys.
const fileKeyLabel = "securechat-v1 file key"

// errNilOffer is the caller's mistake of deriving a key without an offer.
var errNilOffer = errors.New("e2e: no file offer")

// A FileKey is the key of one file in one direction, for the life of its
// transfer. Both sides derive the same FileKey from the same offer: the
// sender with [Session.SendFileKey], the receiver with
// [Session.RecvFileKey]. From it, each file stream gets its own chunk key
// ([FileKey.NewSealer], [FileKey.NewOpener]).
//
// A FileKey is not safe for concurrent use. Call [FileKey.Wipe] when the
// transfer has ended (done, rejected or failed for good).
type FileKey struct {
	key  [32]byte
	id   FileID
	size uint64
}

// SendFileKey derives the key of a file this side offered. See
// [Session.RecvFileKey] for the peer's side.
//
// The key is
//
//	bind = Export("securechat-v1 file key", direction || file ID, 32)
//	key  = HKDF-Extract(SHA-256, salt = bind, ikm = offer secret)
//
// where direction is the sender's (00 initiator to responder, 01 responder
// to initiator). The direction separates a file each side offers under the
// same ID; bind ties the key to this session, so a file stream carried to
// another session, or to another file, fails at its first chunk; and the
// offer secret, which only ever travels inside a ratchet record, gives the
// key the ratchet's forward secrecy: a session state leaked after the offer
// record's keys are gone cannot derive the key without that record.
func (s *Session) SendFileKey(o *FileOffer) (*FileKey, error) {
	return s.fileKey(o, s.direction(true))
}

// RecvFileKey derives the key of a file the peer offered (see
// [Session.SendFileKey]).
func (s *Session) RecvFileKey(o *FileOffer) (*FileKey, error) {
	return s.fileKey(o, s.direction(false))
}

func (s *Session) fileKey(o *FileOffer, dir byte) (*FileKey, error) {
	if o == nil {
		return nil, errNilOffer
	}
	var ctx [1 + len(FileID{})]byte
	ctx[0] = dir
	copy(ctx[1:], o.ID[:])
	bind, err := s.export(fileKeyLabel, ctx[:], 32)
	if err != nil {
		return nil, fmt.Errorf("e2e: file key: %w", err)
	}
	prk, err := hkdf.Extract(sha256.New, o.secret[:], bind)
	clear(bind)
	if err != nil || len(prk) != 32 {
		return nil, errors.New("e2e: file key: hkdf failed")
	}
	k := &FileKey{id: o.ID, size: o.Size}
	copy(k.key[:], prk)
	clear(prk)
	return k, nil
}

// ID returns the ID of the file the key belongs to.
func (k *FileKey) ID() FileID { return k.id }

// Size returns the size of the file from its offer.
func (k *FileKey) Size() uint64 { return k.size }

// Wipe forgets the key. Sealers and openers made from it keep working (they
// hold AES key schedules of their own that Go gives no way to erase), so
// drop them too.
func (k *FileKey) Wipe() { clear(k.key[:]) }

// String names the key by file ID, never showing the key.
func (k *FileKey) String() string { return fmt.Sprintf("e2e.FileKey(%s)", k.id) }

// GoString keeps %#v from printing the key too.
func (k *FileKey) GoString() string { return k.String() }
