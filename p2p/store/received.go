package store

import (
	"encoding/binary"
	"fmt"
	"slices"
)

// maxReceivedPerPeer bounds the dedupe set: the ids entries of the last
// maxReceivedPerPeer messages received from each peer are kept; storing one
// more drops the oldest one's ids entry, in the same transaction. The
// history records stay: a conversation is the user's, kept until the user
// deletes it, and the history is not consulted for dedupe. Outgoing
// messages are not counted: their ids entries hold their delivery state,
// and p2p's maxQueuedPerPeer bounds the ones waiting.
//
// The bound keeps dedupe whole for everything an honest sender can still
// send again. A sender resends only its unacknowledged messages, oldest
// first, at the start of each session, and records on a session are
// strictly ordered. Say message M is resent. Since the last session that
// brought M here, the receiver has stored only messages that came after M
// on that session (any later session brings M again first); their receipts
// followed M's on the same ordered stream, so none of them arrived either,
// and all of them are still in the sender's outbox, with M. The receiver
// therefore stored fewer newer messages from that sender than the sender's
// outbox holds, at most 10,000 (p2p's maxQueuedPerPeer: a send to a live
// session waits for room instead of growing the outbox, one to a peer with
// no session is refused there), below maxReceivedPerPeer: M's ID is still
// here. e2e/PROTOCOL.md states this for implementers.
//
// The bound was 4096 (with an outbox of 1000) up to schema version 6.
// Growing it to a multiple of the old size needs no migration (see the
// ring below).
const maxReceivedPerPeer = 16384

// Records of the received bucket, per peer, under the prefix
// P = HMAC(received, peer ID) (see [sealer.recordKey]), a ring of
// maxReceivedPerPeer slots:
//
//	P              u64 count: messages received from the peer so far
//	P || u64 slot  received entry v1 ([encodeRecvEntry]) of the message
//	               received as number slot, slot+max, slot+2*max, ...
//
// The next message goes to slot count mod maxReceivedPerPeer, where the
// oldest kept message sits once the ring is full: storing it and dropping
// the oldest are a few point reads and writes, whatever the backend (no
// scan, which the memory backend does in O(n)).
//
// A ring written with an older, smaller size R (4096) is simply carried on
// with the new size N, a multiple of R: the count stays, the slots from R
// up are empty at first. Message n lands in slot n mod N, and n mod N is n
// mod R plus a multiple of R, so the old entry it may overwrite (message
// k, in slot k mod R) has n - k a positive multiple of R: at least the
// last R messages stay deduplicated throughout, every message stored
// after the change stays for N messages, and after N messages the ring is
// the new one in full (TestReceivedRingGrows). A size that is not such a
// multiple would need the ring re-laid by a migration.
// recvEntryEncodingV1 is the first byte of a received entry.
const recvEntryEncodingV1 = 1

// recvEntryLen is the length of a received entry.
const recvEntryLen = 1 + MessageIDLen + 8

// encodeRecvEntry returns a received entry: u8 version (1), [16] message
// ID, u64 seq of its history record.
func encodeRecvEntry(id [MessageIDLen]byte, seq uint64) []byte {
	b := make([]byte, 0, recvEntryLen)
	b = append(b, recvEntryEncodingV1)
	b = append(b, id[:]...)
	return binary.BigEndian.AppendUint64(b, seq)
}

// decodeRecvEntry parses what encodeRecvEntry produced, strictly.
func decodeRecvEntry(b []byte) ([MessageIDLen]byte, uint64, error) {
	var id [MessageIDLen]byte
	if len(b) != recvEntryLen || b[0] != recvEntryEncodingV1 {
		return id, 0, errMalformed
	}
	copy(id[:], b[1:])
	return id, binary.BigEndian.Uint64(b[1+MessageIDLen:]), nil
}

func getRecvCount(tx sealedTx, prefix []byte) (uint64, error) {
	pt, ok, err := tx.getSealed(bucketRecv, prefix)
	if err != nil || !ok {
		return 0, err
	}
	if len(pt) != 8 {
		return 0, fmt.Errorf("%w: received count", ErrCorrupt)
	}
	return binary.BigEndian.Uint64(pt), nil
}

