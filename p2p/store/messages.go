package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
)

// Record keys of the message buckets. A conversation's records share a
// prefix, the HMAC of its peer ID under the bucket (see [sealer.recordKey]),
// so one conversation is one range of keys, and the file shows neither the
// peer nor the texts:
//
//	history  HMAC(history, peer ID) || u64 seq
//	outbox   HMAC(outbox, peer ID)  || u64 seq
//	ids      HMAC(ids, peer ID || 0x00 || message ID)
//	meta     "seq": the last seq handed out
//
// Writes that belong together (a message into outbox, history and ids; a
// receipt out of the outbox and into the history) happen in one bbolt
// transaction, so a crash leaves all of them or none.
var metaSeqKey = []byte("seq")

func (s *sealedStore) peerPrefix(bucket []byte, peerID string) []byte {
	return s.s.recordKey(bucket, peerID)
}

func seqKey(prefix []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(bytes.Clone(prefix), seq)
}

func (s *sealedStore) idKey(peerID string, id [MessageIDLen]byte) []byte {
	return s.s.recordKey(bucketIDs, peerID+"\x00"+string(id[:]))
}

// nextSeq returns the next message sequence number and stores it.
func nextSeq(tx sealedTx) (uint64, error) {
	var last uint64
	pt, ok, err := tx.getSealed(bucketMeta, metaSeqKey)
	if err != nil {
		return 0, err
	}
	if ok {
		if len(pt) != 8 {
			return 0, fmt.Errorf("%w: seq record", ErrCorrupt)
		}
		last = binary.BigEndian.Uint64(pt)
	}
	last++
	return last, tx.putSealed(bucketMeta, metaSeqKey, binary.BigEndian.AppendUint64(nil, last))
}

// putMessage seals m under bucket at its seq.
func (s *sealedStore) putMessage(tx sealedTx, bucket []byte, m Message) error {
	pt, err := encodeMessage(m)
	if err != nil {
		return err
	}
	return tx.putSealed(bucket, seqKey(s.peerPrefix(bucket, m.PeerID), m.Seq), pt)
}

// getMessage opens the message at key and checks it belongs there.
func (s *sealedStore) openMessage(bucket, key, raw []byte) (Message, error) {
	pt, err := s.s.open(bucket, key, raw)
	if err != nil {
		return Message{}, err
	}
	m, err := decodeMessage(pt)
	if err != nil || !bytes.Equal(key, seqKey(s.peerPrefix(bucket, m.PeerID), m.Seq)) {
		return Message{}, ErrCorrupt
	}
	return m, nil
}

// Queue implements [Store].
func (s *sealedStore) Queue(m Message) (Message, error) {
	m.FromMe, m.State = true, StateQueued
	if _, err := encodeMessage(m); err != nil {
		return Message{}, err
	}
	err := s.update(func(tx sealedTx) error {
		idk := s.idKey(m.PeerID, m.ID)
		if raw, err := tx.get(bucketIDs, idk); err != nil || raw != nil {
			if err == nil {
				err = fmt.Errorf("%w: duplicate message ID", ErrInvalidMessage)
			}
			return err
		}
		seq, err := nextSeq(tx)
		if err != nil {
			return err
		}
		m.Seq = seq
		if err := s.putMessage(tx, bucketOutbox, m); err != nil {
			return err
		}
		if err := s.putMessage(tx, bucketHistory, m); err != nil {
			return err
		}
		return tx.putSealed(bucketIDs, idk, encodeIDEntry(idEntry{fromMe: true, seq: seq}))
	})
	if err != nil {
		return Message{}, fmt.Errorf("queue message: %w", err)
	}
	return m, nil
}

