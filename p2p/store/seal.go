package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
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
// no mutable state, so it is safe for concurrent use.
type sealer struct {
	aead  cipher.AEAD
	index []byte
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
	return &sealer{aead: aead, index: indexKey}
}

// recordKey maps an identifier (a peer ID) to the key its record is stored
// under: HMAC-SHA256 keyed by the index key, so the file does not reveal the
// identifier, yet lookups stay direct. The bucket name is hashed in too, so
// the same peer ID gives unrelated keys in different buckets.
func (s *sealer) recordKey(bucket []byte, id string) []byte {
	m := hmac.New(sha256.New, s.index)
	m.Write([]byte{byte(len(bucket))})
	m.Write(bucket)
	m.Write([]byte(id))
	return m.Sum(nil)
}

// ad binds a sealed value to where it is stored: a value copied to another
// key or bucket fails to open. Bucket and key are length-prefixed so that no
// two (bucket, key) pairs give the same bytes.
func ad(bucket, key []byte) []byte {
	b := make([]byte, 0, len(sealLabel)+3+len(bucket)+len(key))
	b = append(b, sealLabel...)
	b = append(b, byte(len(bucket)))
	b = append(b, bucket...)
	b = append(b, byte(len(key)>>8), byte(len(key)))
	return append(b, key...)
}

// seal returns nonce || AES-256-GCM(plaintext) with a fresh random nonce.
func (s *sealer) seal(bucket, key, plaintext []byte) []byte {
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+s.aead.Overhead())
	rand.Read(out) // never fails: crypto/rand crashes the program instead
	return s.aead.Seal(out, out, plaintext, ad(bucket, key))
}

// open reverses seal. Every failure, a short value included, is ErrCorrupt.
func (s *sealer) open(bucket, key, sealed []byte) ([]byte, error) {
	if len(sealed) < nonceSize+s.aead.Overhead() {
		return nil, ErrCorrupt
	}
	pt, err := s.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], ad(bucket, key))
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}
