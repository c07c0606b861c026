package e2e

import (
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/cryptobyte"
)

// This file holds the one passphrase-sealed file construction that the key
// file (keyfile.go) and the identity backup (backup.go) share: a plaintext
// header naming the kind of file and the argon2id parameters, then
// XChaCha20-Poly1305 over the contents with the whole header as associated
// data. The kinds differ in their magic line only, and the magic is part of
// the authenticated header, so a key file can never be opened as a backup or
// the other way round, even under the same passphrase.
//
//	magic    the kind's text line
//	version   1  1
//	kdf       1  1 = argon2id
//	time      4  argon2id passes
//	memory    4  argon2id memory in KiB
//	threads   1  argon2id lanes
//	salt     32  random
//	nonce    24  random XChaCha20-Poly1305 nonce
//	ciphertext   XChaCha20-Poly1305(key, nonce, contents, header), 16-byte tag

// sealedKind is one kind of passphrase-sealed file.
type sealedKind struct {
	magic   string // first bytes of the file, ending in "\n"
	noun    string // "key file", "backup file": for error messages
	maxSize int    // refused above this many bytes, before anything is parsed
	err     error  // the one error every failure is or wraps
}

// keyFileKind is the key file (keyfile.go).
var keyFileKind = sealedKind{magic: keyFileMagic, noun: "key file", maxSize: maxKeyFileSize, err: ErrPassphrase}

// headerLen is the length of the kind's header, everything before the
// ciphertext.
func (k sealedKind) headerLen() int {
	return len(k.magic) + 1 + 1 + 4 + 4 + 1 + keyFileSaltLen + keyFileNonceLen
}

// seal writes the header with fresh salt and nonce from rnd and seals
// contents under it.
func (k sealedKind) seal(contents, passphrase []byte, p kdfParams, rnd io.Reader) ([]byte, error) {
	hlen := k.headerLen()
	header := make([]byte, 0, hlen)
	header = append(header, k.magic...)
	header = append(header, keyFileVersion, kdfArgon2id)
	header = binary.BigEndian.AppendUint32(header, p.time)
	header = binary.BigEndian.AppendUint32(header, p.memory)
	header = append(header, p.threads)
	header = header[:hlen]
	random := header[hlen-keyFileSaltLen-keyFileNonceLen:]
	if _, err := io.ReadFull(rnd, random); err != nil {
		return nil, fmt.Errorf("%s salt: %w", k.noun, err)
	}
	salt, nonce := random[:keyFileSaltLen], random[keyFileSaltLen:]

	key := deriveKeyFileKey(passphrase, salt, p)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(header)+len(contents)+aead.Overhead())
	out = append(out, header...)
	return aead.Seal(out, nonce, contents, header), nil
}

// open checks the header in full, KDF parameters included, before the KDF
// runs, so a hostile file costs at most what the caps allow, and returns the
// authenticated contents. Every failure is or wraps k.err; the caller must
// clear the contents when done.
func (k sealedKind) open(data, passphrase []byte) ([]byte, error) {
	if len(data) > k.maxSize {
		return nil, fmt.Errorf("%w: file too large", k.err)
	}
	s := cryptobyte.String(data)
	var magic, salt, nonce []byte
	var version, kdf uint8
	var p kdfParams
	if !s.ReadBytes(&magic, len(k.magic)) || !s.ReadUint8(&version) || !s.ReadUint8(&kdf) ||
		!s.ReadUint32(&p.time) || !s.ReadUint32(&p.memory) || !s.ReadUint8(&p.threads) ||
		!s.ReadBytes(&salt, keyFileSaltLen) || !s.ReadBytes(&nonce, keyFileNonceLen) ||
		len(s) < chacha20poly1305.Overhead {
		return nil, fmt.Errorf("%w: file truncated", k.err)
	}
	if string(magic) != k.magic {
		return nil, fmt.Errorf("%w: not a securechat %s", k.err, k.noun)
	}
	if version != keyFileVersion {
		return nil, fmt.Errorf("%w: unsupported %s version %d", k.err, k.noun, version)
	}
	if kdf != kdfArgon2id {
		return nil, fmt.Errorf("%w: unsupported key derivation function %d", k.err, kdf)
	}
	if p.check() != nil {
		return nil, fmt.Errorf("%w: key derivation parameters out of range", k.err)
	}
	if len(passphrase) == 0 {
		return nil, k.err // seal is never called with an empty passphrase
	}

	header := data[:k.headerLen()]
	key := deriveKeyFileKey(passphrase, salt, p)
	defer clear(key)
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, k.err
	}
	contents, err := aead.Open(nil, nonce, s, header)
	if err != nil {
		return nil, k.err
	}
	return contents, nil
}
