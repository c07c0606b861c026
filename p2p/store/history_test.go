package store

import (
	"bytes"
	"testing"
)

// TestHistoryBefore pages back through a conversation interleaved with
// another one: each page ends where the one after it starts.
func TestHistoryBefore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *sealedStore) {
		for i := byte(1); i <= 7; i++ {
			if _, err := s.Queue(outMessage("p", i)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Queue(outMessage("q", 100+i)); err != nil {
				t.Fatal(err)
			}
		}
		last, err := s.History("p", 3)
		if err != nil || !bytes.Equal(ids(last), []byte{5, 6, 7}) {
			t.Fatalf("History(p, 3) = %v, %v", ids(last), err)
		}
		var pages [][]byte
		for before := last[0].Seq; ; {
			page, err := s.HistoryBefore("p", before, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			pages = append(pages, ids(page))
			before = page[0].Seq
		}
		if len(pages) != 2 || !bytes.Equal(pages[0], []byte{2, 3, 4}) || !bytes.Equal(pages[1], []byte{1}) {
			t.Errorf("pages before %d = %v, want [2 3 4] [1]", last[0].Seq, pages)
		}
		if all, err := s.HistoryBefore("p", last[2].Seq+100, 0); err != nil || !bytes.Equal(ids(all), []byte{1, 2, 3, 4, 5, 6, 7}) {
			t.Errorf("HistoryBefore past the end, no limit = %v, %v", ids(all), err)
		}
		if none, err := s.HistoryBefore("p", 0, 10); err != nil || len(none) != 0 {
			t.Errorf("HistoryBefore(0) = %v, %v", ids(none), err)
		}
	})
}
