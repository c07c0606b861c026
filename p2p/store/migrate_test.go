package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// putContactV1 writes c as the schema 1 to 3 code's PutContact did.
func putContactV1(t *testing.T, s *sealedStore, c Contact) {
	t.Helper()
	b := encodeContactV1(t, c)
	err := s.update(func(tx sealedTx) error {
		return tx.putSealed(bucketContacts, s.s.recordKey(bucketContacts, c.PeerID), b)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// schemaV3 is the schema of the version 3 code.
var schemaV3 = schema{version: 3, buckets: currentSchema.buckets, migrations: map[uint32]migration{1: migrateV1, 2: migrateV2}}

// TestMigrateV3 reopens a version 3 store, whose contacts are in contact
// encoding v1: every contact comes back whole with no identity, every
// contact record is now v2, a damaged one stays damaged without stopping
// the others, messages are untouched, and a second open writes nothing.
func TestMigrateV3(t *testing.T) {
	path := tempPath(t)
	s, err := openBolt(path, testKey, time.Second, schemaV3)
	if err != nil {
		t.Fatal(err)
	}
	full := sampleContact("q")
	full.Trust, full.Blocked, full.PendingFingerprint = TrustVerified, true, fp(0x77)
	want := []Contact{sampleContact("p"), full, {PeerID: "r", Trust: TrustNew}, sampleContact("z")}
	for _, c := range want {
		putContactV1(t, s, c)
	}
	if _, err := s.Queue(outMessage("p", 1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	zKey := newSealer(testKey).recordKey(bucketContacts, "z")
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketContacts)
		v := bytes.Clone(b.Get(zKey))
		v[len(v)-1] ^= 1
		return b.Put(zKey, v)
	})
	before := dump(t, path)

	s = mustOpen(t, path).(*sealedStore)
	got, err := s.Contacts()
	if !errors.Is(err, ErrCorrupt) || len(got) != 3 {
		t.Fatalf("Contacts = %d, %v; want 3 and ErrCorrupt for z", len(got), err)
	}
	for i, c := range got {
		if !reflect.DeepEqual(c, stored(want[i])) || c.Identity != nil {
			t.Errorf("contact %d = %+v\nwant %+v", i, c, stored(want[i]))
		}
	}
	if h, err := s.History("p", 0); err != nil || len(h) != 1 || h[0].Text != outMessage("p", 1).Text {
		t.Errorf("History(p) = %+v, %v", h, err)
	}
	s.view(func(tx sealedTx) error {
		tx.forEach(bucketContacts, func(k, v []byte) error {
			if bytes.Equal(k, zKey) {
				if string(v) != before[string(bucketContacts)+"/"+string(k)] {
					t.Error("the damaged contact was rewritten")
				}
				return nil
			}
			pt, err := s.s.open(bucketContacts, k, v)
			if err != nil || pt[0] != contactEncodingV3 {
				t.Errorf("contact record %x: %v, not v3 (v2 after migrateV3, then v3)", k, err)
			}
			return nil
		})
		if v, err := getVersion(tx); v != schemaVersion || err != nil {
			t.Errorf("version %d, %v", v, err)
		}
		for _, b := range [][]byte{bucketHistory, bucketIDs, bucketOutbox} {
			tx.forEach(b, func(k, v []byte) error {
				if before[string(b)+"/"+string(k)] != string(v) {
					t.Errorf("%s record %x rewritten", b, k)
				}
				return nil
			})
		}
		return nil
	})
	s.Close()

	// A second open migrates nothing.
	checkReopenNoop(t, path)

	// The migrated contacts take an identity like any other.
	s = mustOpen(t, path).(*sealedStore)
	defer s.Close()
	c := mustGet(t, s, "p")
	c.Identity = []byte("identity")
	mustPut(t, s, c)
	if got := mustGet(t, s, "p"); !bytes.Equal(got.Identity, c.Identity) {
		t.Errorf("identity after migration = %q", got.Identity)
	}
}

// schemaV2 is the schema of the version 2 code: same buckets, no migration
// to 3.
var schemaV2 = schema{version: 2, buckets: currentSchema.buckets, migrations: map[uint32]migration{1: migrateV1}}

// encodeMessageV1 is the version 2 code's message encoder (history and
// outbox records), kept here to build version 2 stores.
func encodeMessageV1(m Message) []byte {
	var flags byte
	if m.FromMe {
		flags |= flagFromMe
	}
	b, err := appendVec16([]byte{messageEncodingV1}, m.PeerID)
	if err != nil {
		panic(err) // the tests' peer IDs are short
	}
	b = append(b, m.ID[:]...)
	b = append(b, flags, stateCodes[m.State])
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = appendTime(b, m.SentAt)
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.Text)))
	return append(b, m.Text...)
}

func encodeIDEntryV1(fromMe bool, seq uint64) []byte {
	b := []byte{idEntryEncodingV1, 0}
	if fromMe {
		b[1] = flagFromMe
	}
	return binary.BigEndian.AppendUint64(b, seq)
}

