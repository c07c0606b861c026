package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/cryptobyte"
)

// This file holds the encrypted key file: the node's libp2p host key, its RSA
// identity and the key that seals the local store, under one passphrase. It
// deals in bytes only; p2p/keystore reads and writes the file.
//
// Layout, version 1 (integers big-endian; PROTOCOL.md has the same table):
//
//	magic    20  "securechat key file\n"
//	version   1  1
//	kdf       1  1 = argon2id
//	time      4  argon2id passes
//	memory    4  argon2id memory in KiB
//	threads   1  argon2id lanes
//	salt     32  random
//	nonce    24  random XChaCha20-Poly1305 nonce
//	---- end of header; the whole header is the AEAD's associated data ----
//	ciphertext   XChaCha20-Poly1305(key, nonce, secrets, header), 16-byte tag
//
//	secrets: vec16 host key | vec16 Identity.Encode() | 32-byte storage key

// keyFileMagic starts every key file. It is text so that `head -1` names the
// file, and ends in a newline so a text editor shows it on its own line.
const keyFileMagic = "securechat key file\n"

const (
	keyFileVersion = 1
	kdfArgon2id    = 1

	keyFileSaltLen   = 32
	keyFileNonceLen  = chacha20poly1305.NonceSizeX
	keyFileHeaderLen = len(keyFileMagic) + 1 + 1 + 4 + 4 + 1 + keyFileSaltLen + keyFileNonceLen
)

// Limits on what a key file may hold. The file size is checked before
// anything is parsed, and every secret has its own bound.
const (
	maxKeyFileSize    = 64 << 10
	maxKeyFileHostKey = 8 << 10
)

// The argon2id parameters [KeyFile.Seal] writes: RFC 9106's second
// recommended option (t=3, 64 MiB), with four lanes. They cost about 0.2 s on
// a laptop core, once per start, and are the floor: Seal never writes less.
const (
	argon2Time    = 3
	argon2Memory  = 64 << 10 // KiB
	argon2Threads = 4
)

// The caps on parameters read from a file. A file is attacker-controlled
// input (a copied home directory, a hostile backup), and argon2id does as
// much work and allocates as much memory as its header asks, so anything
// above these is refused before the KDF runs: 1 GiB, 16 passes and 16 lanes
// are far above what Seal writes and still finish on the smallest machine we
// support. A header below the floor is accepted on read: lowering the
// parameters needs the passphrase to produce a valid tag, so it is the
// owner's choice, never an attack.
const (
	maxArgon2Time    = 16
	maxArgon2Memory  = 1 << 20 // KiB, 1 GiB
	maxArgon2Threads = 16
)

// ErrPassphrase is the one error [OpenKeyFile] returns for a wrong passphrase
// and for any damage to the file: a truncated file, a changed byte, an
// unknown version or KDF, parameters over the caps. Failures found in the
// plaintext header wrap it with a short reason (the header is readable by
// anyone who holds the file, so the reason gives nothing away); a failed tag
// check is ErrPassphrase itself, since a wrong passphrase and a changed byte
// cannot be told apart.
var ErrPassphrase = errors.New("e2e: wrong passphrase or damaged key file")

// A KeyFile is the set of long-term secrets a node keeps on disk. Seal it with
// [KeyFile.Seal]; open it with [OpenKeyFile].
//
// A KeyFile never prints its secrets: every fmt verb shows the identity's
// fingerprint only.
type KeyFile struct {
	// HostKey is the libp2p private host key in libp2p's marshalled form.
	// It is opaque to e2e.
	HostKey []byte
	// Identity is the node's RSA identity.
	Identity *Identity
	// StorageKey seals the records of the local store.
	StorageKey [32]byte
}

// kdfParams are argon2id's tunables as they appear in the header.
type kdfParams struct {
	time    uint32
	memory  uint32 // KiB
	threads uint8
}

var defaultKDFParams = kdfParams{time: argon2Time, memory: argon2Memory, threads: argon2Threads}

// check reports whether p is within what a key file may ask for. argon2
// itself needs at least one pass, one lane and 8 KiB per lane.
func (p kdfParams) check() error {
	if p.time < 1 || p.time > maxArgon2Time ||
		p.threads < 1 || p.threads > maxArgon2Threads ||
		p.memory < 8*uint32(p.threads) || p.memory > maxArgon2Memory {
		return fmt.Errorf("%w: key derivation parameters out of range", ErrPassphrase)
	}
	return nil
}

