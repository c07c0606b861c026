package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math"
	"slices"

	"golang.org/x/crypto/cryptobyte"
)

// migrateV1 upgrades a version 1 store (contacts only) to version 2. The
// new buckets (outbox, history, ids) were created empty before it runs and
// a v1 store holds no messages, so all it does is start the message
// sequence counter at zero.
func migrateV1(tx sealedTx) error {
	return tx.putSealed(bucketMeta, metaSeqKey, binary.BigEndian.AppendUint64(nil, 0))
}

// migrateV2 upgrades a version 2 store to version 3, where the delivery
// state moves from the history record into the ids entry and the outbox
// keeps a pointer instead of a second copy of each message:
//
//   - every history record is rewritten from message encoding v1 to v2
//     (no state), and its ids entry from v1 to v2 with the state the
//     history record held;
//   - every outbox record is rewritten from a message copy (encoding v1) to
//     a pointer (encoding 2) at the same key.
//
// Record keys do not change. Like every migration it runs in Open's single
// update transaction, so a crash midway leaves the version 2 store whole.
//
// A record that fails to open or decode, or an ids entry that disagrees with
// its history record, is left as it is: the version 3 decoders refuse the
// old layouts, so it reads as [ErrCorrupt], just as it did in version 2,
// rather than making the whole store unopenable.
func migrateV2(tx sealedTx) error {
	s := &sealedStore{s: tx.s} // for its key helpers; no kv is needed
	// Collect keys first (forEach forbids writes), and open each record
	// afterwards, so the migration holds one text at a time.
	history, err := collectKeys(tx, bucketHistory)
	if err != nil {
		return err
	}
	for _, k := range history {
		if err := migrateHistoryV2(tx, s, k); err != nil {
			return err
		}
	}
	outbox, err := collectKeys(tx, bucketOutbox)
	if err != nil {
		return err
	}
	for _, k := range outbox {
		pt, ok, err := tx.getSealed(bucketOutbox, k)
		if err != nil || !ok {
			continue // damaged: see above
		}
		m, err := decodeMessageV1(pt)
		if err != nil || !bytes.Equal(k, s.messageKey(bucketOutbox, m.PeerID, m.Seq)) {
			continue
		}
		ptr, err := encodeOutboxPointer(m.PeerID, m.ID)
		if err != nil {
			return err
		}
		if err := tx.putSealed(bucketOutbox, k, ptr); err != nil {
			return err
		}
	}
	return nil
}

// migrateHistoryV2 rewrites one history record and its ids entry.
func migrateHistoryV2(tx sealedTx, s *sealedStore, k []byte) error {
	pt, ok, err := tx.getSealed(bucketHistory, k)
	if err != nil || !ok {
		return nil // damaged: left for readers to report
	}
	m, err := decodeMessageV1(pt)
	if err != nil || !bytes.Equal(k, s.messageKey(bucketHistory, m.PeerID, m.Seq)) {
		return nil
	}
	if err := checkMessage(m); err != nil {
		return nil
	}
	idk := s.idKey(m.PeerID, m.ID)
	idPT, ok, err := tx.getSealed(bucketIDs, idk)
	if err != nil || !ok {
		// The history record is still rewritten: it is whole, and the
		// missing entry is reported when its state is read.
		return s.putHistory(tx, m)
	}
	fromMe, seq, err := decodeIDEntryV1(idPT)
	if err == nil && fromMe == m.FromMe && seq == m.Seq && (fromMe || m.State == StateDelivered) {
		if err := tx.putSealed(bucketIDs, idk, encodeIDEntry(idEntry{fromMe: fromMe, state: m.State, seq: seq})); err != nil {
			return err
		}
	}
	return s.putHistory(tx, m)
}

// migrateV3 upgrades a version 3 store to version 4, whose contact records
// carry the peer's public identity: every contact is rewritten from contact
// encoding v1 to v2 with the identity empty (the node fills it at the
// peer's next session). Record keys do not change. Like migrateV2 it runs
// in Open's single update transaction, and a record that fails to open or
// decode, or sits under another peer's key, is left as it is, to read as
// [ErrCorrupt] as it did before.
func migrateV3(tx sealedTx) error {
	return rewriteContacts(tx, decodeContactV1)
}

// rewriteContacts rewrites every contact record that decode reads (an
// older contact encoding) in the current encoding, under the same key. A
// record that fails to open or decode, or sits under another peer's key,
// is left as it is, to read as [ErrCorrupt] as before.
func rewriteContacts(tx sealedTx, decode func([]byte) (Contact, error)) error {
	keys, err := collectKeys(tx, bucketContacts)
	if err != nil {
		return err
	}
	for _, k := range keys {
		pt, ok, err := tx.getSealed(bucketContacts, k)
		if err != nil || !ok {
			continue // damaged: see above
		}
		c, err := decode(pt)
		if err != nil || !bytes.Equal(k, tx.s.recordKey(bucketContacts, c.PeerID)) {
			continue
		}
		b, err := encodeContact(c)
		if err != nil {
			return err // cannot happen: a decoded older contact always encodes
		}
		if err := tx.putSealed(bucketContacts, k, b); err != nil {
			return err
		}
	}
	return nil
}

// migrateV4 upgrades a version 4 store to version 5: it builds the received
// index (received.go) from the history, and applies its bound, so that a
// conversation with more than maxReceivedPerPeer received messages keeps
// dedupe entries for the newest of them only, as if they had been received
// under version 5; every history record stays. The trust digest is computed by Open after the
// migrations (initSchema). A history record that fails to open is left as
// it is and not indexed, to read as [ErrCorrupt] as before.
func migrateV4(tx sealedTx) error { return buildReceived(tx, maxReceivedPerPeer) }

