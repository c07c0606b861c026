package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
)

// sealedStore is the one [Store] implementation: records are encoded,
// sealed and keyed here, over whichever [kv] backend it was given.
type sealedStore struct {
	kv kv
	s  *sealer
	// trust computes the trust digest (trust.go); nil at a schema older
	// than trustSchemaVersion.
	trust *trustMAC
	// recvRing is the received ring's size (received.go):
	// maxReceivedPerPeer, but in tests of an older, smaller ring.
	recvRing uint64
	// lazy holds delivery states waiting for the next commit, on a
	// backend whose commits are fsyncs (lazy.go).
	lazy lazyWrites
}

// newSealedStore checks or creates the schema of k under key, in one update
// transaction.
func newSealedStore(k kv, key [32]byte, sch schema) (*sealedStore, error) {
	s := &sealedStore{kv: k, s: newSealer(key), recvRing: maxReceivedPerPeer}
	if sch.version >= trustSchemaVersion {
		s.trust = newTrustMAC(key)
	}
	err := k.update(func(tx kvTx) error {
		return initSchema(s.tx(tx), sch)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// OpenMemory returns a store that keeps everything in memory, for
// --ephemeral runs: nothing touches the disk, and everything is gone after
// Close. Records are sealed all the same, so the memory store runs the very
// code the file store runs.
func OpenMemory(key [32]byte) Store {
	s, err := newSealedStore(newMemKV(), key, currentSchema)
	if err != nil {
		// A fresh map holds nothing that could fail to open, and sealing
		// cannot fail, so this is a bug, not a runtime condition.
		panic("store: init memory store: " + err.Error())
	}
	return s
}

func (s *sealedStore) tx(tx kvTx) sealedTx { return sealedTx{kvTx: tx, s: s.s, trust: s.trust} }

func (s *sealedStore) view(fn func(sealedTx) error) error {
	return s.kv.view(func(tx kvTx) error { return fn(s.tx(tx)) })
}

func (s *sealedStore) update(fn func(sealedTx) error) error {
	return s.kv.update(func(tx kvTx) error { return fn(s.tx(tx)) })
}

// Contact implements [Store].
func (s *sealedStore) Contact(peerID string) (Contact, bool, error) {
	key := s.s.recordKey(bucketContacts, peerID)
	var (
		c  Contact
		ok bool
	)
	err := s.view(func(tx sealedTx) error {
		pt, found, err := tx.getSealed(bucketContacts, key)
		if err != nil || !found {
			return err
		}
		c, err = s.decodeContactAt(key, pt)
		ok = err == nil
		return err
	})
	if err != nil {
		return Contact{}, false, fmt.Errorf("read contact: %w", err)
	}
	return c, ok, nil
}

// decodeContactAt decodes an opened contact record and checks that it
// belongs under key. The AEAD already binds the value to key; checking that
// the peer ID inside hashes to that key as well catches a writer bug that
// stored a contact under the wrong key.
func (s *sealedStore) decodeContactAt(key, pt []byte) (Contact, error) {
	c, err := decodeContact(pt)
	if err != nil || !bytes.Equal(s.s.recordKey(bucketContacts, c.PeerID), key) {
		return Contact{}, ErrCorrupt
	}
	return c, nil
}

// PutContact implements [Store].
func (s *sealedStore) PutContact(c Contact) error {
	pt, err := encodeContact(c)
	if err != nil {
		return err
	}
	key := s.s.recordKey(bucketContacts, c.PeerID)
	if err := s.update(func(tx sealedTx) error {
		return tx.putContactRecord(key, pt)
	}); err != nil {
		return fmt.Errorf("write contact: %w", err)
	}
	return nil
}

// Contacts implements [Store].
func (s *sealedStore) Contacts() ([]Contact, error) {
	var (
		all      []Contact
		corrupt  int
		trustErr error
	)
	err := s.view(func(tx sealedTx) error {
		// Every record is read anyway, so the trust digest (trust.go) is
		// checked on the way: a record removed or rolled back while the
		// store was open is reported here, not only at the next Open.
		var d trustDigest
		var h hash.Hash
		if tx.trust != nil {
			h = tx.trust.hash()
		}
		err := tx.forEach(bucketContacts, func(key, raw []byte) error {
			if h != nil {
				xorTerm(&d, h, key, raw)
			}
			pt, err := s.s.open(bucketContacts, key, raw)
			if err == nil {
				var c Contact
				if c, err = s.decodeContactAt(key, pt); err == nil {
					all = append(all, c)
					return nil
				}
			}
			// Keep going: one damaged record must not hide the rest.
			corrupt++
			return nil
		})
		if err == nil && h != nil {
			trustErr = tx.checkDigest(d)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	slices.SortFunc(all, func(a, b Contact) int { return strings.Compare(a.PeerID, b.PeerID) })
	if corrupt > 0 {
		err = fmt.Errorf("read contacts: %d damaged records: %w", corrupt, ErrCorrupt)
	}
	if trustErr != nil {
		err = errors.Join(err, fmt.Errorf("read contacts: %w", trustErr))
	}
	return all, err
}

// DeleteContact implements [Store].
func (s *sealedStore) DeleteContact(peerID string) error {
	key := s.s.recordKey(bucketContacts, peerID)
	if err := s.update(func(tx sealedTx) error {
		return tx.deleteContactRecord(key)
	}); err != nil {
		return fmt.Errorf("delete contact: %w", err)
	}
	return nil
}

// Close implements [Store].
func (s *sealedStore) Close() error {
	// Noted delivery states go to disk first (lazy.go); a store already
	// closed fails that with ErrClosed, which is no news.
	if err := s.closeLazy(); err != nil && !errors.Is(err, ErrClosed) {
		_ = s.kv.close()
		return err
	}
	return s.kv.close()
}
