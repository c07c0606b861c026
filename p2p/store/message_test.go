package store

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func msgID(b byte) [MessageIDLen]byte {
	var id [MessageIDLen]byte
	for i := range id {
		id[i] = b ^ byte(i)
	}
	return id
}

func outMessage(peerID string, b byte) Message {
	return Message{PeerID: peerID, ID: msgID(b), Text: "text " + string(rune('a'+b%26)), SentAt: time.Date(2026, 3, 4, 5, 6, 7, 8e6, time.UTC)}
}

func ids(ms []Message) []byte {
	var out []byte
	for _, m := range ms {
		out = append(out, m.ID[0])
	}
	return out
}

func states(ms []Message) []MessageState {
	var out []MessageState
	for _, m := range ms {
		out = append(out, m.State)
	}
	return out
}

func TestOutboxLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		for i := byte(1); i <= 4; i++ {
			m, err := s.Queue(outMessage("p", i))
			if err != nil || m.Seq != uint64(i) || m.State != StateQueued || !m.FromMe {
				t.Fatalf("Queue %d = %+v, %v", i, m, err)
			}
		}
		if _, err := s.Queue(outMessage("q", 9)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Queue(outMessage("p", 1)); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("Queue of a reused ID: %v, want ErrInvalidMessage", err)
		}
		pending, err := s.Outbox("p", 0)
		if err != nil || !bytes.Equal(ids(pending), []byte{1, 2, 3, 4}) {
			t.Fatalf("Outbox = %v, %v", ids(pending), err)
		}
		if pending, _ := s.Outbox("p", 3); !bytes.Equal(ids(pending), []byte{3, 4}) {
			t.Errorf("Outbox from 3 = %v", ids(pending))
		}
		if peers, err := s.OutboxPeers(); err != nil || len(peers) != 2 || peers[0] != "p" {
			t.Errorf("OutboxPeers = %v, %v", peers, err)
		}
		if err := s.MarkSent("p", [][MessageIDLen]byte{msgID(1), msgID(2), msgID(77)}); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			id   byte
			peer string
			want bool
		}{{2, "p", true}, {2, "p", false}, {1, "q", false}, {77, "p", false}, {4, "p", true}} {
			if got, err := s.Delivered(tt.peer, msgID(tt.id)); got != tt.want || err != nil {
				t.Errorf("Delivered(%s, %d) = %v, %v; want %v", tt.peer, tt.id, got, err, tt.want)
			}
		}
		if pending, _ := s.Outbox("p", 0); !bytes.Equal(ids(pending), []byte{1, 3}) {
			t.Errorf("Outbox after receipts = %v", ids(pending))
		}
		h, err := s.History("p", 0)
		want := []MessageState{StateSent, StateDelivered, StateQueued, StateDelivered}
		if err != nil || !bytes.Equal(ids(h), []byte{1, 2, 3, 4}) || !slicesEqual(states(h), want) {
			t.Errorf("History = %v %v, %v", ids(h), states(h), err)
		}
		if h[0].Text != outMessage("p", 1).Text || !h[0].SentAt.Equal(outMessage("p", 1).SentAt) {
			t.Errorf("History[0] = %+v", h[0])
		}
		if h, _ := s.History("p", 2); !bytes.Equal(ids(h), []byte{3, 4}) {
			t.Errorf("History limit 2 = %v", ids(h))
		}
	})
}

func slicesEqual[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestReceiveDedupe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		steps := []struct {
			peer string
			id   byte
			new  bool
		}{{"p", 1, true}, {"p", 2, true}, {"p", 1, false}, {"q", 1, true}, {"p", 2, false}, {"p", 3, true}}
		for _, st := range steps {
			m, fresh, err := s.Receive(Message{PeerID: st.peer, ID: msgID(st.id), Text: "hi", FromMe: true, State: StateQueued})
			if err != nil || fresh != st.new {
				t.Fatalf("Receive(%s, %d) new = %v, %v; want %v", st.peer, st.id, fresh, err, st.new)
			}
			if fresh && (m.FromMe || m.State != StateDelivered) {
				t.Errorf("received message stored as %+v", m)
			}
		}
		if h, _ := s.History("p", 0); !bytes.Equal(ids(h), []byte{1, 2, 3}) {
			t.Errorf("History = %v", ids(h))
		}
		// An ID we sent ourselves, echoed back, is not a new message.
		if _, err := s.Queue(outMessage("p", 40)); err != nil {
			t.Fatal(err)
		}
		if _, fresh, _ := s.Receive(Message{PeerID: "p", ID: msgID(40), Text: "echo"}); fresh {
			t.Error("our own ID accepted as an incoming message")
		}
		if _, _, err := s.Receive(Message{ID: msgID(5)}); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("Receive without peer: %v", err)
		}
	})
}

