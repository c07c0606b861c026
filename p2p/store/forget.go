package store

import (
	"fmt"
	"unicode/utf8"
)

// metaNameKey is the meta record holding the node's own nickname
// (schema 6).
var metaNameKey = []byte("name")

// maxOwnName bounds the saved nickname: names are 1-32 printable
// characters, at most 128 bytes of UTF-8 (p2p's maxNameBytes).
const maxOwnName = 128

// OwnName implements [Store].
func (s *sealedStore) OwnName() (string, bool, error) {
	var (
		name string
		ok   bool
	)
	err := s.view(func(tx sealedTx) error {
		pt, found, err := tx.getSealed(bucketMeta, metaNameKey)
		if err != nil || !found {
			return err
		}
		if len(pt) > maxOwnName || !utf8.Valid(pt) {
			return ErrCorrupt
		}
		name, ok = string(pt), true
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("read own name: %w", err)
	}
	return name, ok, nil
}

// SetOwnName implements [Store]. It refuses a name that is empty, not
// UTF-8 or over 128 bytes with [ErrInvalidContact]; the node checks the
// finer rules (printable characters, at most 32).
func (s *sealedStore) SetOwnName(name string) error {
	if name == "" || len(name) > maxOwnName || !utf8.ValidString(name) {
		return fmt.Errorf("%w: own name must be 1-%d bytes of UTF-8", ErrInvalidContact, maxOwnName)
	}
	if err := s.update(func(tx sealedTx) error {
		return tx.putSealed(bucketMeta, metaNameKey, []byte(name))
	}); err != nil {
		return fmt.Errorf("save own name: %w", err)
	}
	return nil
}

// Forget implements [Store]. The ids entries are not keyed by a
// per-conversation prefix (messages.go), so they are found through the
// history records, which every message has (outgoing ones from Queue,
// incoming ones from Receive; the received ring drops ids entries, never
// history records); the history, outbox and received records share a
// prefix per conversation and go by range. A history record that does not
// open is deleted all the same, but its ids entry, whose key needs the
// message ID inside, stays behind: an orphan that no read reaches.
func (s *sealedStore) Forget(peerID string, keep *Contact) error {
	var keepPT []byte
	if keep != nil {
		if keep.PeerID != peerID {
			return fmt.Errorf("%w: kept contact is another peer's", ErrInvalidContact)
		}
		var err error
		if keepPT, err = encodeContact(*keep); err != nil {
			return err
		}
	}
	err := s.update(func(tx sealedTx) error {
		hist, err := s.conversationKeys(tx, bucketHistory, peerID)
		if err != nil {
			return err
		}
		for _, k := range hist {
			raw, err := tx.get(bucketHistory, k)
			if err != nil {
				return err
			}
			if m, err := s.openHistory(k, raw); err == nil {
				if err := tx.delete(bucketIDs, s.idKey(peerID, m.ID)); err != nil {
					return err
				}
			}
			if err := tx.delete(bucketHistory, k); err != nil {
				return err
			}
		}
		for _, b := range [][]byte{bucketOutbox, bucketRecv} {
			keys, err := s.conversationKeys(tx, b, peerID)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := tx.delete(b, k); err != nil {
					return err
				}
			}
		}
		if err := deleteTickets(tx, peerID); err != nil {
			return err
		}
		key := s.s.recordKey(bucketContacts, peerID)
		if keepPT != nil {
			return tx.putContactRecord(key, keepPT)
		}
		return tx.deleteContactRecord(key)
	})
	if err != nil {
		return fmt.Errorf("forget peer: %w", err)
	}
	return nil
}

// conversationKeys returns copies of the keys of peerID's records in
// bucket (history, outbox or received), which all start with the
// conversation's prefix.
func (s *sealedStore) conversationKeys(tx sealedTx, bucket []byte, peerID string) ([][]byte, error) {
	prefix := s.peerPrefix(bucket, peerID)
	var keys [][]byte
	err := tx.scan(bucket, prefix, prefix, func(k, _ []byte) error {
		keys = append(keys, append([]byte(nil), k...))
		return nil
	})
	return keys, err
}
