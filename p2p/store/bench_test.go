package store

import (
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchBackends opens a fresh store per benchmark: the memory store shows
// the CPU and allocation cost of the sealing layer alone, the bolt file adds
// bbolt's page writes and fsync per transaction.
var benchBackends = []struct {
	name string
	open func(b *testing.B) *sealedStore
}{
	{"memory", func(b *testing.B) *sealedStore { return OpenMemory(testKey).(*sealedStore) }},
	{"bolt", func(b *testing.B) *sealedStore {
		s, err := openBolt(filepath.Join(b.TempDir(), "store.db"), testKey, time.Second, currentSchema)
		if err != nil {
			b.Fatal(err)
		}
		return s
	}},
}

var benchSizes = []int{64, 64 << 10}

func benchID(i int) [MessageIDLen]byte {
	var id [MessageIDLen]byte
	binary.BigEndian.PutUint64(id[8:], uint64(i))
	return id
}

// benchEach runs op once per iteration for every backend and size, with a
// fresh store per sub-benchmark; i counts the iterations.
func benchEach(b *testing.B, op func(b *testing.B, s Store, i int, text string, sentAt time.Time)) {
	for _, be := range benchBackends {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", be.name, size), func(b *testing.B) {
				s := be.open(b)
				defer s.Close()
				text := strings.Repeat("x", size)
				sentAt := time.Now()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					op(b, s, i, text, sentAt)
				}
			})
		}
	}
}

const benchPeer = "12D3KooWBenchPeer"

// BenchmarkQueueDeliver is one outgoing message's whole life in the store:
// Queue, MarkSent when a session wrote it, Delivered when the receipt came.
func BenchmarkQueueDeliver(b *testing.B) {
	benchEach(b, func(b *testing.B, s Store, i int, text string, sentAt time.Time) {
		id := benchID(i)
		if _, err := s.Queue(Message{PeerID: benchPeer, ID: id, Text: text, SentAt: sentAt}); err != nil {
			b.Fatal(err)
		}
		if err := s.MarkSent(benchPeer, [][MessageIDLen]byte{id}); err != nil {
			b.Fatal(err)
		}
		if ok, err := s.Delivered(benchPeer, id); !ok || err != nil {
			b.Fatal(ok, err)
		}
	})
}

// BenchmarkReceive stores one incoming message (dedupe check included).
func BenchmarkReceive(b *testing.B) {
	benchEach(b, func(b *testing.B, s Store, i int, text string, sentAt time.Time) {
		if _, fresh, err := s.Receive(Message{PeerID: benchPeer, ID: benchID(i), Text: text, SentAt: sentAt}); !fresh || err != nil {
			b.Fatal(fresh, err)
		}
	})
}

// BenchmarkDeliveredUnknown is a receipt for a message ID the store does not
// know, which any peer can send at will: a read-only lookup, no commit (the
// commits/op metric shows it for bolt).
func BenchmarkDeliveredUnknown(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			defer s.Close()
			if _, err := s.Queue(Message{PeerID: benchPeer, ID: benchID(-1), Text: "x"}); err != nil {
				b.Fatal(err)
			}
			bk, isBolt := s.kv.(*boltKV)
			var before uint64
			if isBolt {
				before = bk.commits.Load()
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if ok, err := s.Delivered(benchPeer, benchID(i)); ok || err != nil {
					b.Fatal(ok, err)
				}
			}
			if isBolt {
				b.ReportMetric(float64(bk.commits.Load()-before)/float64(b.N), "commits/op")
			}
		})
	}
}