// TestMessageTamper: a flipped bit in any message record, or a record moved
// to another conversation's key, fails with ErrCorrupt.
func TestMessageTamper(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		m, err := s.Queue(outMessage("p", 1))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Queue(outMessage("q", 2)); err != nil {
			t.Fatal(err)
		}
		pKey := seqKey(s.peerPrefix(bucketHistory, "p"), m.Seq)
		var orig []byte
		s.view(func(tx sealedTx) error {
			v, _ := tx.get(bucketHistory, pKey)
			orig = bytes.Clone(v)
			return nil
		})
		set := func(key, v []byte) {
			t.Helper()
			if err := s.update(func(tx sealedTx) error { return tx.put(bucketHistory, key, v) }); err != nil {
				t.Fatal(err)
			}
		}
		for i := range orig {
			bad := bytes.Clone(orig)
			bad[i] ^= 0x40
			set(pKey, bad)
			if _, err := s.History("p", 0); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("byte %d flipped: History err = %v", i, err)
			}
		}
		set(pKey, orig)
		// p's record copied under q's prefix at p's seq.
		set(seqKey(s.peerPrefix(bucketHistory, "q"), m.Seq), orig)
		if _, err := s.History("q", 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("moved record: History err = %v", err)
		}
	})
}

// TestMigrateV1 opens a store written by the version 1 code (contacts only)
// with the current code: the contacts survive, the message buckets appear
// and the version is bumped, once.
func TestMigrateV1(t *testing.T) {
	v1 := schema{version: 1, buckets: [][]byte{bucketContacts}, migrations: map[uint32]migration{}}
	path := tempPath(t)
	s, err := openBolt(path, testKey, time.Second, v1)
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, sampleContact("p"))
	s.Close()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketHistory) != nil {
			t.Error("v1 store has a history bucket")
		}
		return nil
	})

	s2 := mustOpen(t, path)
	if c := mustGet(t, s2, "p"); c.Name != sampleContact("p").Name {
		t.Errorf("contact after migration: %+v", c)
	}
	m, err := s2.Queue(outMessage("p", 1))
	if err != nil || m.Seq != 1 {
		t.Fatalf("Queue after migration: %+v, %v", m, err)
	}
	s2.Close()
	s3 := mustOpen(t, path)
	defer s3.Close()
	if h, err := s3.History("p", 0); err != nil || len(h) != 1 {
		t.Errorf("History after reopen: %v, %v", h, err)
	}
	s3.(*sealedStore).view(func(tx sealedTx) error {
		if v, err := getVersion(tx); v != schemaVersion || err != nil {
			t.Errorf("version %d, %v", v, err)
		}
		return nil
	})
}

