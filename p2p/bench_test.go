package p2p

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/multiformats/go-multiaddr"
)

// Benchmarks of the node through its public API, each paired with the bare
// go-libp2p baseline of bench_baseline_test.go. They run only with -bench;
// BenchmarkCompare (bench_compare_test.go) runs every pair in one go and
// prints the ratios with their goals.

// rttSizes are the message sizes of the round-trip benchmarks.
var rttSizes = []int{64, 1 << 10, 16 << 10}

// bulkSize is the message size of the bulk benchmarks: the largest text.
const bulkSize = MaxMessageText

// benchWait bounds every wait of the benchmarks.
const benchWait = 60 * time.Second

var errBenchTimeout = errors.New("benchmark wait timed out")

// benchNode is a node whose events are sorted into channels by one
// goroutine, as a UI would read them.
type benchNode struct {
	*Node
	up        chan string // SessionUp peer IDs
	received  chan int    // MessageReceived text lengths
	delivered chan string // Delivered message IDs
	done      chan struct{}
}

// newBenchNode starts an ephemeral node on 127.0.0.1 (TCP only).
func newBenchNode(tb testing.TB, name string) *benchNode {
	tb.Helper()
	n, err := newNode(context.Background(), Config{Ephemeral: true, ListenAddrs: bareTCP, Name: name}, testSettings(tb, name))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return wrapBench(n)
}

// wrapBench sorts n's events into the channels of a benchNode.
func wrapBench(n *Node) *benchNode {
	bn := &benchNode{
		Node:      n,
		up:        make(chan string, 1024),
		received:  make(chan int, 1024),
		delivered: make(chan string, 1024),
		done:      make(chan struct{}),
	}
	go func() {
		defer close(bn.done)
		for ev := range n.Events() {
			switch e := ev.(type) {
			case SessionUp:
				bn.up <- e.PeerID
			case MessageReceived:
				bn.received <- len(e.Text)
			case Delivered:
				bn.delivered <- e.ID
			}
		}
	}()
	return bn
}

func (bn *benchNode) close() {
	_ = bn.Node.Close()
	<-bn.done
}

func (bn *benchNode) tcpAddr() multiaddr.Multiaddr {
	for _, a := range bn.Addrs() {
		if strings.Contains(a, "/127.0.0.1/tcp/") {
			return multiaddr.StringCast(a)
		}
	}
	return nil
}

func waitOn[T any](ch <-chan T) (T, error) {
	select {
	case v := <-ch:
		return v, nil
	case <-time.After(benchWait):
		var zero T
		return zero, errBenchTimeout
	}
}

// connectNodes connects a to b and waits for SessionUp on both sides.
func connectNodes(a, b *benchNode) error {
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	if _, err := a.Connect(ctx, b.tcpAddr()); err != nil {
		return err
	}
	for _, n := range []*benchNode{a, b} {
		if _, err := waitOn(n.up); err != nil {
			return fmt.Errorf("session up: %w", err)
		}
	}
	return nil
}

// newNodePair starts two connected nodes that are each other's contacts
// (connectContacts), as two people who chat are.
func newNodePair(tb testing.TB) (a, b *benchNode) {
	tb.Helper()
	a, b = newBenchNode(tb, "alice"), newBenchNode(tb, "bob")
	if err := connectContacts(a, b); err != nil {
		a.close()
		b.close()
		tb.Fatalf("connect: %v", err)
	}
	return a, b
}

// nodeRoundTrip sends one message from a to b and waits until b raised
// it and a got the receipt back.
func nodeRoundTrip(a, b *benchNode, text string) error {
	if _, err := a.Send(context.Background(), b.PeerID(), text); err != nil {
		return err
	}
	if _, err := waitOn(b.received); err != nil {
		return err
	}
	_, err := waitOn(a.delivered)
	return err
}

// nodeBulk sends count messages of text back to back and returns the time
// until b raised the last one.
func nodeBulk(a, b *benchNode, text string, count int) (time.Duration, error) {
	start := time.Now()
	// Receipts and messages are drained while we send, as a UI would
	// read them: a full event channel would stall the receiver, its
	// receipts, and so the sender's outbox.
	delivered, received := drain(a.delivered, count), drain(b.received, count)
	for range count {
		// Send waits while the send window is full (backpressure);
		// ErrQueueFull comes only without a session, which a cut during
		// the run would mean: wait for the session back, as a script would.
		_, err := a.Send(context.Background(), b.PeerID(), text)
		for errors.Is(err, ErrQueueFull) {
			time.Sleep(100 * time.Microsecond)
			_, err = a.Send(context.Background(), b.PeerID(), text)
		}
		if err != nil {
			return 0, err
		}
	}
	if err := <-received; err != nil {
		return 0, err
	}
	d := time.Since(start)
	return d, <-delivered
}

// drain reads count values from ch in a goroutine and then reports nil,
// or the first wait that timed out.
func drain[T any](ch <-chan T, count int) <-chan error {
	done := make(chan error, 1)
	go func() {
		for range count {
			if _, err := waitOn(ch); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// nodeSetup measures a session setup between two fresh nodes: Connect
// until SessionUp on both sides. Starting the nodes is not timed.
func nodeSetup(tb testing.TB) (time.Duration, error) {
	a, b := newBenchNode(tb, "alice"), newBenchNode(tb, "bob")
	defer a.close()
	defer b.close()
	start := time.Now()
	if err := connectNodes(a, b); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// BenchmarkNodeRTT measures a message round trip through two nodes: Send,
// the peer's MessageReceived, the Delivered receipt back.
func BenchmarkNodeRTT(b *testing.B) {
	for _, size := range rttSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			x, y := newNodePair(b)
			defer x.close()
			defer y.close()
			text := strings.Repeat("a", size)
			b.ReportAllocs()
			for b.Loop() {
				if err := nodeRoundTrip(x, y, text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNodeBulk measures 64 KiB messages sent back to back.
func BenchmarkNodeBulk(b *testing.B) {
	x, y := newNodePair(b)
	defer x.close()
	defer y.close()
	text := strings.Repeat("a", bulkSize)
	b.SetBytes(bulkSize)
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := nodeBulk(x, y, text, b.N); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkNodeSetup measures Connect to SessionUp on both sides, for
// fresh nodes each time (their start is in ns/op, not in us/setup).
func BenchmarkNodeSetup(b *testing.B) {
	var total time.Duration
	for range b.N {
		d, err := nodeSetup(b)
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "us/setup")
}
