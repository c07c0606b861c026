package store

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// maxReceivedPerPeer bounds what a peer's messages may take in the store:
// the last maxReceivedPerPeer messages received from each peer are kept,
// each with its history record and its ids entry (the dedupe set); storing
// one more drops the oldest, in the same transaction. Outgoing messages are
// not counted: the user writes them, and p2p's maxQueuedPerPeer bounds the
// ones waiting.
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
// outbox holds, at most 1000 (p2p's maxQueuedPerPeer), well below
// maxReceivedPerPeer: M's ID is still here. e2e/PROTOCOL.md states this
// for implementers.
const maxReceivedPerPeer = 4096

// Records of the received bucket, per peer, under the prefix
// P = HMAC(received, peer ID) (see [sealer.recordKey]):
//
//	P           u64 count: how many entries follow
//	P || u64 seq  received entry v1 ([encodeRecvEntry])
//
// The count record sorts before the entries, and the entries in seq order,
// so the oldest received message is the first entry after P: one cursor
// seek, however long the conversation.

// recvEntryEncodingV1 is the first byte of a received entry.
const recvEntryEncodingV1 = 1

// encodeRecvEntry returns a received entry: u8 version (1), [16] message ID.
func encodeRecvEntry(id [MessageIDLen]byte) []byte {
	return append([]byte{recvEntryEncodingV1}, id[:]...)
}

// decodeRecvEntry parses what encodeRecvEntry produced, strictly.
func decodeRecvEntry(b []byte) ([MessageIDLen]byte, error) {
	var id [MessageIDLen]byte
	if len(b) != 1+MessageIDLen || b[0] != recvEntryEncodingV1 {
		return id, errMalformed
	}
	copy(id[:], b[1:])
	return id, nil
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

// indexReceived adds the message seq, id just received from peerID to the
// received index and, past maxReceivedPerPeer entries, drops the oldest
// received message, in the caller's transaction.
func (s *sealedStore) indexReceived(tx sealedTx, peerID string, id [MessageIDLen]byte, seq uint64) error {
	prefix := s.peerPrefix(bucketRecv, peerID)
	n, err := getRecvCount(tx, prefix)
	if err != nil {
		return err
	}
	if err := tx.putSealed(bucketRecv, seqKey(prefix, seq), encodeRecvEntry(id)); err != nil {
		return err
	}
	for n++; n > maxReceivedPerPeer; n-- {
		pruned, err := s.pruneOldestReceived(tx, peerID, prefix, seq)
		if err != nil {
			return err
		}
		if !pruned {
			break // the count was off (damage): never drop the new message
		}
	}
	return tx.putSealed(bucketRecv, prefix, binary.BigEndian.AppendUint64(nil, n))
}

// pruneOldestReceived drops the oldest message received from peerID: its
// entry in the index and, if its ids entry agrees, the ids entry and the
// history record. It reports false if there is nothing older than keep.
// A damaged entry is dropped alone: it must not stop incoming messages.
func (s *sealedStore) pruneOldestReceived(tx sealedTx, peerID string, prefix []byte, keep uint64) (bool, error) {
	var k, v []byte
	err := tx.scan(bucketRecv, prefix, seqKey(prefix, 0), func(key, val []byte) error {
		k, v = bytes.Clone(key), bytes.Clone(val)
		return errStop
	})
	if err != nil || k == nil || len(k) != len(prefix)+8 {
		return false, err
	}
	seq := binary.BigEndian.Uint64(k[len(prefix):])
	if seq == keep {
		return false, nil
	}
	if err := tx.delete(bucketRecv, k); err != nil {
		return false, err
	}
	pt, err := s.s.open(bucketRecv, k, v)
	if err != nil {
		return true, nil
	}
	id, err := decodeRecvEntry(pt)
	if err != nil {
		return true, nil
	}
	return true, s.dropReceived(tx, peerID, id, seq)
}

// dropReceived deletes the ids entry and the history record of the message
// id received from peerID at seq, if the ids entry says so: the index entry
// alone never deletes a message.
func (s *sealedStore) dropReceived(tx sealedTx, peerID string, id [MessageIDLen]byte, seq uint64) error {
	e, ok, err := s.getIDEntry(tx, peerID, id)
	if err != nil || !ok || e.fromMe || e.seq != seq {
		return nil // missing or damaged: left as it is
	}
	if err := tx.delete(bucketIDs, s.idKey(peerID, id)); err != nil {
		return err
	}
	return tx.delete(bucketHistory, s.messageKey(bucketHistory, peerID, seq))
}
