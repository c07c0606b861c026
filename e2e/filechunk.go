package e2e

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// This file seals and opens the chunks of a file stream. A file stream is a
// stream of its own, apart from the chat stream, carrying frames
// ([WriteFrame], [ReadFrame] with [MaxFileFrameSize]): first the
// [FileStreamHeader], then one frame per chunk, in index order, the last one
// being the file's final chunk.
//
// What is protected: each chunk's content and integrity, its place in the
// file (file ID and index in the associated data) and whether it is the last
// one (a final flag in the associated data), so a chunk cannot be replayed at
// another index, moved to another file or stream, or passed off as the end of
// the file. A stream cut at a chunk boundary is seen as incomplete
// ([FileOpener.Done] stays false). What is not: the file's size (chunk
// count and the final chunk's length), the timing, and that a file is being
// sent at all; libp2p's own encryption hides them from the network but not
// from a relay in the middle.

// Chunk sizes.
const (
	// FileChunkSize is the plaintext size of every chunk but the final one,
	// which holds the 0 to FileChunkSize bytes that remain. 64 KiB keeps
	// the per-chunk cost (a 16-byte tag, a frame prefix, one AEAD call)
	// below 0.1% while a resumed transfer loses at most 64 KiB; a chunk
	// is about one Noise transport message (at most 65535 bytes). A
	// 256 KiB chunk would not fit: with its tag it passes MaxFrameSize.
	FileChunkSize = 64 << 10

	// MaxFileFrameSize is the frame limit on a file stream: a full chunk
	// and its tag. The header (57 bytes) is smaller.
	MaxFileFrameSize = FileChunkSize + fileTagSize

	fileTagSize = 16
)

// Labels of the chunk keys and chunk associated data.
const (
	// fileStreamLabel prefixes the stream salt in the HKDF info that
	// derives a stream's chunk key from the file key.
	fileStreamLabel = "securechat-v1 file stream"
	// fileChunkLabel starts every chunk's associated data.
	fileChunkLabel = "securechat-v1 file chunk"

	fileChunkADSize = len(fileChunkLabel) + len(FileID{}) + 8 + 1
)

// Errors of sealers that are the caller's mistake, not the peer's.
var (
	errChunkSize  = errors.New("e2e: chunk of the wrong size for its index")
	errStreamDone = errors.New("e2e: file stream already sealed its final chunk")
)

// FileChunks returns the number of chunks of a file of size bytes: at least
// one, since an empty file still has its (empty) final chunk. Chunk i holds
// bytes i*FileChunkSize up to the next chunk or the end.
func FileChunks(size uint64) uint64 {
	if size == 0 {
		return 1
	}
	return (size-1)/FileChunkSize + 1
}

// fileChunkLen is the plaintext length of chunk index of a file of size
// bytes; index is below FileChunks(size).
func fileChunkLen(size, index uint64) int {
	if index+1 < FileChunks(size) {
		return FileChunkSize
	}
	return int(size - index*FileChunkSize)
}

// fileStream is the state both ends of a file stream share: the chunk AEAD
// and the position. Only one (key, nonce) pair per chunk index exists on a
// stream, and a stream seals each index at most once (the position only
// moves forward); a new stream, even for the same file and index, has a new
// random salt and so a new key. So no (key, nonce) pair is ever used twice,
// even if a resumed file changed on the sender's disk in between.
type fileStream struct {
	aead cipher.AEAD
	id   FileID
	size uint64
	next uint64 // index of the next chunk
	last uint64 // index of the final chunk
	done bool   // the final chunk went through
	ad   [fileChunkADSize]byte
}

