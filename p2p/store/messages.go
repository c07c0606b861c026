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
//	history  HMAC(history, peer ID) || u64 seq    the message, text and all
//	outbox   HMAC(outbox, peer ID)  || u64 seq    pointer: peer ID, message ID
//	ids      HMAC(ids, peer ID || 0x00 || message ID)   seq, from me, state
//	meta     "seq": the last seq handed out
//
// A message is written once, into history; the outbox record is a pointer
// to the history record at the same seq, and the delivery state sits in the
// small ids entry, so the receipt path (MarkSent, Delivered) rewrites a few
// bytes and never opens or re-seals a text.
//
// Writes that belong together (a message into history, outbox and ids; a
// receipt out of the outbox and into the ids entry) happen in one
// transaction, so a crash leaves all of them or none.
var metaSeqKey = []byte("seq")

func (s *sealedStore) peerPrefix(bucket []byte, peerID string) []byte {
	return s.s.recordKey(bucket, peerID)
}

// seqKey returns the record key of seq in the conversation whose prefix
// (from peerPrefix) is given; prefix itself is not modified.
func seqKey(prefix []byte, seq uint64) []byte {
	b := make([]byte, 0, len(prefix)+8)
	return binary.BigEndian.AppendUint64(append(b, prefix...), seq)
}

// messageKey returns the record key of seq in peerID's conversation in
// bucket, with one allocation.
func (s *sealedStore) messageKey(bucket []byte, peerID string, seq uint64) []byte {
	k := s.s.appendRecordKey(make([]byte, 0, recordKeyLen+8), bucket, peerID, nil)
	return binary.BigEndian.AppendUint64(k, seq)
}