// v2Writer writes records exactly as the version 2 code's Queue, Receive,
// MarkSent and Delivered did, one transaction each.
type v2Writer struct {
	t  *testing.T
	s  *sealedStore
	ms map[string]Message // by peer ID and message ID
}

func (w *v2Writer) put(tx sealedTx, bucket []byte, m Message) error {
	return tx.putSealed(bucket, w.s.messageKey(bucket, m.PeerID, m.Seq), encodeMessageV1(m))
}

func (w *v2Writer) add(m Message) Message {
	w.t.Helper()
	err := w.s.update(func(tx sealedTx) error {
		seq, err := nextSeq(tx)
		if err != nil {
			return err
		}
		m.Seq = seq
		if m.FromMe {
			if err := w.put(tx, bucketOutbox, m); err != nil {
				return err
			}
		}
		if err := w.put(tx, bucketHistory, m); err != nil {
			return err
		}
		return tx.putSealed(bucketIDs, w.s.idKey(m.PeerID, m.ID), encodeIDEntryV1(m.FromMe, seq))
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.ms[m.PeerID+string(m.ID[:])] = m
	return m
}

func (w *v2Writer) queue(peerID string, id byte) Message {
	m := outMessage(peerID, id)
	m.FromMe, m.State = true, StateQueued
	return w.add(m)
}

func (w *v2Writer) receive(peerID string, id byte) Message {
	return w.add(Message{PeerID: peerID, ID: msgID(id), Text: fmt.Sprintf("in %d", id), SentAt: time.Unix(int64(id), 0).UTC(), State: StateDelivered})
}

// setState re-seals the history record with a new state, and drops the
// outbox copy on delivery, as MarkSent and Delivered did.
func (w *v2Writer) setState(peerID string, id byte, st MessageState) {
	w.t.Helper()
	mid := msgID(id)
	m := w.ms[peerID+string(mid[:])]
	m.State = st
	err := w.s.update(func(tx sealedTx) error {
		if st == StateDelivered {
			if err := tx.delete(bucketOutbox, w.s.messageKey(bucketOutbox, peerID, m.Seq)); err != nil {
				return err
			}
		}
		return w.put(tx, bucketHistory, m)
	})
	if err != nil {
		w.t.Fatal(err)
	}
}

// writeV2Store builds a version 2 store file: p has a queued, a sent, a
// delivered, a received and another sent message; q a received and a
// queued one.
func writeV2Store(t *testing.T, path string) {
	t.Helper()
	s, err := openBolt(path, testKey, time.Second, schemaV2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	putContactV1(t, s, sampleContact("p"))
	w := &v2Writer{t: t, s: s, ms: map[string]Message{}}
	w.queue("p", 1)
	w.queue("p", 2)
	w.queue("p", 3)
	w.receive("p", 4)
	w.receive("q", 6)
	w.queue("p", 5)
	w.queue("q", 7)
	w.setState("p", 2, StateSent)
	w.setState("p", 3, StateSent)
	w.setState("p", 3, StateDelivered)
	w.setState("p", 5, StateSent)
}

// dump returns every bucket's raw records.
func dump(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				out[string(name)+"/"+string(k)] = string(v)
				return nil
			})
		})
	})
	return out
}