// TestMessagesAtRest: texts and peer IDs of messages never reach the file
// in plaintext, and queued messages survive a reopen.
func TestMessagesAtRest(t *testing.T) {
	const secret = "Quetzalcoatl-Marmalade-5519"
	path := tempPath(t)
	s := mustOpen(t, path)
	m := outMessage("12D3KooWPeerInTheOutbox", 1)
	m.Text = secret
	if _, err := s.Queue(m); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Receive(Message{PeerID: m.PeerID, ID: msgID(2), Text: secret + " reply"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []string{secret, "Quetzal", "PeerInTheOutbox"} {
		if bytes.Contains(raw, []byte(x)) {
			t.Errorf("store file contains %q", x)
		}
	}
	s = mustOpen(t, path)
	defer s.Close()
	if p, err := s.Outbox(m.PeerID, 0); err != nil || len(p) != 1 || p[0].Text != secret {
		t.Errorf("outbox after reopen: %+v, %v", p, err)
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	good, err := encodeMessage(Message{PeerID: "p", ID: msgID(1), Text: "hé", State: StateSent, Seq: 7})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := decodeMessage(good); err != nil || m.Text != "hé" || m.Seq != 7 || m.State != "" {
		t.Fatalf("round trip: %+v, %v", m, err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := map[string][]byte{
		"empty":      nil,
		"version 1":  mutate(func(b []byte) []byte { b[0] = 1; return b }),
		"version 3":  mutate(func(b []byte) []byte { b[0] = 3; return b }),
		"truncated":  good[:len(good)-1],
		"trailing":   append(bytes.Clone(good), 0),
		"flags":      mutate(func(b []byte) []byte { b[1+2+1+MessageIDLen] = 2; return b }),
		"text len":   mutate(func(b []byte) []byte { b[len(b)-len("hé")-1]++; return b }),
		"nanos":      mutate(func(b []byte) []byte { copy(b[len(b)-len("hé")-8:], []byte{0x3b, 0x9a, 0xca, 0x00}); return b }),
		"empty peer": mutate(func(b []byte) []byte { return append([]byte{2, 0, 0}, b[4:]...) }),
	}
	for name, b := range tests {
		if _, err := decodeMessage(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	for name, m := range map[string]Message{
		"no peer":  {},
		"too long": {PeerID: "p", Text: strings.Repeat("x", maxText+1)},
	} {
		if _, err := encodeMessage(m); !errors.Is(err, ErrInvalidMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDecodeIDEntry(t *testing.T) {
	for _, e := range []idEntry{
		{fromMe: true, state: StateQueued, seq: 1},
		{fromMe: true, state: StateSent, seq: 1 << 40},
		{fromMe: true, state: StateDelivered, seq: 3},
		{state: StateDelivered, seq: 4},
	} {
		if got, err := decodeIDEntry(encodeIDEntry(e)); err != nil || got != e {
			t.Errorf("round trip %+v: %+v, %v", e, got, err)
		}
	}
	good := encodeIDEntry(idEntry{fromMe: true, state: StateSent, seq: 9})
	mutate := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	tests := map[string][]byte{
		"empty":              nil,
		"v1 layout":          {1, 1, 0, 0, 0, 0, 0, 0, 0, 9},
		"version":            mutate(0, 1),
		"flags":              mutate(1, 3),
		"state 0":            mutate(2, 0),
		"state 5":            mutate(2, 5),
		"incoming, not done": append([]byte{idEntryEncodingV2, 0, 2}, good[3:]...),
		"truncated":          good[:len(good)-1],
		"trailing":           append(bytes.Clone(good), 0),
	}
	for name, b := range tests {
		if _, err := decodeIDEntry(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

func TestDecodeOutboxPointer(t *testing.T) {
	good := mustOutboxPointer("peer", msgID(3))
	if p, id, err := decodeOutboxPointer(good); err != nil || p != "peer" || id != msgID(3) {
		t.Fatalf("round trip: %q %x %v", p, id, err)
	}
	tests := map[string][]byte{
		"empty":      nil,
		"version 1":  append([]byte{1}, good[1:]...),
		"empty peer": append([]byte{2, 0, 0}, good[1+2+len("peer"):]...),
		"truncated":  good[:len(good)-1],
		"trailing":   append(bytes.Clone(good), 0),
		"long peer":  append([]byte{2, 0, 9}, good[3:]...),
	}
	for name, b := range tests {
		if _, _, err := decodeOutboxPointer(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}

// FuzzDecodeMessageRecords feeds the same bytes to the three message record
// decoders (history message, ids entry, outbox pointer): none panics, and
// whatever one accepts, its encoder reproduces byte for byte.
func FuzzDecodeMessageRecords(f *testing.F) {
	for _, m := range []Message{
		{PeerID: "p", ID: msgID(1)},
		{PeerID: "12D3KooWFuzz", ID: msgID(2), FromMe: true, Text: "hé\x00", Seq: 1 << 50, SentAt: time.Unix(-1, 5)},
	} {
		b, err := encodeMessage(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(encodeIDEntry(idEntry{fromMe: true, state: StateSent, seq: 7}))
	f.Add(encodeIDEntry(idEntry{state: StateDelivered, seq: 1}))
	f.Add(mustOutboxPointer("peer", msgID(4)))
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := decodeMessage(b); err == nil {
			again, err := encodeMessage(m)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("message not canonical (%v):\n in  %x\n out %x", err, b, again)
			}
		}
		if e, err := decodeIDEntry(b); err == nil {
			if again := encodeIDEntry(e); !bytes.Equal(again, b) {
				t.Fatalf("ids entry not canonical:\n in  %x\n out %x", b, again)
			}
		}
		if p, id, err := decodeOutboxPointer(b); err == nil {
			if again := mustOutboxPointer(p, id); !bytes.Equal(again, b) {
				t.Fatalf("outbox pointer not canonical:\n in  %x\n out %x", b, again)
			}
		}
	})
}