func (s *sealedStore) idKey(peerID string, id [MessageIDLen]byte) []byte {
	var extra [1 + MessageIDLen]byte // 0x00 || message ID
	copy(extra[1:], id[:])
	return s.s.appendRecordKey(make([]byte, 0, recordKeyLen), bucketIDs, peerID, extra[:])
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

// A seqAlloc hands out the sequence numbers of one transaction, reading
// and writing the last one once.
type seqAlloc struct {
	last, first uint64
}

func newSeqAlloc(tx sealedTx) (seqAlloc, error) {
	pt, ok, err := tx.getSealed(bucketMeta, metaSeqKey)
	if err != nil || !ok {
		return seqAlloc{}, err
	}
	if len(pt) != 8 {
		return seqAlloc{}, fmt.Errorf("%w: seq record", ErrCorrupt)
	}
	last := binary.BigEndian.Uint64(pt)
	return seqAlloc{last: last, first: last}, nil
}

func (a *seqAlloc) next() uint64 {
	a.last++
	return a.last
}

// store writes the last number handed out, if any was.
func (a *seqAlloc) store(tx sealedTx) error {
	if a.last == a.first {
		return nil
	}
	return tx.putSealed(bucketMeta, metaSeqKey, binary.BigEndian.AppendUint64(nil, a.last))
}

// putHistory seals m into the history at its seq. The message is encoded
// straight into the buffer that is sealed in place and handed to the kv,
// so a text is copied once on its way to the store.
func (s *sealedStore) putHistory(tx sealedTx, m Message) error {
	key := s.messageKey(bucketHistory, m.PeerID, m.Seq)
	buf, err := appendMessage(s.s.newBuffer(encodedMessageLen(m)), m)
	if err != nil {
		return err
	}
	return tx.put(bucketHistory, key, s.s.sealBuffer(bucketHistory, key, buf))
}

// openHistory opens the history record at key and checks it belongs there.
func (s *sealedStore) openHistory(key, raw []byte) (Message, error) {
	pt, err := s.s.open(bucketHistory, key, raw)
	if err != nil {
		return Message{}, err
	}
	m, err := decodeMessage(pt)
	if err != nil || !bytes.Equal(key, s.messageKey(bucketHistory, m.PeerID, m.Seq)) {
		return Message{}, ErrCorrupt
	}
	return m, nil
}

// getIDEntry returns the ids entry of message id of peerID's conversation;
// ok is false if there is none.
func (s *sealedStore) getIDEntry(tx sealedTx, peerID string, id [MessageIDLen]byte) (idEntry, bool, error) {
	pt, ok, err := tx.getSealed(bucketIDs, s.idKey(peerID, id))
	if err != nil || !ok {
		return idEntry{}, false, err
	}
	e, err := decodeIDEntry(pt)
	if err != nil {
		return idEntry{}, false, ErrCorrupt
	}
	return e, true, nil
}

func (s *sealedStore) putIDEntry(tx sealedTx, peerID string, id [MessageIDLen]byte, e idEntry) error {
	return tx.putSealed(bucketIDs, s.idKey(peerID, id), encodeIDEntry(e))
}

// setState fills in m.State from its ids entry, which must agree with the
// history record on seq and direction. An incoming message is always
// delivered (the ids decoder accepts nothing else), so only outgoing
// messages cost a lookup.
func (s *sealedStore) setState(tx sealedTx, m *Message) error {
	if !m.FromMe {
		m.State = StateDelivered
		return nil
	}
	e, ok, err := s.getIDEntry(tx, m.PeerID, m.ID)
	if err != nil {
		return err
	}
	if !ok || !e.fromMe || e.seq != m.Seq {
		return ErrCorrupt
	}
	m.State = e.state
	return nil
}

// Queue implements [Store].
func (s *sealedStore) Queue(m Message) (Message, error) {
	m.FromMe, m.State = true, StateQueued
	if err := checkMessage(m); err != nil {
		return Message{}, err
	}
	err := s.write(func(tx sealedTx) error {
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
		if err := s.putHistory(tx, m); err != nil {
			return err
		}
		ptr, err := encodeOutboxPointer(m.PeerID, m.ID)
		if err != nil {
			return err
		}
		if err := tx.putSealed(bucketOutbox, s.messageKey(bucketOutbox, m.PeerID, seq), ptr); err != nil {
			return err
		}
		return tx.putSealed(bucketIDs, idk, encodeIDEntry(idEntry{fromMe: true, state: StateQueued, seq: seq}))
	})
	if err != nil {
		return Message{}, fmt.Errorf("queue message: %w", err)
	}
	return m, nil
}

// openOutbox opens the outbox pointer at key and checks it belongs there;
// it returns the pointer's conversation, message ID and seq.
func (s *sealedStore) openOutbox(key, raw []byte) (string, [MessageIDLen]byte, uint64, error) {
	var none [MessageIDLen]byte
	pt, err := s.s.open(bucketOutbox, key, raw)
	if err != nil {
		return "", none, 0, err
	}
	peerID, id, err := decodeOutboxPointer(pt)
	if err != nil || len(key) != recordKeyLen+8 {
		return "", none, 0, ErrCorrupt
	}
	seq := binary.BigEndian.Uint64(key[recordKeyLen:])
	if !bytes.Equal(key, s.messageKey(bucketOutbox, peerID, seq)) {
		return "", none, 0, ErrCorrupt
	}
	return peerID, id, seq, nil
}

// Outbox implements [Store].
func (s *sealedStore) Outbox(peerID string, from uint64) ([]Message, error) {
	if err := s.flushLazy(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	var out []Message
	prefix := s.peerPrefix(bucketOutbox, peerID)
	err := s.view(func(tx sealedTx) error {
		return tx.scan(bucketOutbox, prefix, seqKey(prefix, from), func(k, v []byte) error {
			ptrPeer, id, seq, err := s.openOutbox(k, v)
			if err != nil {
				return err
			}
			hkey := s.messageKey(bucketHistory, peerID, seq)
			raw, err := tx.get(bucketHistory, hkey)
			if err != nil {
				return err
			}
			if raw == nil || ptrPeer != peerID {
				return ErrCorrupt
			}
			m, err := s.openHistory(hkey, raw)
			if err != nil {
				return err
			}
			if m.ID != id || !m.FromMe {
				return ErrCorrupt
			}
			if err := s.setState(tx, &m); err != nil {
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

// OutboxPeers implements [Store]. It opens only the small outbox pointers.
func (s *sealedStore) OutboxPeers() ([]string, error) {
	if err := s.flushLazy(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	seen := map[string]bool{}
	var peers []string
	err := s.view(func(tx sealedTx) error {
		return tx.forEach(bucketOutbox, func(k, v []byte) error {
			peerID, _, _, err := s.openOutbox(k, v)
			if err != nil {
				return err
			}
			if !seen[peerID] {
				seen[peerID] = true
				peers = append(peers, peerID)
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

// MarkSent implements [Store]. It rewrites only the ids entries; on a
// store whose commits are fsyncs the change waits for the next commit
// (lazy.go).
func (s *sealedStore) MarkSent(peerID string, ids [][MessageIDLen]byte) error {
	if len(ids) == 0 {
		return nil
	}
	if s.lazy.on {
		s.note(lazyOp{peerID: peerID, ids: ids})
		return nil
	}
	if err := s.write(func(tx sealedTx) error { return s.markSent(tx, peerID, ids) }); err != nil {
		return fmt.Errorf("mark sent: %w", err)
	}
	return nil
}

func (s *sealedStore) markSent(tx sealedTx, peerID string, ids [][MessageIDLen]byte) error {
	for _, id := range ids {
		e, ok, err := s.getIDEntry(tx, peerID, id)
		if err != nil {
			return err
		}
		if !ok || !e.fromMe || e.state != StateQueued {
			continue
		}
		e.state = StateSent
		if err := s.putIDEntry(tx, peerID, id, e); err != nil {
			return err
		}
	}
	return nil
}

// Delivered implements [Store]. It rewrites the ids entry and deletes the
// outbox pointer, whose key is the entry's seq; the history record is not
// touched. On a store whose commits are fsyncs the change waits for the
// next commit (lazy.go); the result is the same.
func (s *sealedStore) Delivered(peerID string, id [MessageIDLen]byte) (bool, error) {
	// A receipt that changes nothing (an unknown ID, a repeated receipt)
	// is answered from a read-only transaction: with bbolt a write costs
	// an fsync, which a peer must not be able to trigger at will.
	change, inOutbox, err := s.receiptChanges(peerID, id)
	if err != nil {
		return false, fmt.Errorf("mark delivered: %w", err)
	}
	if !change {
		return false, nil
	}
	if s.lazy.on {
		// A receipt noted already (its change not yet written) changes
		// nothing more.
		noted := s.noteReceipt(peerID, id)
		return inOutbox && noted, nil
	}
	removed := false
	err = s.write(func(tx sealedTx) error {
		var err error
		removed, err = s.deliver(tx, peerID, id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("mark delivered: %w", err)
	}
	return removed, nil
}

// deliver applies peerID's receipt for id in tx and reports whether the
// message was still in the outbox.
func (s *sealedStore) deliver(tx sealedTx, peerID string, id [MessageIDLen]byte) (bool, error) {
	e, ok, err := s.getIDEntry(tx, peerID, id)
	if err != nil || !ok || !e.fromMe {
		return false, err
	}
	removed := false
	okey := s.messageKey(bucketOutbox, peerID, e.seq)
	raw, err := tx.get(bucketOutbox, okey)
	if err != nil {
		return false, err
	}
	if raw != nil {
		// The pointer is opened before it goes: the ids entry and the
		// outbox must name the same message.
		_, ptrID, _, err := s.openOutbox(okey, raw)
		if err != nil {
			return false, err
		}
		if ptrID != id {
			return false, ErrCorrupt
		}
		if err := tx.delete(bucketOutbox, okey); err != nil {
			return false, err
		}
		removed = true
	}
	if e.state == StateDelivered {
		return removed, nil
	}
	e.state = StateDelivered
	return removed, s.putIDEntry(tx, peerID, id, e)
}

// receiptChanges reports, in a read-only transaction, whether a receipt
// for id would change anything: an outgoing message not yet delivered, or
// still in the outbox.
func (s *sealedStore) receiptChanges(peerID string, id [MessageIDLen]byte) (change, inOutbox bool, err error) {
	err = s.view(func(tx sealedTx) error {
		e, ok, err := s.getIDEntry(tx, peerID, id)
		if err != nil || !ok || !e.fromMe {
			return err
		}
		raw, err := tx.get(bucketOutbox, s.messageKey(bucketOutbox, peerID, e.seq))
		inOutbox = raw != nil
		change = inOutbox || e.state != StateDelivered
		return err
	})
	return change, inOutbox, err
}

// History implements [Store].
func (s *sealedStore) History(peerID string, limit int) ([]Message, error) {
	return s.history(peerID, 0, limit)
}

// HistoryBefore implements [Store].
func (s *sealedStore) HistoryBefore(peerID string, before uint64, limit int) ([]Message, error) {
	if before == 0 {
		return nil, nil // no seq is below the first
	}
	return s.history(peerID, before, limit)
}

// history returns the last limit messages with peerID (all if limit <= 0)
// whose seq is below before (any seq if before is 0), oldest first.
func (s *sealedStore) history(peerID string, before uint64, limit int) ([]Message, error) {
	if err := s.flushLazy(); err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	var all []Message
	prefix := s.peerPrefix(bucketHistory, peerID)
	var stop []byte
	if before > 0 {
		stop = seqKey(prefix, before)
	}
	err := s.view(func(tx sealedTx) error {
		// Collect the raw records first (valid until the view ends), so
		// that only the last limit of them are opened.
		var keys, raws [][]byte
		err := tx.scan(bucketHistory, prefix, prefix, func(k, v []byte) error {
			if stop != nil && bytes.Compare(k, stop) >= 0 {
				return errStop
			}
			keys, raws = append(keys, k), append(raws, v)
			return nil
		})
		if err != nil {
			return err
		}
		first := 0
		if limit > 0 && len(keys) > limit {
			first = len(keys) - limit
		}
		for i := first; i < len(keys); i++ {
			m, err := s.openHistory(keys[i], raws[i])
			if err != nil {
				return err
			}
			if err := s.setState(tx, &m); err != nil {
				return err
			}
			all = append(all, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	return all, nil
}
