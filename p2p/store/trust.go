package store

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
)

// The trust records are the contacts: each holds a pin (the fingerprint),
// the trust level (verified or not) and the block flag. The AEAD binds each
// record to its bucket and key only, so on its own it cannot notice a record
// deleted from the file, or put back as an older sealed copy of itself. The
// trust digest closes that gap: a sealed meta record holds
//
//	XOR over every contacts record of HMAC-SHA256(trust key, u16 len(key) || key || sealed value)
//
// Every contact write updates it in the same transaction (XOR out the old
// record's term, XOR in the new one), and Open recomputes it over the whole
// bucket and compares; [Store.Contacts], which reads every record anyway,
// checks it too. A removed, rolled back, added, swapped or damaged record
// changes the recomputed digest ([ErrTrustChanged]). The terms cover the
// sealed bytes, whose nonce is fresh on every write, so an older copy of a
// record never has the term of the current one; the key is secret and the
// digest is sealed, so nobody without the storage key can compute a term or
// read the digest to make a change cancel out.
//
// What stays undetected: putting back the digest record together with every
// contact record from one older copy of the file, that is a rollback of the
// trust set as a whole (like a rollback of the whole file, nothing outside
// the file remembers its state).

// trustKeyInfo is the HKDF info of the trust digest key, a third key
// derived from the storage key besides the seal and index keys (seal.go).
const trustKeyInfo = "securechat-store-v1 trust key"

// metaTrustKey is the meta record holding the sealed trust digest.
var metaTrustKey = []byte("trust")

// trustSchemaVersion is the first schema version with a trust digest.
const trustSchemaVersion = 5

// trustDigest is the value of the trust digest record.
type trustDigest [sha256.Size]byte

// trustMAC computes trust digest terms. A nil *trustMAC means the store is
// opened at a schema older than [trustSchemaVersion] (tests build such
// stores): no digest is kept or checked.
type trustMAC struct {
	key []byte
}

func newTrustMAC(storageKey [32]byte) *trustMAC {
	k, err := hkdf.Key(sha256.New, storageKey[:], nil, trustKeyInfo, 32)
	if err != nil {
		panic("store: derive trust key: " + err.Error()) // only for absurd lengths
	}
	return &trustMAC{key: k}
}

func (m *trustMAC) hash() hash.Hash { return hmac.New(sha256.New, m.key) }

// xorTerm XORs into d the term of the contacts record stored under key with
// the sealed value raw, computed with h (from m.hash).
func xorTerm(d *trustDigest, h hash.Hash, key, raw []byte) {
	h.Reset()
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(key)))
	h.Write(n[:])
	h.Write(key)
	h.Write(raw)
	var t trustDigest
	h.Sum(t[:0])
	subtle.XORBytes(d[:], d[:], t[:])
}

// getTrustDigest reads the stored digest. A missing or damaged digest
// record is [ErrTrustChanged]: deleting it must not pass for an empty set.
func (t sealedTx) getTrustDigest() (trustDigest, error) {
	var d trustDigest
	pt, ok, err := t.getSealed(bucketMeta, metaTrustKey)
	if err != nil || !ok || len(pt) != len(d) {
		return d, fmt.Errorf("%w (digest record missing or damaged)", ErrTrustChanged)
	}
	copy(d[:], pt)
	return d, nil
}

func (t sealedTx) putTrustDigest(d trustDigest) error {
	return t.putSealed(bucketMeta, metaTrustKey, d[:])
}

// computeTrustDigest recomputes the digest over every contacts record.
func (t sealedTx) computeTrustDigest() (trustDigest, error) {
	var d trustDigest
	h := t.trust.hash()
	err := t.forEach(bucketContacts, func(k, v []byte) error {
		xorTerm(&d, h, k, v)
		return nil
	})
	return d, err
}

// checkTrust compares the stored digest with the contacts records.
func (t sealedTx) checkTrust() error {
	if t.trust == nil {
		return nil
	}
	got, err := t.computeTrustDigest()
	if err != nil {
		return err
	}
	return t.checkDigest(got)
}

// checkDigest compares got, a digest computed over the contacts records,
// with the stored one.
func (t sealedTx) checkDigest(got trustDigest) error {
	want, err := t.getTrustDigest()
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return ErrTrustChanged
	}
	return nil
}

// resetTrustDigest stores the digest of the contacts records as they are.
// Only Open uses it: on a new store, and after migrations (trusted code that
// may rewrite contacts) ran on a store whose digest was checked first.
func (t sealedTx) resetTrustDigest() error {
	if t.trust == nil {
		return nil
	}
	d, err := t.computeTrustDigest()
	if err != nil {
		return err
	}
	return t.putTrustDigest(d)
}

// putContactRecord seals plaintext under key in the contacts bucket and
// updates the trust digest, in the caller's transaction.
func (t sealedTx) putContactRecord(key, plaintext []byte) error {
	sealed := t.s.seal(bucketContacts, key, plaintext)
	if t.trust != nil {
		d, err := t.getTrustDigest()
		if err != nil {
			return err
		}
		old, err := t.get(bucketContacts, key)
		if err != nil {
			return err
		}
		h := t.trust.hash()
		if old != nil {
			xorTerm(&d, h, key, old)
		}
		xorTerm(&d, h, key, sealed)
		if err := t.putTrustDigest(d); err != nil {
			return err
		}
	}
	return t.put(bucketContacts, key, sealed)
}

// deleteContactRecord deletes the contacts record under key, if any, and
// updates the trust digest, in the caller's transaction.
func (t sealedTx) deleteContactRecord(key []byte) error {
	old, err := t.get(bucketContacts, key)
	if err != nil || old == nil {
		return err
	}
	if t.trust != nil {
		d, err := t.getTrustDigest()
		if err != nil {
			return err
		}
		xorTerm(&d, t.trust.hash(), key, old)
		if err := t.putTrustDigest(d); err != nil {
			return err
		}
	}
	return t.delete(bucketContacts, key)
}
