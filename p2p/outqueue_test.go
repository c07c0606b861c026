package p2p

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p/store"
)

// countingOutbox counts the outbox reads that scan the store.
type countingOutbox struct {
	outbox
	mu    sync.Mutex
	reads []uint64 // the from of every Pending call
}

func (c *countingOutbox) Pending(peerID string, from uint64) ([]outMsg, error) {
	c.mu.Lock()
	c.reads = append(c.reads, from)
	c.mu.Unlock()
	return c.outbox.Pending(peerID, from)
}

func (c *countingOutbox) readCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reads)
}

func testMsg(i int) outMsg {
	var id [messageIDLen]byte
	id[0], id[1] = byte(i>>8), byte(i)
	return outMsg{id: id, sentAt: time.UnixMilli(int64(1000 + i)), text: fmt.Sprintf("m%d", i)}
}

// offline is the liveness of a peer with no session: adds never wait.
func offline() (bool, <-chan struct{}) { return false, nil }

// capAt bounds an offline outbox at n messages (and a large byte count).
func capAt(n int) queueLimits {
	return queueLimits{windowMsgs: n, windowBytes: 1 << 30, maxMsgs: n, maxBytes: 1 << 30}
}

func seqs(ms []outMsg) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.seq
	}
	return out
}

// TestOutQueueMirror: adds are mirrored in order and counted without a
// store read; next returns only what follows the cursor; receipts drop
// messages; the limit refuses the next add.
func TestOutQueueMirror(t *testing.T) {
	t.Parallel()
	st := store.OpenMemory([32]byte{1})
	t.Cleanup(func() { _ = st.Close() })
	ob := &countingOutbox{outbox: storeOutbox{st}}
	q := newOutQueue(ob)
	const p = "peer"
	var added []outMsg
	for i := range 5 {
		m, err := q.add(context.Background(), nil, p, testMsg(i), capAt(5), offline)
		if err != nil {
			t.Fatalf("add %d: %v", i, err)
		}
		added = append(added, m)
	}
	if _, err := q.add(context.Background(), nil, p, testMsg(9), capAt(5), offline); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("add past the limit: %v, want ErrQueueFull", err)
	}
	if n, err := q.count(p); err != nil || n != 5 {
		t.Fatalf("count = %d, %v; want 5", n, err)
	}
	if got := ob.readCount(); got != 1 {
		t.Errorf("%d store scans, want 1 (the first load)", got)
	}
	tests := []struct {
		from uint64
		want []uint64
	}{
		{0, seqs(added)},
		{added[2].seq, seqs(added[2:])},
		{added[4].seq + 1, nil},
	}
	for _, tc := range tests {
		ms, _, missing, err := q.next(p, tc.from)
		if err != nil || missing {
			t.Fatalf("next(%d): missing %v, %v", tc.from, missing, err)
		}
		if fmt.Sprint(seqs(ms)) != fmt.Sprint(tc.want) {
			t.Errorf("next(%d) = %v, want %v", tc.from, seqs(ms), tc.want)
		}
		for _, m := range ms {
			if m.text == "" {
				t.Errorf("next(%d): seq %d has no text", tc.from, m.seq)
			}
		}
	}
	if ok, err := q.remove(p, added[0].id); err != nil || !ok {
		t.Fatalf("remove: %v, %v", ok, err)
	}
	if ok, err := q.remove(p, added[0].id); err != nil || ok {
		t.Fatalf("second remove: %v, %v", ok, err)
	}
	if n, _ := q.count(p); n != 4 {
		t.Errorf("count after a receipt = %d, want 4", n)
	}
	if _, err := q.add(context.Background(), nil, p, testMsg(5), capAt(5), offline); err != nil {
		t.Errorf("add after a receipt: %v", err)
	}
	if stored, _ := (storeOutbox{st}).Pending(p, 0); len(stored) != 5 {
		t.Errorf("store holds %d, want 5", len(stored))
	}
}

// TestOutQueueWrittenAndReload: texts a session wrote are dropped from
// memory and reported missing, as are those of a mirror loaded from the
// store (a restart); the store still has them all, in order.
func TestOutQueueWrittenAndReload(t *testing.T) {
	t.Parallel()
	st := store.OpenMemory([32]byte{2})
	t.Cleanup(func() { _ = st.Close() })
	q := newOutQueue(storeOutbox{st})
	const p = "peer"
	var added []outMsg
	for i := range 4 {
		m, err := q.add(context.Background(), nil, p, testMsg(i), capAt(maxQueuedPerPeer), offline)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, m)
	}
	q.written(p, added[1].seq)
	ms, first, missing, err := q.next(p, 0)
	if err != nil || !missing || first != added[0].seq || len(ms) != 4 {
		t.Fatalf("next after written: %d msgs, first missing %d (%v), %v", len(ms), first, missing, err)
	}
	if ms[0].text != "" || ms[1].text != "" || ms[2].text != "m2" || ms[3].text != "m3" {
		t.Errorf("texts after written: %q %q %q %q", ms[0].text, ms[1].text, ms[2].text, ms[3].text)
	}
	if _, _, missing, _ := q.next(p, added[2].seq); missing {
		t.Error("unwritten messages reported missing")
	}

	restarted := newOutQueue(storeOutbox{st})
	ms, first, missing, err = restarted.next(p, 0)
	if err != nil || !missing || first != added[0].seq || fmt.Sprint(seqs(ms)) != fmt.Sprint(seqs(added)) {
		t.Fatalf("reloaded: %v, first missing %d (%v), %v", seqs(ms), first, missing, err)
	}
	if n, _ := restarted.count(p); n != 4 {
		t.Errorf("reloaded count = %d, want 4", n)
	}
}

// TestOutQueueConcurrentAdds: concurrent adds for one peer enter the
// mirror in seq order and never pass the limit.
func TestOutQueueConcurrentAdds(t *testing.T) {
	t.Parallel()
	st := store.OpenMemory([32]byte{3})
	t.Cleanup(func() { _ = st.Close() })
	q := newOutQueue(storeOutbox{st})
	const p, workers, each, limit = "peer", 4, 10, 30
	var wg sync.WaitGroup
	var mu sync.Mutex
	full := 0
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				_, err := q.add(context.Background(), nil, p, testMsg(w*each+i), capAt(limit), offline)
				if errors.Is(err, ErrQueueFull) {
					mu.Lock()
					full++
					mu.Unlock()
				} else if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	ms, _, _, err := q.next(p, 0)
	if err != nil || len(ms) != limit || full != workers*each-limit {
		t.Fatalf("%d mirrored, %d refused, %v; want %d and %d", len(ms), full, err, limit, workers*each-limit)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].seq <= ms[i-1].seq {
			t.Fatalf("mirror out of order at %d: %v", i, seqs(ms))
		}
	}
}

// count returns how many messages wait for peerID.
func (q *outQueue) count(peerID string) (int, error) {
	pq, err := q.queue(peerID)
	if err != nil {
		return 0, err
	}
	pq.mu.Lock()
	defer pq.mu.Unlock()
	return len(pq.msgs), nil
}
