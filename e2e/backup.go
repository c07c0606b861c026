package e2e

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
)

// This file holds the identity backup that `securechat export` writes and
// `securechat import` reads: the key file's secrets and the user's contacts,
// sealed under a passphrase of its own by the key file's construction
// (sealedfile.go) with a different magic line. PROTOCOL.md has the layout.
//
//	contents: vec16 host key | vec16 Identity.Encode() | 32-byte storage key |
//	          u32 record count | count x vec24 record
//
// The records are opaque here: p2p/store's portable contact encoding.

// backupMagic starts every backup file; it is not the key file's, so neither
// can pass for the other.
const backupMagic = "securechat identity backup\n"

// Limits on a backup: the whole file, and the records in it. A contact
// record is well under 4 KiB; 16 MiB holds thousands.
const (
	maxBackupSize    = 16 << 20
	maxBackupRecords = 1 << 16
	maxBackupRecord  = 1<<24 - 1
)

// ErrBackupPassphrase is the one error [OpenBackup] returns for a wrong
// passphrase and for any damage to the file, as [ErrPassphrase] is for the
// key file.
var ErrBackupPassphrase = errors.New("e2e: wrong passphrase or damaged backup file")

var backupKind = sealedKind{magic: backupMagic, noun: "backup file", maxSize: maxBackupSize, err: ErrBackupPassphrase}

// A Backup is a node's identity and contacts, to move to another machine.
// Like a [KeyFile], it never prints its secrets.
type Backup struct {
	// Keys are the key file's secrets: host key, RSA identity, storage key.
	Keys *KeyFile
	// Records are opaque records (p2p/store's portable contacts), each at
	// most 16 MiB - 1 byte.
	Records [][]byte
}

// Seal encrypts b under passphrase with the key file's KDF parameters and
// AEAD, and returns the bytes of the backup file.
func (b *Backup) Seal(passphrase []byte) ([]byte, error) {
	return b.sealWithParams(passphrase, defaultKDFParams, rand.Reader)
}

func (b *Backup) sealWithParams(passphrase []byte, p kdfParams, rnd io.Reader) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("e2e: empty passphrase")
	}
	if p.check() != nil {
		return nil, errors.New("e2e: key derivation parameters out of range")
	}
	k := b.Keys
	if k == nil || k.Identity == nil || len(k.HostKey) == 0 || len(k.HostKey) > maxKeyFileHostKey {
		return nil, errors.New("e2e: backup needs an identity and a host key")
	}
	if k.StorageKey == ([32]byte{}) {
		return nil, errors.New("e2e: backup storage key is zero")
	}
	if len(b.Records) > maxBackupRecords {
		return nil, fmt.Errorf("e2e: backup holds %d records, more than %d", len(b.Records), maxBackupRecords)
	}
	idBytes := k.Identity.Encode()
	defer clear(idBytes)
	// Sized up front so the builder never leaves a stale copy of a secret
	// in a discarded backing array.
	size := 2 + len(k.HostKey) + 2 + len(idBytes) + len(k.StorageKey) + 4
	for _, r := range b.Records {
		size += 3 + len(r)
	}
	cb := cryptobyte.NewBuilder(make([]byte, 0, size))
	cb.AddUint16LengthPrefixed(func(c *cryptobyte.Builder) { c.AddBytes(k.HostKey) })
	cb.AddUint16LengthPrefixed(func(c *cryptobyte.Builder) { c.AddBytes(idBytes) })
	cb.AddBytes(k.StorageKey[:])
	cb.AddUint32(uint32(len(b.Records)))
	for _, r := range b.Records {
		if len(r) > maxBackupRecord {
			return nil, errors.New("e2e: backup record too long")
		}
		cb.AddUint24LengthPrefixed(func(c *cryptobyte.Builder) { c.AddBytes(r) })
	}
	contents, err := cb.Bytes()
	if err != nil {
		return nil, fmt.Errorf("e2e: encode backup: %w", err)
	}
	defer clear(contents)
	if len(contents)+backupKind.headerLen()+16 > maxBackupSize {
		return nil, fmt.Errorf("e2e: backup larger than %d bytes", maxBackupSize)
	}
	return backupKind.seal(contents, passphrase, p, rnd)
}

// OpenBackup decrypts a backup made by [Backup.Seal]. Every failure is, or
// wraps, [ErrBackupPassphrase]; the header is checked against the same caps
// as a key file's before the KDF runs.
func OpenBackup(data, passphrase []byte) (*Backup, error) {
	contents, err := backupKind.open(data, passphrase)
	if err != nil {
		return nil, err
	}
	defer clear(contents)
	s := cryptobyte.String(contents)
	var hostKey, idBytes, storageKey []byte
	var count uint32
	if !readVec16(&s, &hostKey) || !readVec16(&s, &idBytes) || !s.ReadBytes(&storageKey, 32) ||
		!s.ReadUint32(&count) || count > maxBackupRecords ||
		len(hostKey) == 0 || len(hostKey) > maxKeyFileHostKey {
		return nil, fmt.Errorf("%w: malformed contents", ErrBackupPassphrase)
	}
	id, err := ParseIdentity(idBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: malformed identity", ErrBackupPassphrase)
	}
	b := &Backup{Keys: &KeyFile{HostKey: append([]byte(nil), hostKey...), Identity: id}}
	copy(b.Keys.StorageKey[:], storageKey)
	b.Records = make([][]byte, 0, count)
	for range count {
		var r cryptobyte.String
		if !s.ReadUint24LengthPrefixed(&r) {
			return nil, fmt.Errorf("%w: malformed record", ErrBackupPassphrase)
		}
		b.Records = append(b.Records, append([]byte(nil), r...))
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: trailing bytes", ErrBackupPassphrase)
	}
	return b, nil
}

// String shows the identity's fingerprint and the record count, never a
// secret.
func (b Backup) String() string {
	if b.Keys == nil {
		return "e2e.Backup(no keys)"
	}
	return fmt.Sprintf("e2e.Backup(%s, %d records)", b.Keys.String(), len(b.Records))
}

// GoString keeps %#v from printing the secrets.
func (b Backup) GoString() string { return b.String() }

// Format makes every verb print [Backup.String].
func (b Backup) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, b.String()) }
