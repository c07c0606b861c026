package store

import "fmt"

// bucketMailbox holds the node's offline-delivery state (p2p/mailbox_*.go):
// the owner's prekeys and capabilities, and what each contact said about
// its own mailbox. Key: HMAC(mailbox, name), where name is chosen by the
// node ("owner", "peer/<peer ID>"), so the file reveals no peer ID; value:
// the node's own encoding, sealed like every record. The store does not
// look inside.
var bucketMailbox = []byte("mailbox")

// MailboxRecord returns the mailbox record stored under name; ok is false
// when there is none. A record that fails authentication is [ErrCorrupt].
func (s *sealedStore) MailboxRecord(name string) (value []byte, ok bool, err error) {
	key := s.s.recordKey(bucketMailbox, name)
	err = s.view(func(tx sealedTx) error {
		value, ok, err = tx.getSealed(bucketMailbox, key)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("read mailbox record: %w", err)
	}
	return value, ok, nil
}

// PutMailboxRecord stores value under name, replacing what was there, in
// one transaction (on disk when it returns, for a file store).
func (s *sealedStore) PutMailboxRecord(name string, value []byte) error {
	if err := s.putNamed(bucketMailbox, name, value); err != nil {
		return fmt.Errorf("write mailbox record: %w", err)
	}
	return nil
}

// DeleteMailboxRecord deletes the record under name; deleting none is no
// error.
func (s *sealedStore) DeleteMailboxRecord(name string) error {
	if err := s.deleteNamed(bucketMailbox, name); err != nil {
		return fmt.Errorf("delete mailbox record: %w", err)
	}
	return nil
}

// MarkDeposited implements [Store]: queued or sent messages become
// [StateDeposited]; delivered ones and unknown IDs are left alone.
func (s *sealedStore) MarkDeposited(peerID string, ids [][MessageIDLen]byte) ([][MessageIDLen]byte, error) {
	var changed [][MessageIDLen]byte
	// write, not update: delivery states noted and not yet committed
	// (lazy.go) are applied first in the same transaction, so a message
	// whose receipt came in is not taken for a queued one.
	err := s.write(func(tx sealedTx) error {
		changed = changed[:0]
		for _, id := range ids {
			e, ok, err := s.getIDEntry(tx, peerID, id)
			if err != nil {
				return err
			}
			if !ok || !e.fromMe || (e.state != StateQueued && e.state != StateSent) {
				continue
			}
			e.state = StateDeposited
			if err := s.putIDEntry(tx, peerID, id, e); err != nil {
				return err
			}
			changed = append(changed, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mark deposited: %w", err)
	}
	return changed, nil
}