func TestMigrateV2(t *testing.T) {
	path := tempPath(t)
	writeV2Store(t, path)

	s := mustOpen(t, path).(*sealedStore)
	h, err := s.History("p", 0)
	wantStates := []MessageState{StateQueued, StateSent, StateDelivered, StateDelivered, StateSent}
	if err != nil || !bytes.Equal(ids(h), []byte{1, 2, 3, 4, 5}) || !slicesEqual(states(h), wantStates) {
		t.Fatalf("History(p) = %v %v, %v", ids(h), states(h), err)
	}
	for i, seq := range []uint64{1, 2, 3, 4, 6} {
		want := outMessage("p", h[i].ID[0])
		if h[i].ID[0] == 4 {
			want = Message{Text: "in 4", SentAt: time.Unix(4, 0).UTC()}
		}
		if h[i].Seq != seq || h[i].FromMe != (h[i].ID[0] != 4) || h[i].Text != want.Text || !h[i].SentAt.Equal(want.SentAt) {
			t.Errorf("History(p)[%d] = %+v", i, h[i])
		}
	}
	if h, err := s.History("q", 0); err != nil || !bytes.Equal(ids(h), []byte{6, 7}) ||
		!slicesEqual(states(h), []MessageState{StateDelivered, StateQueued}) {
		t.Errorf("History(q) = %v %v, %v", ids(h), states(h), err)
	}
	out, err := s.Outbox("p", 0)
	if err != nil || !bytes.Equal(ids(out), []byte{1, 2, 5}) ||
		!slicesEqual(states(out), []MessageState{StateQueued, StateSent, StateSent}) || out[2].Text != outMessage("p", 5).Text {
		t.Errorf("Outbox(p) = %v %v, %v", ids(out), states(out), err)
	}
	if out, _ := s.Outbox("p", 3); !bytes.Equal(ids(out), []byte{5}) {
		t.Errorf("Outbox(p, 3) = %v", ids(out))
	}
	if peers, err := s.OutboxPeers(); err != nil || !slicesEqual(peers, []string{"p", "q"}) {
		t.Errorf("OutboxPeers = %v, %v", peers, err)
	}
	mustGet(t, s, "p")

	// Every record is in the version 3 layout.
	s.view(func(tx sealedTx) error {
		for _, c := range []struct {
			bucket []byte
			decode func([]byte) error
		}{
			{bucketHistory, func(b []byte) error { _, err := decodeMessage(b); return err }},
			{bucketIDs, func(b []byte) error { _, err := decodeIDEntry(b); return err }},
			{bucketOutbox, func(b []byte) error { _, _, err := decodeOutboxPointer(b); return err }},
		} {
			n := 0
			tx.forEach(c.bucket, func(k, v []byte) error {
				n++
				pt, err := s.s.open(c.bucket, k, v)
				if err == nil {
					err = c.decode(pt)
				}
				if err != nil {
					t.Errorf("%s record %x: %v", c.bucket, k, err)
				}
				return nil
			})
			if n == 0 {
				t.Errorf("%s: no records", c.bucket)
			}
		}
		if v, err := getVersion(tx); v != schemaVersion || err != nil {
			t.Errorf("version %d, %v", v, err)
		}
		return nil
	})
	s.Close()

	// A second open migrates nothing: every record stays byte for byte.
	checkReopenNoop(t, path)

	// Dedupe, receipts and the seq counter carry on from the old records.
	s = mustOpen(t, path).(*sealedStore)
	defer s.Close()
	for _, id := range []byte{4, 1, 6} {
		peer := "p"
		if id == 6 {
			peer = "q"
		}
		if _, fresh, err := s.Receive(Message{PeerID: peer, ID: msgID(id), Text: "again"}); fresh || err != nil {
			t.Errorf("Receive(%s, %d) again: fresh %v, %v", peer, id, fresh, err)
		}
	}
	if _, err := s.Queue(outMessage("p", 3)); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Queue of a migrated ID: %v", err)
	}
	if err := s.MarkSent("p", [][MessageIDLen]byte{msgID(1)}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id   byte
		want bool
	}{{1, true}, {2, true}, {3, false}, {4, false}} {
		if got, err := s.Delivered("p", msgID(tt.id)); got != tt.want || err != nil {
			t.Errorf("Delivered(p, %d) = %v, %v", tt.id, got, err)
		}
	}
	if out, _ := s.Outbox("p", 0); !bytes.Equal(ids(out), []byte{5}) {
		t.Errorf("Outbox after receipts = %v", ids(out))
	}
	if m, err := s.Queue(outMessage("p", 8)); err != nil || m.Seq != 8 {
		t.Errorf("Queue after migration: seq %d, %v", m.Seq, err)
	}
}

// TestMigrateV2Damaged: a damaged version 2 record does not stop the
// migration; it stays damaged, and reads as ErrCorrupt as it did before,
// while the other conversations migrate.
func TestMigrateV2Damaged(t *testing.T) {
	path := tempPath(t)
	writeV2Store(t, path)
	sl := &sealedStore{s: newSealer(testKey)}
	qKey := sl.messageKey(bucketHistory, "q", 5) // q's received message
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHistory)
		v := bytes.Clone(b.Get(qKey))
		v[len(v)-1] ^= 1
		return b.Put(qKey, v)
	})
	s := mustOpen(t, path)
	defer s.Close()
	if _, err := s.History("q", 0); !errors.Is(err, ErrCorrupt) {
		t.Errorf("History(q) = %v, want ErrCorrupt", err)
	}
	if h, err := s.History("p", 0); err != nil || len(h) != 5 {
		t.Errorf("History(p) = %v, %v", ids(h), err)
	}
	if out, err := s.Outbox("q", 0); err != nil || !bytes.Equal(ids(out), []byte{7}) {
		t.Errorf("Outbox(q) = %v, %v", ids(out), err)
	}
}

// TestMigrateV2Atomic: when a later step of the same Open fails, none of
// migrateV2's writes reach the file, and the current code still opens it.
func TestMigrateV2Atomic(t *testing.T) {
	path := tempPath(t)
	writeV2Store(t, path)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	sch := schema{version: 4, buckets: currentSchema.buckets, migrations: map[uint32]migration{
		2: migrateV2,
		3: func(sealedTx) error { return boom },
	}}
	if _, err := openBolt(path, testKey, time.Second, sch); !errors.Is(err, boom) {
		t.Fatalf("open with a failing later migration: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("a failed migration changed the file")
	}
	s := mustOpen(t, path)
	defer s.Close()
	if h, err := s.History("p", 0); err != nil || len(h) != 5 {
		t.Errorf("History after failed then good migration: %v, %v", ids(h), err)
	}
}

// checkReopenNoop opens the store at path once more and checks that every
// record stayed byte for byte: a migrated store needs no second migration.
func checkReopenNoop(t *testing.T, path string) {
	t.Helper()
	before := dump(t, path)
	mustOpen(t, path).Close()
	after := dump(t, path)
	if len(before) != len(after) {
		t.Errorf("reopen: %d records, was %d", len(after), len(before))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("reopen rewrote %q", k)
		}
	}
}
