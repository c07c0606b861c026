package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	// The baseline only: the command itself never touches libp2p streams.
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	yamux "github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	noise "github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	tcp "github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p"
)

// compareRounds is how many alternating rounds BenchmarkCompare runs; the
// median round counts, as in the p2p package's BenchmarkCompare.
const compareRounds = 5

// BenchmarkCompare measures the headless API against a bare libp2p echo
// loop in one run (the p2p package's BenchmarkCompare has the rest):
//
//	go test -run '^$' -bench Compare -benchtime 1x ./p2p/ ./cmd/securechat/
//
// The headless side is a script's view: send commands pushed back to back
// into stdin, the rate counted by "delivered" events on stdout; stdin and
// stdout are OS pipes, as a script's are. The bare side is a ping-pong loop
// of the same 64-byte messages on one stream of a go-libp2p host built with
// the node's transport stack (TCP, Noise, yamux). The two are measured in
// alternating rounds, so load from anything else on this shared machine
// hits both alike, and the median round of each counts.
func BenchmarkCompare(b *testing.B) {
	const msgs, size = 2000, 64
	for range b.N {
		bare := newBareEcho(b, size)
		hl := newHeadlessBench(b, msgs)
		var ours, base []float64
		var oursCPU, baseCPU []time.Duration
		for r := range compareRounds {
			cpu := processCPU()
			base = append(base, bare.rate(b, msgs))
			baseCPU = append(baseCPU, (processCPU()-cpu)/msgs)
			cpu = processCPU()
			ours = append(ours, hl.rate(b, msgs, size))
			oursCPU = append(oursCPU, (processCPU()-cpu)/msgs)
			fmt.Printf("round %d: headless %.0f msg/s (%.1f us CPU/msg), bare %.0f msg/s (%.1f us CPU/msg), ratio %.2f\n",
				r+1, ours[r], usec(oursCPU[r]), base[r], usec(baseCPU[r]), ours[r]/base[r])
		}
		hl.close()
		bare.close()
		o, r := medianRate(ours), medianRate(base)
		ratio := o / r
		met := "no"
		if ratio >= 0.5 {
			met = "yes"
		}
		load, _ := os.ReadFile("/proc/loadavg")
		fmt.Printf("\ncmd/securechat: headless API vs bare go-libp2p echo loop, %s, GOMAXPROCS %d, load %s, median of %d rounds\n",
			runtime.Version(), runtime.GOMAXPROCS(0), strings.Join(strings.Fields(string(load))[:3], " "), compareRounds)
		fmt.Printf("| %-34s | %-16s | %-16s | %-8s | %-12s | %-4s |\n", "measure", "securechat", "bare libp2p", "ratio", "goal", "met")
		fmt.Printf("| %-34s | %-16s | %-16s | %-8.2f | %-12s | %-4s |\n",
			fmt.Sprintf("headless send rate, %d B", size), fmt.Sprintf("%.0f msg/s", o), fmt.Sprintf("%.0f msg/s", r), ratio, ">= 0.50", met)
		// CPU time per message (both nodes, the script and the headless
		// API are in this process) depends far less on the machine's
		// other load than the rates do.
		oc, rc := medianDuration(oursCPU), medianDuration(baseCPU)
		fmt.Printf("| %-34s | %-16s | %-16s | %-8.2f | %-12s | %-4s |\n",
			"  CPU time per message (context)", fmt.Sprintf("%.1f us", usec(oc)), fmt.Sprintf("%.1f us", usec(rc)), float64(oc)/float64(rc), "", "")
	}
}

