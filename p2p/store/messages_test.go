package store

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
)

// rawRecord returns a copy of the raw (sealed) value at bucket/key, or nil.
func rawRecord(t *testing.T, s *sealedStore, bucket, key []byte) []byte {
	t.Helper()
	var v []byte
	if err := s.view(func(tx sealedTx) error {
		raw, err := tx.get(bucket, key)
		v = bytes.Clone(raw)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReceiptsLeaveHistoryRecord: MarkSent and Delivered change the state
// that History reports without rewriting the history record (a rewrite
// would draw a fresh nonce, so the sealed bytes would differ).
func TestReceiptsLeaveHistoryRecord(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		m, err := s.Queue(outMessage("p", 1))
		if err != nil {
			t.Fatal(err)
		}
		hkey := s.messageKey(bucketHistory, "p", m.Seq)
		orig := rawRecord(t, s, bucketHistory, hkey)
		if orig == nil {
			t.Fatal("no history record")
		}
		steps := []struct {
			do   func() error
			want MessageState
		}{
			{func() error { return s.MarkSent("p", [][MessageIDLen]byte{m.ID}) }, StateSent},
			{func() error { _, err := s.Delivered("p", m.ID); return err }, StateDelivered},
			{func() error { return s.MarkSent("p", [][MessageIDLen]byte{m.ID}) }, StateDelivered},
		}
		for i, st := range steps {
			if err := st.do(); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			if h, err := s.History("p", 0); err != nil || len(h) != 1 || h[0].State != st.want {
				t.Errorf("step %d: History = %+v, %v; want state %s", i, h, err, st.want)
			}
			if got := rawRecord(t, s, bucketHistory, hkey); !bytes.Equal(got, orig) {
				t.Errorf("step %d rewrote the history record", i)
			}
		}
		if got := rawRecord(t, s, bucketOutbox, s.messageKey(bucketOutbox, "p", m.Seq)); got != nil {
			t.Error("outbox pointer left after delivery")
		}
	})
}

// TestOutboxPointerChecked: an outbox pointer that names another message, a
// pointer without its history record, and a state entry that disagrees with
// its history record all fail with ErrCorrupt.
func TestOutboxPointerChecked(t *testing.T) {
	tests := []struct {
		name string
		edit func(tx sealedTx, s *sealedStore, m Message) error
	}{
		{"pointer to another ID", func(tx sealedTx, s *sealedStore, m Message) error {
			return tx.putSealed(bucketOutbox, s.messageKey(bucketOutbox, "p", m.Seq), mustOutboxPointer("p", msgID(9)))
		}},
		{"pointer of another peer", func(tx sealedTx, s *sealedStore, m Message) error {
			return tx.putSealed(bucketOutbox, s.messageKey(bucketOutbox, "p", m.Seq), mustOutboxPointer("q", m.ID))
		}},
		{"history record gone", func(tx sealedTx, s *sealedStore, m Message) error {
			return tx.delete(bucketHistory, s.messageKey(bucketHistory, "p", m.Seq))
		}},
		{"ids entry gone", func(tx sealedTx, s *sealedStore, m Message) error {
			return tx.delete(bucketIDs, s.idKey("p", m.ID))
		}},
		{"ids entry with another seq", func(tx sealedTx, s *sealedStore, m Message) error {
			return s.putIDEntry(tx, "p", m.ID, idEntry{fromMe: true, state: StateQueued, seq: m.Seq + 1})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := OpenMemory(testKey).(*sealedStore)
			defer s.Close()
			m, err := s.Queue(outMessage("p", 1))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.update(func(tx sealedTx) error { return tt.edit(tx, s, m) }); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Outbox("p", 0); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Outbox = %v, want ErrCorrupt", err)
			}
		})
	}
	// Delivered refuses to drop a pointer that names another message.
	s := OpenMemory(testKey).(*sealedStore)
	defer s.Close()
	m, _ := s.Queue(outMessage("p", 1))
	s.update(func(tx sealedTx) error {
		return tx.putSealed(bucketOutbox, s.messageKey(bucketOutbox, "p", m.Seq), mustOutboxPointer("p", msgID(9)))
	})
	if _, err := s.Delivered("p", m.ID); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Delivered over a wrong pointer = %v, want ErrCorrupt", err)
	}
}

// TestRecordKeyUnchanged: the pooled HMAC computes the very record keys the
// schema defines (existing files are found again), also from many
// goroutines at once.
func TestRecordKeyUnchanged(t *testing.T) {
	index, err := hkdf.Key(sha256.New, testKey[:], nil, indexKeyInfo, 32)
	if err != nil {
		t.Fatal(err)
	}
	want := func(bucket []byte, id string) []byte {
		m := hmac.New(sha256.New, index)
		m.Write([]byte{byte(len(bucket))})
		m.Write(bucket)
		m.Write([]byte(id))
		return m.Sum(nil)
	}
	s := &sealedStore{s: newSealer(testKey)}
	id := msgID(5)
	if got := s.idKey("peer", id); !bytes.Equal(got, want(bucketIDs, "peer\x00"+string(id[:]))) {
		t.Errorf("idKey = %x", got)
	}
	if got := s.messageKey(bucketHistory, "peer", 7); !bytes.Equal(got, seqKey(want(bucketHistory, "peer"), 7)) {
		t.Errorf("messageKey = %x", got)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				peer := string(rune('a'+g)) + string(rune('a'+i%26))
				if got := s.s.recordKey(bucketContacts, peer); !bytes.Equal(got, want(bucketContacts, peer)) {
					t.Errorf("recordKey(%q) = %x", peer, got)
					return
				}
			}
		})
	}
	wg.Wait()
}
