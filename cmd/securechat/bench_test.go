package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	// The baseline only: the command itself never touches libp2p streams.
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p"
)

// BenchmarkCompare measures the headless API against a bare libp2p echo
// loop in one run (the p2p package's BenchmarkCompare has the rest):
//
//	go test -run '^$' -bench Compare -benchtime 1x ./p2p/ ./cmd/securechat/
//
// The headless side is a script's view: send commands pushed through stdin
// back to back, the rate counted by "delivered" events on stdout. The bare
// side is a ping-pong loop of the same 64-byte messages on one stream.
func BenchmarkCompare(b *testing.B) {
	const msgs, size = 2000, 64
	for range b.N {
		bare := bareEchoRate(b, msgs, size)
		ours := headlessRate(b, msgs, size)
		load, _ := os.ReadFile("/proc/loadavg")
		ratio := ours / bare
		met := "no"
		if ratio >= 0.5 {
			met = "yes"
		}
		fmt.Printf("\ncmd/securechat: headless API vs bare go-libp2p echo loop, %s, GOMAXPROCS %d, load %s\n",
			runtime.Version(), runtime.GOMAXPROCS(0), strings.Join(strings.Fields(string(load))[:3], " "))
		fmt.Printf("| %-34s | %-16s | %-16s | %-8s | %-12s | %-4s |\n", "measure", "securechat", "bare libp2p", "ratio", "goal", "met")
		fmt.Printf("| %-34s | %-16s | %-16s | %-8.2f | %-12s | %-4s |\n",
			fmt.Sprintf("headless send rate, %d B", size), fmt.Sprintf("%.0f msg/s", ours), fmt.Sprintf("%.0f msg/s", bare), ratio, ">= 0.50", met)
	}
}

// bareEchoRate runs msgs round trips of size bytes on a bare libp2p stream.
func bareEchoRate(b *testing.B, msgs, size int) float64 {
	const proto = "/securechat-bench/echo/1.0.0"
	newHost := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
		if err != nil {
			b.Fatal(err)
		}
		return h
	}
	x, y := newHost(), newHost()
	defer x.Close()
	defer y.Close()
	y.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		buf := make([]byte, size)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return
			}
			if _, err := s.Write(buf); err != nil {
				return
			}
		}
	})
	ctx := context.Background()
	if err := x.Connect(ctx, peer.AddrInfo{ID: y.ID(), Addrs: y.Addrs()}); err != nil {
		b.Fatal(err)
	}
	s, err := x.NewStream(ctx, y.ID(), proto)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	buf := make([]byte, size)
	start := time.Now()
	for range msgs {
		if _, err := s.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf); err != nil {
			b.Fatal(err)
		}
	}
	return float64(msgs) / time.Since(start).Seconds()
}

// eventWaiter reads the headless stdout and signals each event of interest.
type eventWaiter struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	up        chan struct{}
	delivered chan struct{}
}

func (w *eventWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadBytes('\n')
		if err != nil {
			// An unfinished line: keep it for the next write.
			rest := append([]byte(nil), line...)
			w.buf.Reset()
			w.buf.Write(rest)
			return len(p), nil
		}
		var ev struct{ Event string }
		if json.Unmarshal(line, &ev) != nil {
			continue
		}
		switch ev.Event {
		case "session_up":
			w.up <- struct{}{}
		case "delivered":
			w.delivered <- struct{}{}
		}
	}
}

// headlessRate starts two nodes, runs the headless API on one, connects
// through it and pushes msgs send commands; it returns deliveries a second.
func headlessRate(b *testing.B, msgs, size int) float64 {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loopback := []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")}
	newNode := func(name string) *p2p.Node {
		n, err := p2p.New(ctx, p2p.Config{Ephemeral: true, ListenAddrs: loopback, Name: name})
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	a, peerB := newNode("alice"), newNode("bob")
	defer peerB.Close()
	go func() {
		for range peerB.Events() {
		}
	}()
	stdin, script := io.Pipe()
	out := &eventWaiter{up: make(chan struct{}, 4), delivered: make(chan struct{}, msgs)}
	done := make(chan error, 1)
	go func() {
		done <- runHeadless(ctx, a, &config{name: "alice"}, stdin, out, slog.New(slog.DiscardHandler))
	}()
	defer func() {
		_ = script.Close()
		<-done
	}()
	wait := func(ch <-chan struct{}, what string) {
		select {
		case <-ch:
		case <-time.After(time.Minute):
			b.Fatalf("timed out waiting for %s", what)
		}
	}
	fmt.Fprintf(script, "{\"cmd\":\"connect\",\"addr\":%q}\n", peerB.Addrs()[0])
	wait(out.up, "session_up")
	text := strings.Repeat("m", size)
	start := time.Now()
	go func() {
		line := fmt.Sprintf("{\"cmd\":\"send\",\"to\":%q,\"text\":%q}\n", peerB.PeerID(), text)
		for range msgs {
			if _, err := io.WriteString(script, line); err != nil {
				return
			}
		}
	}()
	for range msgs {
		wait(out.delivered, "delivered")
	}
	return float64(msgs) / time.Since(start).Seconds()
}