// Outbox implements [Store].
func (s *sealedStore) Outbox(peerID string, from uint64) ([]Message, error) {
	var out []Message
	prefix := s.peerPrefix(bucketOutbox, peerID)
	err := s.view(func(tx sealedTx) error {
		return tx.scan(bucketOutbox, prefix, seqKey(prefix, from), func(k, v []byte) error {
			m, err := s.openMessage(bucketOutbox, k, v)
			if err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// OutboxPeers implements [Store].
func (s *sealedStore) OutboxPeers() ([]string, error) {
	seen := map[string]bool{}
	var peers []string
	err := s.view(func(tx sealedTx) error {
		return tx.forEach(bucketOutbox, func(k, v []byte) error {
			m, err := s.openMessage(bucketOutbox, k, v)
			if err != nil {
				return err
			}
			if !seen[m.PeerID] {
				seen[m.PeerID] = true
				peers = append(peers, m.PeerID)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	slices.Sort(peers)
	return peers, nil
}

// historyOf returns the history record of message id of the conversation,
// found through the ids index; ok is false if the ID is unknown or not
// from the side fromMe says.
func (s *sealedStore) historyOf(tx sealedTx, peerID string, id [MessageIDLen]byte, fromMe bool) (Message, bool, error) {
	pt, ok, err := tx.getSealed(bucketIDs, s.idKey(peerID, id))
	if err != nil || !ok {
		return Message{}, false, err
	}
	e, err := decodeIDEntry(pt)
	if err != nil {
		return Message{}, false, ErrCorrupt
	}
	if e.fromMe != fromMe {
		return Message{}, false, nil
	}
	key := seqKey(s.peerPrefix(bucketHistory, peerID), e.seq)
	raw, err := tx.get(bucketHistory, key)
	if err != nil || raw == nil {
		return Message{}, false, err
	}
	m, err := s.openMessage(bucketHistory, key, raw)
	if err != nil || m.ID != id {
		return Message{}, false, ErrCorrupt
	}
	return m, true, nil
}

// MarkSent implements [Store].
func (s *sealedStore) MarkSent(peerID string, ids [][MessageIDLen]byte) error {
	err := s.update(func(tx sealedTx) error {
		for _, id := range ids {
			m, ok, err := s.historyOf(tx, peerID, id, true)
			if err != nil {
				return err
			}
			if !ok || m.State != StateQueued {
				continue
			}
			m.State = StateSent
			if err := s.putMessage(tx, bucketHistory, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

// Delivered implements [Store].
func (s *sealedStore) Delivered(peerID string, id [MessageIDLen]byte) (bool, error) {
	removed := false
	err := s.update(func(tx sealedTx) error {
		m, ok, err := s.historyOf(tx, peerID, id, true)
		if err != nil || !ok {
			return err
		}
		okey := seqKey(s.peerPrefix(bucketOutbox, peerID), m.Seq)
		raw, err := tx.get(bucketOutbox, okey)
		if err != nil {
			return err
		}
		removed = raw != nil
		if removed {
			if err := tx.delete(bucketOutbox, okey); err != nil {
				return err
			}
		}
		if m.State == StateDelivered {
			return nil
		}
		m.State = StateDelivered
		return s.putMessage(tx, bucketHistory, m)
	})
	if err != nil {
		return false, fmt.Errorf("mark delivered: %w", err)
	}
	return removed, nil
}

// Receive implements [Store].
func (s *sealedStore) Receive(m Message) (Message, bool, error) {
	m.FromMe, m.State = false, StateDelivered
	if _, err := encodeMessage(m); err != nil {
		return Message{}, false, err
	}
	fresh := false
	err := s.update(func(tx sealedTx) error {
		idk := s.idKey(m.PeerID, m.ID)
		raw, err := tx.get(bucketIDs, idk)
		if err != nil || raw != nil {
			return err // seen before (from either side): not new
		}
		seq, err := nextSeq(tx)
		if err != nil {
			return err
		}
		m.Seq = seq
		if err := s.putMessage(tx, bucketHistory, m); err != nil {
			return err
		}
		fresh = true
		return tx.putSealed(bucketIDs, idk, encodeIDEntry(idEntry{seq: seq}))
	})
	if err != nil {
		return Message{}, false, fmt.Errorf("store message: %w", err)
	}
	return m, fresh, nil
}

// History implements [Store].
func (s *sealedStore) History(peerID string, limit int) ([]Message, error) {
	var all []Message
	prefix := s.peerPrefix(bucketHistory, peerID)
	err := s.view(func(tx sealedTx) error {
		return tx.scan(bucketHistory, prefix, prefix, func(k, v []byte) error {
			m, err := s.openMessage(bucketHistory, k, v)
			if err != nil {
				return err
			}
			all = append(all, m)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	if limit > 0 && len(all) > limit {
		all = all[len(all)-limit:]
	}
	return all, nil
}

// migrateV1 upgrades a version 1 store (contacts only) to version 2. The
// new buckets (outbox, history, ids) were created empty before it runs and
// a v1 store holds no messages, so all it does is start the message
// sequence counter at zero.
func migrateV1(tx sealedTx) error {
	return tx.putSealed(bucketMeta, metaSeqKey, binary.BigEndian.AppendUint64(nil, 0))
}