// kdfRuns counts argon2id runs, so tests can prove that a hostile header is
// refused before the KDF does any work (a count, not a timing).
var kdfRuns atomic.Uint64

func deriveKeyFileKey(passphrase, salt []byte, p kdfParams) []byte {
	kdfRuns.Add(1)
	return argon2.IDKey(passphrase, salt, p.time, p.memory, p.threads, chacha20poly1305.KeySize)
}

// Seal encrypts k under passphrase with argon2id (t=3, 64 MiB, 4 lanes) and
// XChaCha20-Poly1305, and returns the bytes of the key file. It takes about
// 0.2 s and 64 MiB of memory.
func (k *KeyFile) Seal(passphrase []byte) ([]byte, error) {
	return k.sealWithParams(passphrase, defaultKDFParams, rand.Reader)
}

// sealWithParams is Seal with chosen KDF parameters and randomness. Only
// tests call it with anything but the defaults, to stay fast: files below
// the floor are never written by the program.
func (k *KeyFile) sealWithParams(passphrase []byte, p kdfParams, rnd io.Reader) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("e2e: empty passphrase")
	}
	if p.check() != nil {
		return nil, errors.New("e2e: key derivation parameters out of range")
	}
	if k.Identity == nil || len(k.HostKey) == 0 || len(k.HostKey) > maxKeyFileHostKey {
		return nil, errors.New("e2e: key file needs an identity and a host key")
	}
	if k.StorageKey == ([32]byte{}) {
		return nil, errors.New("e2e: key file storage key is zero")
	}

	idBytes := k.Identity.Encode()
	// Sized up front so append never leaves a stale copy of a secret in a
	// discarded backing array.
	secrets := make([]byte, 0, 2+len(k.HostKey)+2+len(idBytes)+len(k.StorageKey))
	secrets = appendVec16(secrets, k.HostKey)
	secrets = appendVec16(secrets, idBytes)
	secrets = append(secrets, k.StorageKey[:]...)
	clear(idBytes)
	defer clear(secrets)
	return sealKeyFileSecrets(secrets, passphrase, p, rnd)
}

// sealKeyFileSecrets writes the header and seals the encoded secrets under
// it. Tests use it directly to make authenticated files with malformed
// contents.
func sealKeyFileSecrets(secrets, passphrase []byte, p kdfParams, rnd io.Reader) ([]byte, error) {
	return keyFileKind.seal(secrets, passphrase, p, rnd)
}

// OpenKeyFile decrypts a key file made by [KeyFile.Seal]. Every failure is,
// or wraps, [ErrPassphrase]. The header is checked in full, KDF parameters
// included, before the KDF runs, so a hostile file costs at most what the
// caps allow (1 GiB, 16 passes), never what its header asks.
func OpenKeyFile(data, passphrase []byte) (*KeyFile, error) {
	secrets, err := keyFileKind.open(data, passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(secrets)
	return parseKeyFileSecrets(secrets)
}

// parseKeyFileSecrets decodes the authenticated plaintext. A failure here
// means the file was written with the right passphrase by something other
// than Seal, so it is still reported as a damaged file.
func parseKeyFileSecrets(secrets []byte) (*KeyFile, error) {
	s := cryptobyte.String(secrets)
	var hostKey, idBytes, storageKey []byte
	if !readVec16(&s, &hostKey) || !readVec16(&s, &idBytes) || !s.ReadBytes(&storageKey, 32) ||
		!s.Empty() || len(hostKey) == 0 || len(hostKey) > maxKeyFileHostKey {
		return nil, fmt.Errorf("%w: malformed secrets", ErrPassphrase)
	}
	id, err := ParseIdentity(idBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed identity", ErrPassphrase)
	}
	kf := &KeyFile{HostKey: bytes.Clone(hostKey), Identity: id}
	copy(kf.StorageKey[:], storageKey)
	return kf, nil
}

// String shows the identity's fingerprint, never a secret.
func (k KeyFile) String() string {
	if k.Identity == nil {
		return "e2e.KeyFile(no identity)"
	}
	return "e2e.KeyFile(" + k.Identity.Fingerprint().String() + ")"
}

// GoString keeps %#v from printing the secrets.
func (k KeyFile) GoString() string { return k.String() }

// Format makes every verb, %d and %x included, print [KeyFile.String]: fmt
// would otherwise walk the struct and print the key bytes for verbs that do
// not use String.
func (k KeyFile) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, k.String()) }
