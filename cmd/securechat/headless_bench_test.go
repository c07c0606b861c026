package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/securechat/securechat/p2p"
)

// echoNode is a chatNode whose SendTo confirms delivery at once: with it a
// benchmark of runHeadless measures the headless layer alone (decoding,
// answering, encoding, the goroutines between stdin and stdout), none of
// the node's message path.
type echoNode struct {
	*fakeNode
	n atomic.Uint64
}

func (e *echoNode) SendTo(ctx context.Context, to, text string) (string, string, error) {
	id := fmt.Sprintf("%032x", e.n.Add(1))
	e.events <- p2p.Delivered{PeerID: to, ID: id}
	return to, id, nil
}

// lineCounter counts the lines written to it.
type lineCounter struct{ lines atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// BenchmarkHeadlessLayer pushes b.N send commands through runHeadless
// against [echoNode]: the cost per command of the headless layer itself,
// each answered by sent and delivered.
//
//	go test -run '^$' -bench HeadlessLayer -benchmem ./cmd/securechat/
func BenchmarkHeadlessLayer(b *testing.B) {
	n := &echoNode{fakeNode: newFakeNode()}
	n.events = make(chan p2p.Event, 1024)
	n.events <- p2p.Ready{PeerID: "12D3KooWSelf", Name: "me"}
	line := fmt.Sprintf("{\"cmd\":\"send\",\"to\":%q,\"text\":%q}\n", fakePeerA, strings.Repeat("m", 64))
	in := strings.NewReader(strings.Repeat(line, b.N))
	out := &lineCounter{}
	b.ReportAllocs()
	b.ResetTimer()
	if err := runHeadless(context.Background(), n, &config{name: "me"}, in, out, slog.New(slog.DiscardHandler)); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if got, want := out.lines.Load(), int64(1+2*b.N); got != want {
		b.Fatalf("%d events, want %d", got, want)
	}
}