// newFileStream derives the chunk key of one stream:
//
//	chunk key = HKDF-Expand(SHA-256, file key, "securechat-v1 file stream" || salt, 32)
func newFileStream(k *FileKey, h *FileStreamHeader) (*fileStream, error) {
	info := make([]byte, 0, len(fileStreamLabel)+len(h.Salt))
	info = append(append(info, fileStreamLabel...), h.Salt[:]...)
	key, err := hkdf.Expand(sha256.New, k.key[:], string(info), aeadKeySize)
	if err != nil {
		return nil, fmt.Errorf("e2e: chunk key: %w", err)
	}
	block, err := aes.NewCipher(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("e2e: chunk key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("e2e: chunk key: %w", err)
	}
	return &fileStream{aead: aead, id: k.id, size: k.size, next: h.First, last: FileChunks(k.size) - 1}, nil
}

// chunkAD is "securechat-v1 file chunk" || file ID || u64 index || u8 final.
func (f *fileStream) chunkAD(index uint64, final bool) []byte {
	ad := append(f.ad[:0], fileChunkLabel...)
	ad = append(ad, f.id[:]...)
	ad = binary.BigEndian.AppendUint64(ad, index)
	if final {
		return append(ad, 1)
	}
	return append(ad, 0)
}

// chunkNonce is 00 00 00 00 || u64 index: distinct for every index.
func chunkNonce(index uint64) [aeadNonceSize]byte {
	var n [aeadNonceSize]byte
	binary.BigEndian.PutUint64(n[4:], index)
	return n
}

// sealChunk seals pt as chunk index, with the given final flag, appending
// to dst (a new slice if dst is nil). It checks nothing: the sealer does.
func (f *fileStream) sealChunk(dst []byte, index uint64, final bool, pt []byte) []byte {
	nonce := chunkNonce(index)
	if dst == nil {
		dst = make([]byte, 0, len(pt)+fileTagSize)
	}
	return f.aead.Seal(dst, nonce[:], pt, f.chunkAD(index, final))
}

// openChunk opens a chunk sealed as sealChunk(index, final, ...),
// appending the plaintext to dst (a new slice if dst is nil).
func (f *fileStream) openChunk(dst []byte, index uint64, final bool, chunk []byte) ([]byte, bool) {
	if len(chunk) < fileTagSize {
		return nil, false
	}
	nonce := chunkNonce(index)
	if dst == nil {
		dst = make([]byte, 0, len(chunk)-fileTagSize)
	}
	pt, err := f.aead.Open(dst, nonce[:], chunk, f.chunkAD(index, final))
	return pt, err == nil
}

// A FileSealer seals the chunks of one file stream, in order, from the
// chunk the receiver asked for to the final one. It is not safe for
// concurrent use.
type FileSealer struct {
	f      *fileStream
	header FileStreamHeader
}

// NewSealer starts a file stream at chunk first (0, or a receiver's
// [FileAccept].From), with a fresh random salt from crypto/rand. A first
// past the final chunk is [ErrFileRecord]: the accept that asked for it is
// not valid for this file. Send [FileSealer.Header] as the stream's first
// frame, then each [FileSealer.Seal] output as one frame.
func (k *FileKey) NewSealer(first uint64) (*FileSealer, error) {
	return k.newSealer(rand.Reader, first)
}

func (k *FileKey) newSealer(r io.Reader, first uint64) (*FileSealer, error) {
	if first >= FileChunks(k.size) {
		return nil, ErrFileRecord
	}
	h := FileStreamHeader{ID: k.id, First: first}
	if _, err := io.ReadFull(r, h.Salt[:]); err != nil {
		return nil, fmt.Errorf("e2e: file stream randomness: %w", err)
	}
	f, err := newFileStream(k, &h)
	if err != nil {
		return nil, err
	}
	return &FileSealer{f: f, header: h}, nil
}

// Header returns the stream header to send as the first frame.
func (s *FileSealer) Header() FileStreamHeader { return s.header }

// Next returns the index of the next chunk to seal; it starts at the first
// chunk and, once Done, is one past the final chunk.
func (s *FileSealer) Next() uint64 { return s.f.next }

// ChunkLen returns how many plaintext bytes the next chunk must hold:
// FileChunkSize, less for the final chunk, 0 once Done.
func (s *FileSealer) ChunkLen() int {
	if s.f.done {
		return 0
	}
	return fileChunkLen(s.f.size, s.f.next)
}

// Done reports whether the final chunk has been sealed.
func (s *FileSealer) Done() bool { return s.f.done }

// Seal seals the next chunk. pt must hold exactly ChunkLen bytes: file
// bytes Next*FileChunkSize onwards. The result, ciphertext and 16-byte tag,
// is one frame of the file stream.
func (s *FileSealer) Seal(pt []byte) ([]byte, error) {
	return s.SealTo(nil, pt)
}

// SealTo is Seal appending the sealed chunk to dst, which must not overlap
// pt, so that a caller can seal straight into its write buffer.
func (s *FileSealer) SealTo(dst, pt []byte) ([]byte, error) {
	f := s.f
	if f.done {
		return nil, errStreamDone
	}
	if len(pt) != fileChunkLen(f.size, f.next) {
		return nil, errChunkSize
	}
	final := f.next == f.last
	out := f.sealChunk(dst, f.next, final, pt)
	if final {
		f.done = true
	}
	f.next++
	return out, nil
}

// A FileOpener opens the chunks of one file stream, in order. Its first
// failure is [ErrAuth] and final: every later call fails too, and the caller
// resets the stream. It is not safe for concurrent use.
type FileOpener struct {
	f   *fileStream
	err error
}

// NewOpener starts opening a file stream whose header h the peer sent. first
// is the chunk this side asked for in its [FileAccept]; a header for another
// file or starting elsewhere is [ErrFileRecord].
func (k *FileKey) NewOpener(h FileStreamHeader, first uint64) (*FileOpener, error) {
	if h.ID != k.id || h.First != first || first >= FileChunks(k.size) {
		return nil, ErrFileRecord
	}
	f, err := newFileStream(k, &h)
	if err != nil {
		return nil, err
	}
	return &FileOpener{f: f}, nil
}

// Next returns the index of the next chunk expected; once Done, one past
// the final chunk. Chunks before Next have been opened and may be kept.
func (o *FileOpener) Next() uint64 { return o.f.next }

// Done reports whether the final chunk has been opened. A stream that ends
// before Done was cut, whatever its last chunk said.
func (o *FileOpener) Done() bool { return o.f.done }

// Open authenticates and decrypts the next chunk and returns its plaintext,
// file bytes Next*FileChunkSize onwards. A chunk of the wrong length,
// forged, altered, out of place, from another file or stream, or any chunk
// after the final one, is [ErrAuth].
func (o *FileOpener) Open(chunk []byte) ([]byte, error) {
	return o.OpenTo(nil, chunk)
}

// OpenTo is Open appending the plaintext to dst, which must not overlap
// chunk unless it is chunk[:0] (opening in place), so that a caller can
// reuse its buffers.
func (o *FileOpener) OpenTo(dst, chunk []byte) ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	f := o.f
	if f.done || len(chunk) != fileChunkLen(f.size, f.next)+fileTagSize {
		o.err = ErrAuth
		return nil, o.err
	}
	final := f.next == f.last
	pt, ok := f.openChunk(dst, f.next, final, chunk)
	if !ok {
		o.err = ErrAuth
		return nil, o.err
	}
	if final {
		f.done = true
	}
	f.next++
	return pt, nil
}