// indexReceived puts the message seq, id just received from peerID into
// its slot of the ring, dropping the oldest received message that held the
// slot, in the caller's transaction.
func (s *sealedStore) indexReceived(tx sealedTx, peerID string, id [MessageIDLen]byte, seq uint64) error {
	prefix := s.peerPrefix(bucketRecv, peerID)
	n, err := getRecvCount(tx, prefix)
	if err != nil {
		return err
	}
	ring := s.recvRing
	if ring == 0 { // a sealedStore made for its key helpers only
		ring = maxReceivedPerPeer
	}
	slot := seqKey(prefix, n%ring)
	// A slot that fails to open is overwritten: a damaged entry must not
	// stop incoming messages.
	if pt, ok, err := tx.getSealed(bucketRecv, slot); err == nil && ok {
		if oldID, oldSeq, err := decodeRecvEntry(pt); err == nil {
			if err := s.dropReceived(tx, peerID, oldID, oldSeq); err != nil {
				return err
			}
		}
	}
	if err := tx.putSealed(bucketRecv, slot, encodeRecvEntry(id, seq)); err != nil {
		return err
	}
	return tx.putSealed(bucketRecv, prefix, binary.BigEndian.AppendUint64(nil, n+1))
}

// dropReceived deletes the ids entry (the dedupe entry) of the message id
// received from peerID at seq, if the entry says so (an incoming message at
// that seq): the ring entry alone never deletes anything else. The history
// record stays.
func (s *sealedStore) dropReceived(tx sealedTx, peerID string, id [MessageIDLen]byte, seq uint64) error {
	e, ok, err := s.getIDEntry(tx, peerID, id)
	if err != nil || !ok || e.fromMe || e.seq != seq {
		return nil // missing or damaged: left as it is
	}
	return tx.delete(bucketIDs, s.idKey(peerID, id))
}

// seenAll reports, in one read-only transaction, which of the messages
// their conversations already have (from either side). ReceiveAll asks it
// first, so duplicates cost no write transaction (an fsync with bbolt).
func (s *sealedStore) seenAll(ms []Message) ([]bool, error) {
	seen := make([]bool, len(ms))
	err := s.view(func(tx sealedTx) error {
		for i, m := range ms {
			raw, err := tx.get(bucketIDs, s.idKey(m.PeerID, m.ID))
			if err != nil {
				return err
			}
			seen[i] = raw != nil
		}
		return nil
	})
	return seen, err
}

// Receive implements [Store].
func (s *sealedStore) Receive(m Message) (Message, bool, error) {
	ms, fresh, err := s.ReceiveAll([]Message{m})
	if err != nil {
		return Message{}, false, err
	}
	return ms[0], fresh[0], nil
}

// ReceiveAll implements [Store]: the messages are stored in one
// transaction, which the bbolt backend may share with other writers (one
// fsync for all; groupcommit.go).
func (s *sealedStore) ReceiveAll(ms []Message) ([]Message, []bool, error) {
	out := make([]Message, len(ms))
	for i, m := range ms {
		m.FromMe, m.State = false, StateDelivered
		if err := checkMessage(m); err != nil {
			return nil, nil, err
		}
		out[i] = m
	}
	fresh := make([]bool, len(out))
	// Duplicates are answered from a read-only transaction (see
	// Delivered); the write checks again.
	dup, err := s.seenAll(out)
	if err != nil {
		return nil, nil, fmt.Errorf("store message: %w", err)
	}
	if !slices.Contains(dup, false) {
		return out, fresh, nil
	}
	err = s.write(func(tx sealedTx) error {
		clear(fresh) // the function may run again (kv.batch)
		seqs, err := newSeqAlloc(tx)
		if err != nil {
			return err
		}
		for i := range out {
			if dup[i] {
				continue
			}
			m := &out[i]
			idk := s.idKey(m.PeerID, m.ID)
			raw, err := tx.get(bucketIDs, idk)
			if err != nil {
				return err
			}
			if raw != nil {
				continue // seen before (from either side, or earlier in ms)
			}
			m.Seq = seqs.next()
			if err := s.putHistory(tx, *m); err != nil {
				return err
			}
			if err := tx.putSealed(bucketIDs, idk, encodeIDEntry(idEntry{state: StateDelivered, seq: m.Seq})); err != nil {
				return err
			}
			if err := s.indexReceived(tx, m.PeerID, m.ID, m.Seq); err != nil {
				return err
			}
			fresh[i] = true
		}
		return seqs.store(tx)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store message: %w", err)
	}
	return out, fresh, nil
}
