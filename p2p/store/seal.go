package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
)

// sealLabel starts the associated data of every sealed record. It names the
// envelope format: a different envelope would need a new label and a schema
// migration, so old and new records can never be confused.
const sealLabel = "securechat-store-v1"

// HKDF info strings for the two keys derived from the storage key. One key
// never serves two jobs: the AEAD key seals values, the index key turns peer
// IDs into record keys.
const (
	sealKeyInfo  = "securechat-store-v1 seal key"
	indexKeyInfo = "securechat-store-v1 index key"
)

// nonceSize is the AES-GCM nonce length. Nonces are random: at 2^32 writes
// under one storage key the chance of a repeat reaches 2^-32, far beyond
// what a chat store writes, and random nonces need no counter that a
// restored backup could roll back.
const nonceSize = 12

// A sealer seals and opens record values and computes record keys. It holds
// no mutable state besides a pool of scratch memory (keyed HMACs and
// buffers), so it is safe for concurrent use.
type sealer struct {
	aead cipher.AEAD
	// scratches holds *scratch values. hmac.New runs the key schedule
	// (two SHA-256 blocks) and allocates every time; a pooled HMAC is
	// only Reset, which restores the keyed state. Each value is used by
	// one goroutine at a time, so concurrent views stay safe.
	scratches sync.Pool
}

// scratch is per-call working memory: an HMAC-SHA256 keyed with the index
// key, and a buffer for its input or for associated data.
type scratch struct {
	h   hash.Hash
	buf []byte
}

func (s *sealer) scratch() *scratch { return s.scratches.Get().(*scratch) }

// release returns sc to the pool. Record keys and associated data are
// short; a buffer grown by something unusually long is not kept.
func (s *sealer) release(sc *scratch) {
	if cap(sc.buf) > 512 {
		sc.buf = nil
	}
	s.scratches.Put(sc)
}

func newSealer(key [32]byte) *sealer {
	sealKey, err := hkdf.Key(sha256.New, key[:], nil, sealKeyInfo, 32)
	if err != nil {
		panic("store: derive seal key: " + err.Error()) // only for absurd lengths
	}
	indexKey, err := hkdf.Key(sha256.New, key[:], nil, indexKeyInfo, 32)
	if err != nil {
		panic("store: derive index key: " + err.Error())
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		panic("store: " + err.Error()) // 32-byte keys are always valid
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("store: " + err.Error())
	}
	clear(sealKey)
	s := &sealer{aead: aead}
	// The pool's New keeps the index key alive for the store's lifetime,
	// as the sealer field did before.
	s.scratches.New = func() any { return &scratch{h: hmac.New(sha256.New, indexKey)} }
	return s
}

// recordKeyLen is the length of a record key (an HMAC-SHA256 output).
const recordKeyLen = sha256.Size

// recordKey maps an identifier (a peer ID) to the key its record is stored
// under: HMAC-SHA256 keyed by the index key, so the file does not reveal the
// identifier, yet lookups stay direct. The bucket name is hashed in too, so
// the same peer ID gives unrelated keys in different buckets.
func (s *sealer) recordKey(bucket []byte, id string) []byte {
	return s.appendRecordKey(nil, bucket, id, nil)
}

// appendRecordKey appends to dst the HMAC of len(bucket) || bucket || id ||
// extra: [sealer.recordKey] of id || extra, without building that string.
// Callers pass a dst with room for what they append next (a seq).
func (s *sealer) appendRecordKey(dst, bucket []byte, id string, extra []byte) []byte {
	sc := s.scratch()
	defer s.release(sc)
	sc.h.Reset()
	sc.buf = append(sc.buf[:0], byte(len(bucket)))
	sc.buf = append(sc.buf, bucket...)
	sc.buf = append(sc.buf, id...)
	sc.buf = append(sc.buf, extra...)
	sc.h.Write(sc.buf)
	return sc.h.Sum(dst)
}

// appendAD appends to b the associated data that binds a sealed value to
// where it is stored: a value copied to another key or bucket fails to
// open. Bucket and key are length-prefixed so that no two (bucket, key)
// pairs give the same bytes.
func appendAD(b, bucket, key []byte) []byte {
	b = append(b, sealLabel...)
	b = append(b, byte(len(bucket)))
	b = append(b, bucket...)
	b = append(b, byte(len(key)>>8), byte(len(key)))
	return append(b, key...)
}

// seal returns nonce || AES-256-GCM(plaintext) with a fresh random nonce.
func (s *sealer) seal(bucket, key, plaintext []byte) []byte {
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+s.aead.Overhead())
	return s.sealBuffer(bucket, key, append(out, plaintext...))
}

// sealBuffer seals in place a buffer that holds nonceSize bytes of room for
// the nonce followed by the plaintext, and returns nonce || ciphertext in
// the same memory (reallocated only if cap(buf) lacks the room for the tag;
// see [sealer.newBuffer]). It saves encoders a copy of large values.
func (s *sealer) sealBuffer(bucket, key, buf []byte) []byte {
	nonce, pt := buf[:nonceSize], buf[nonceSize:]
	rand.Read(nonce) // never fails: crypto/rand crashes the program instead
	sc := s.scratch()
	defer s.release(sc)
	sc.buf = appendAD(sc.buf[:0], bucket, key)
	// dst = nonce: the ciphertext is appended right after it, over the
	// plaintext, which is the exact overlap cipher.AEAD allows.
	return s.aead.Seal(nonce, nonce, pt, sc.buf)
}

// newBuffer returns an empty buffer for [sealer.sealBuffer]: room for the
// nonce, and capacity for n bytes of plaintext and the tag.
func (s *sealer) newBuffer(n int) []byte {
	return make([]byte, nonceSize, nonceSize+n+s.aead.Overhead())
}

// open reverses seal. Every failure, a short value included, is ErrCorrupt.
func (s *sealer) open(bucket, key, sealed []byte) ([]byte, error) {
	if len(sealed) < nonceSize+s.aead.Overhead() {
		return nil, ErrCorrupt
	}
	sc := s.scratch()
	defer s.release(sc)
	sc.buf = appendAD(sc.buf[:0], bucket, key)
	pt, err := s.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], sc.buf)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}