// buildReceived is [migrateV4] for a ring of the given size (tests use a
// small one).
func buildReceived(tx sealedTx, ring int) error {
	s := &sealedStore{s: tx.s}
	// The index is rebuilt from scratch, whatever the bucket held.
	old, err := collectKeys(tx, bucketRecv)
	if err != nil {
		return err
	}
	for _, k := range old {
		if err := tx.delete(bucketRecv, k); err != nil {
			return err
		}
	}
	type received struct {
		seq uint64
		id  [MessageIDLen]byte
	}
	// History keys sort by conversation, then seq: each peer's list comes
	// out oldest first.
	byPeer := map[string][]received{}
	keys, err := collectKeys(tx, bucketHistory)
	if err != nil {
		return err
	}
	for _, k := range keys {
		raw, err := tx.get(bucketHistory, k)
		if err != nil {
			return err
		}
		m, err := s.openHistory(k, raw)
		if err != nil || m.FromMe {
			continue
		}
		byPeer[m.PeerID] = append(byPeer[m.PeerID], received{m.Seq, m.ID})
	}
	for peerID, rs := range byPeer {
		slices.SortFunc(rs, func(a, b received) int { return cmp.Compare(a.seq, b.seq) })
		for len(rs) > ring {
			if err := s.dropReceived(tx, peerID, rs[0].id, rs[0].seq); err != nil {
				return err
			}
			rs = rs[1:]
		}
		// Slots 0 to len-1, oldest first, as len Receives would have
		// left them: the next message goes to slot len mod the bound,
		// where the oldest is once the ring is full.
		prefix := s.peerPrefix(bucketRecv, peerID)
		for i, r := range rs {
			if err := tx.putSealed(bucketRecv, seqKey(prefix, uint64(i)), encodeRecvEntry(r.id, r.seq)); err != nil {
				return err
			}
		}
		if err := tx.putSealed(bucketRecv, prefix, binary.BigEndian.AppendUint64(nil, uint64(len(rs)))); err != nil {
			return err
		}
	}
	return nil
}

// migrateV5 upgrades a version 5 store to version 6, whose contact records
// carry the user's label: every contact is rewritten from contact encoding
// v2 to v3 with the label empty. Like migrateV3 it leaves a record that
// fails to open or decode (or sits under another peer's key) as it is, to
// read as [ErrCorrupt] as before; a record already in v3 (migrateV3 wrote
// it in the same Open) is left too. Open recomputes the trust digest over
// the rewritten records afterwards (initSchema), having checked it first.
func migrateV5(tx sealedTx) error {
	return rewriteContacts(tx, decodeContactV2)
}

// decodeContactV2 parses a schema 4 or 5 contact record (contact encoding
// v2: the v3 layout of [encodeContact] without the label). It is kept for
// migrateV5 only.
func decodeContactV2(b []byte) (Contact, error) {
	return decodeContactVersion(b, contactEncodingV2)
}

// decodeContactV1 parses a schema 1 to 3 contact record (contact encoding
// v1: the v2 layout of [encodeContact] without the identity). It is kept
// for migrateV3 only.
func decodeContactV1(b []byte) (Contact, error) {
	return decodeContactVersion(b, contactEncodingV1)
}

// collectKeys returns copies of every key in bucket.
func collectKeys(tx sealedTx, bucket []byte) ([][]byte, error) {
	var keys [][]byte
	err := tx.forEach(bucket, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	})
	return keys, err
}

// Encodings of schema version 2, kept to read old records in migrateV2.
const (
	messageEncodingV1 = 1
	idEntryEncodingV1 = 1
)

// decodeMessageV1 parses a schema 2 message record (history and outbox):
//
//	u8     version (1)
//	vec16  peer ID
//	[16]   message ID
//	u8     flags (bit 0: from me)
//	u8     state (1 queued, 2 sent, 3 delivered)
//	u64    seq
//	i64 u32  sent at: Unix seconds, nanoseconds
//	u32    text length, then the text
func decodeMessageV1(b []byte) (Message, error) {
	s := cryptobyte.String(b)
	var m Message
	var version, flags, state uint8
	var n uint32
	if !s.ReadUint8(&version) || version != messageEncodingV1 || !readVec16(&s, &m.PeerID) ||
		!s.CopyBytes(m.ID[:]) || !s.ReadUint8(&flags) || !s.ReadUint8(&state) ||
		!s.ReadUint64(&m.Seq) || !readTime(&s, &m.SentAt) || !s.ReadUint32(&n) ||
		n > math.MaxInt32 || int(n) != len(s) || flags&^flagFromMe != 0 || m.PeerID == "" {
		return Message{}, errMalformed
	}
	var ok bool
	if m.State, ok = stateFromCode(state); !ok {
		return Message{}, errMalformed
	}
	m.FromMe = flags&flagFromMe != 0
	m.Text = string(s)
	return m, nil
}

// decodeIDEntryV1 parses a schema 2 ids entry: u8 version (1), u8 flags
// (bit 0: from me), u64 seq.
func decodeIDEntryV1(b []byte) (fromMe bool, seq uint64, err error) {
	if len(b) != 10 || b[0] != idEntryEncodingV1 || b[1]&^flagFromMe != 0 {
		return false, 0, errMalformed
	}
	return b[1] != 0, binary.BigEndian.Uint64(b[2:]), nil
}

// migrateV6 upgrades a version 6 store to 7: the buckets of version 7 are
// new and empty (Open made them), and no record of version 6 changes.
func migrateV6(sealedTx) error { return nil }