func usec(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func medianDuration(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianRate(r []float64) float64 {
	s := slices.Clone(r)
	slices.Sort(s)
	return s[len(s)/2]
}

const benchEchoProto = "/securechat-bench/echo/1.0.0"

// newBenchHost is a go-libp2p host with the transport stack a node builds
// for itself (p2p/host.go newHost): TCP without port reuse, QUIC, Noise
// only, yamux; no relay, no metrics. libp2p.New's defaults would secure
// TCP with TLS instead, which is not what the node's traffic pays.
func newBenchHost(tb testing.TB) host.Host {
	tb.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport, tcp.DisableReuseport()),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// bareEcho is a ping-pong loop on one bare libp2p stream.
type bareEcho struct {
	x, y host.Host
	s    network.Stream
	buf  []byte
}

func newBareEcho(tb testing.TB, size int) *bareEcho {
	tb.Helper()
	e := &bareEcho{x: newBenchHost(tb), y: newBenchHost(tb), buf: make([]byte, size)}
	e.y.SetStreamHandler(benchEchoProto, func(s network.Stream) {
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
	if err := e.x.Connect(ctx, peer.AddrInfo{ID: e.y.ID(), Addrs: e.y.Addrs()}); err != nil {
		tb.Fatal(err)
	}
	s, err := e.x.NewStream(ctx, e.y.ID(), benchEchoProto)
	if err != nil {
		tb.Fatal(err)
	}
	e.s = s
	return e
}

// rate runs msgs round trips and returns them per second.
func (e *bareEcho) rate(tb testing.TB, msgs int) float64 {
	start := time.Now()
	for range msgs {
		if _, err := e.s.Write(e.buf); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(e.s, e.buf); err != nil {
			tb.Fatal(err)
		}
	}
	return float64(msgs) / time.Since(start).Seconds()
}

func (e *bareEcho) close() {
	_ = e.s.Close()
	_ = e.x.Close()
	_ = e.y.Close()
}

// headlessBench is runHeadless on one of two connected nodes, driven the
// way a script drives it: through OS pipes.
type headlessBench struct {
	cancel    context.CancelFunc
	bob       *p2p.Node
	script    *os.File // the script's end of stdin
	done      chan error
	up        chan struct{}
	delivered chan struct{}
	errs      chan string
}

func newHeadlessBench(tb testing.TB, msgs int) *headlessBench {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	loopback := []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")}
	newNode := func(name string) *p2p.Node {
		n, err := p2p.New(ctx, p2p.Config{Ephemeral: true, ListenAddrs: loopback, Name: name})
		if err != nil {
			tb.Fatal(err)
		}
		return n
	}
	alice, bob := newNode("alice"), newNode("bob")
	go func() {
		for range bob.Events() {
		}
	}()
	stdin, script, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	events, stdout, err := os.Pipe()
	if err != nil {
		tb.Fatal(err)
	}
	hb := &headlessBench{cancel: cancel, bob: bob, script: script, done: make(chan error, 1),
		up: make(chan struct{}, 4), delivered: make(chan struct{}, msgs), errs: make(chan string, 1)}
	go func() {
		err := runHeadless(ctx, alice, &config{name: "alice"}, stdin, stdout, slog.New(slog.DiscardHandler))
		stdout.Close()
		stdin.Close()
		hb.done <- err
	}()
	go hb.read(events)
	fmt.Fprintf(script, "{\"cmd\":\"connect\",\"addr\":%q}\n", bob.Addrs()[0])
	hb.wait(tb, hb.up, "session_up")
	return hb
}

// read is the script's reader of stdout. It only looks at the event name,
// which the headless API writes first, so that the script's own parsing
// takes as little as possible of the CPU the two sides share.
func (hb *headlessBench) read(stdout *os.File) {
	defer stdout.Close()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		switch line := sc.Bytes(); {
		case bytes.HasPrefix(line, []byte(`{"event":"delivered"`)):
			hb.delivered <- struct{}{}
		case bytes.HasPrefix(line, []byte(`{"event":"session_up"`)):
			hb.up <- struct{}{}
		case bytes.HasPrefix(line, []byte(`{"event":"error"`)):
			select {
			case hb.errs <- string(line):
			default:
			}
		}
	}
}

func (hb *headlessBench) wait(tb testing.TB, ch <-chan struct{}, what string) {
	select {
	case <-ch:
	case e := <-hb.errs:
		tb.Fatalf("waiting for %s: %s", what, e)
	case <-time.After(time.Minute):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// benchWindow is how many messages the benchmark's script keeps
// unconfirmed. The node would pace a script that keeps more (it stops
// reading stdin while its send window of 1000 is full; BenchmarkBackpressure
// measures that); the window keeps this rate comparable with earlier runs.
const benchWindow = 500

// rate pushes msgs send commands back to back, at most benchWindow of them
// undelivered at a time, and returns deliveries a second.
func (hb *headlessBench) rate(tb testing.TB, msgs, size int) float64 {
	line := fmt.Sprintf("{\"cmd\":\"send\",\"to\":%q,\"text\":%q}\n", hb.bob.PeerID(), strings.Repeat("m", size))
	window := make(chan struct{}, benchWindow)
	stop := make(chan struct{})
	defer close(stop)
	start := time.Now()
	go func() {
		for range msgs {
			select {
			case window <- struct{}{}:
			case <-stop:
				return
			}
			if _, err := io.WriteString(hb.script, line); err != nil {
				return
			}
		}
	}()
	for range msgs {
		hb.wait(tb, hb.delivered, "delivered")
		<-window
	}
	return float64(msgs) / time.Since(start).Seconds()
}

func (hb *headlessBench) close() {
	_ = hb.script.Close()
	<-hb.done
	hb.cancel()
	_ = hb.bob.Close()
}
