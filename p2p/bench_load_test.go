package p2p

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
)

// Memory and load benchmarks. Memory is measured in a child process (this
// test binary again, running TestBenchChild), so that the clients and the
// test framework do not count: the child runs one hub (a node, or a bare
// host for the baseline) and reports its RSS and live heap each time the
// parent asks.

// benchChildEnv selects the child's hub: "node" or "bare".
const benchChildEnv = "SECURECHAT_BENCH_CHILD"

// TestBenchChild is the child process of the memory benchmarks; it skips
// unless started by them.
func TestBenchChild(t *testing.T) {
	mode := os.Getenv(benchChildEnv)
	if mode == "" {
		t.Skip("helper process of the memory benchmarks")
	}
	var addr string
	switch mode {
	case "node":
		n := newBenchNode(t, "hub")
		defer n.close()
		addr = n.tcpAddr().String()
	case "bare":
		h := newBareHost(t, bareTCP)
		defer h.close()
		addr = fullAddrs(h.Host)[0]
	default:
		t.Fatalf("unknown child mode %q", mode)
	}
	fmt.Printf("addr %s\n", addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		rss, heap := memUsage()
		fmt.Printf("mem %d %d\n", rss, heap)
	}
}

// memUsage returns the process's resident set and live heap, in bytes,
// after a full collection.
func memUsage() (rss, heap uint64) {
	runtime.GC()
	debug.FreeOSMemory()
	time.Sleep(100 * time.Millisecond)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/statm")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseUint(f[1], 10, 64)
			rss = pages * uint64(os.Getpagesize())
		}
	}
	return rss, ms.HeapAlloc
}

// benchChild is a running child process.
type benchChild struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

func startBenchChild(tb testing.TB, mode string) *benchChild {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchChildEnv+"="+mode)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c := &benchChild{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	for c.out.Scan() {
		if a, ok := strings.CutPrefix(c.out.Text(), "addr "); ok {
			c.addr = a
			return c
		}
	}
	c.stop()
	tb.Fatalf("child %s gave no address", mode)
	return nil
}

// mem asks the child for its RSS and live heap.
func (c *benchChild) mem(tb testing.TB) (rss, heap float64) {
	tb.Helper()
	fmt.Fprintln(c.in, "mem")
	for c.out.Scan() {
		if f := strings.Fields(c.out.Text()); len(f) == 3 && f[0] == "mem" {
			r, _ := strconv.ParseFloat(f[1], 64)
			h, _ := strconv.ParseFloat(f[2], 64)
			return r, h
		}
	}
	tb.Fatal("child gave no memory figures")
	return 0, 0
}

func (c *benchChild) stop() {
	_ = c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// memResult is what one hub costs: idle, and per open session (or, for
// the bare host, per connection with one open stream).
type memResult struct {
	idleRSS, perRSS, perHeap float64
}

// measureHub starts a child hub of the given mode and opens k sessions (or
// bare streams) to it from this process.
func measureHub(tb testing.TB, mode string, k int) memResult {
	tb.Helper()
	c := startBenchChild(tb, mode)
	defer c.stop()
	idleRSS, _ := c.mem(tb)
	rss0, heap0 := c.mem(tb)
	var closers []func()
	defer func() {
		for _, f := range closers {
			f()
		}
	}()
	ctx := context.Background()
	for i := range k {
		switch mode {
		case "node":
			n := newBenchNode(tb, fmt.Sprintf("client%d", i))
			closers = append(closers, n.close)
			cctx, cancel := context.WithTimeout(ctx, benchWait)
			err := n.Connect(cctx, mustAddr(c.addr))
			cancel()
			if err != nil {
				tb.Fatalf("connect client %d: %v", i, err)
			}
		case "bare":
			h := newBareHost(tb, bareTCP)
			closers = append(closers, h.close)
			hub := mustAddrInfo(tb, c.addr)
			if err := h.Connect(ctx, hub); err != nil {
				tb.Fatal(err)
			}
			s, err := h.NewStream(ctx, hub.ID, benchEchoProtocol)
			if err != nil {
				tb.Fatal(err)
			}
			p := &barePingPong{s: s, buf: make([]byte, 1)}
			if _, err := s.Write([]byte{0, 0, 0, 1}); err != nil {
				tb.Fatal(err)
			}
			if err := p.roundTrip(); err != nil {
				tb.Fatal(err)
			}
		}
	}
	time.Sleep(500 * time.Millisecond) // the hub's side of the last session settles
	rss1, heap1 := c.mem(tb)
	return memResult{idleRSS: idleRSS, perRSS: (rss1 - rss0) / float64(k), perHeap: (heap1 - heap0) / float64(k)}
}

// BenchmarkMemory reports the idle RSS of a node and of a bare host, and
// what each open session costs the node (a bare connection with one open
// stream is the baseline).
func BenchmarkMemory(b *testing.B) {
	const k = 50
	for range b.N {
		node, bare := measureHub(b, "node", k), measureHub(b, "bare", k)
		b.ReportMetric(node.idleRSS/1024, "KiB-node-idle-rss")
		b.ReportMetric(bare.idleRSS/1024, "KiB-bare-idle-rss")
		b.ReportMetric(node.perRSS/1024, "KiB-rss/session")
		b.ReportMetric(node.perHeap/1024, "KiB-heap/session")
		b.ReportMetric(bare.perRSS/1024, "KiB-rss/bare-conn")
	}
}

// loadResult is the outcome of runLoad.
type loadResult struct {
	sessions int
	msgs     int64
	elapsed  time.Duration
	errs     int64
}

func (r loadResult) rate() float64 { return float64(r.msgs) / r.elapsed.Seconds() }

// runLoad connects k client nodes to one hub node and has every client
// send perClient messages to the hub, all at once, each client keeping at
// most window messages unacknowledged. It counts messages the hub raised
// and receipts the clients got.
func runLoad(tb testing.TB, k, perClient, window int) loadResult {
	tb.Helper()
	hub := newBenchNode(tb, "hub")
	defer hub.close()
	clients := make([]*benchNode, k)
	defer func() {
		var wg sync.WaitGroup
		for _, c := range clients {
			if c != nil {
				wg.Add(1)
				go func() { defer wg.Done(); c.close() }()
			}
		}
		wg.Wait()
	}()
	// Connect a few at a time, paced below the node's handshake rate limit
	// (limits.go), which is there to stop exactly this from a stranger.
	var wg sync.WaitGroup
	var errs atomic.Int64
	var firstErr atomic.Value
	connected := make([]bool, k)
	sem := make(chan struct{}, 4)
	pacing := 1.1 / handshakeRate
	pace := time.NewTicker(time.Duration(pacing * float64(time.Second)))
	defer pace.Stop()
	for i := range clients {
		clients[i] = newBenchNode(tb, fmt.Sprintf("c%d", i))
		<-pace.C
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, c *benchNode) {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), benchWait)
			defer cancel()
			if err := c.Connect(ctx, hub.tcpAddr()); err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			connected[i] = true
		}(i, clients[i])
	}
	wg.Wait()
	up := 0
	for _, ok := range connected {
		if ok {
			up++
		}
	}
	if up == 0 {
		tb.Fatalf("no client could connect; first error: %v", firstErr.Load())
	}
	if errs.Load() > 0 {
		tb.Logf("%d of %d clients could not connect; first error: %v", errs.Load(), k, firstErr.Load())
	}
	for range up {
		if _, err := waitOn(hub.up); err != nil {
			tb.Fatalf("hub sessions: %v", err)
		}
	}
	var hubGot atomic.Int64
	hubDone := make(chan struct{})
	total := int64(up * perClient)
	go func() {
		defer close(hubDone)
		for hubGot.Load() < total {
			if _, err := waitOn(hub.received); err != nil {
				return
			}
			hubGot.Add(1)
		}
	}()
	text := strings.Repeat("m", 64)
	start := time.Now()
	for i, c := range clients {
		if !connected[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			inFlight := 0
			for sent := 0; sent < perClient || inFlight > 0; {
				if sent < perClient && inFlight < window {
					if _, err := c.Send(context.Background(), hub.PeerID(), text); err != nil {
						errs.Add(1)
						return
					}
					sent++
					inFlight++
					continue
				}
				if _, err := waitOn(c.delivered); err != nil {
					errs.Add(1)
					return
				}
				inFlight--
			}
		}()
	}
	wg.Wait()
	<-hubDone
	return loadResult{sessions: up, msgs: hubGot.Load(), elapsed: time.Since(start), errs: errs.Load()}
}

// BenchmarkManySessions runs 500 sessions on one node, every client
// sending 64-byte messages with up to 8 unacknowledged, and reports the
// aggregate rate (messages raised by the hub and acknowledged back).
func BenchmarkManySessions(b *testing.B) {
	for range b.N {
		r := runLoad(b, loadSessions, 40, 8)
		if r.errs > 0 {
			b.Logf("%d errors", r.errs)
		}
		b.ReportMetric(float64(r.sessions), "sessions")
		b.ReportMetric(r.rate(), "msg/s")
	}
}

func mustAddr(s string) multiaddr.Multiaddr { return multiaddr.StringCast(s) }

func mustAddrInfo(tb testing.TB, s string) peer.AddrInfo {
	tb.Helper()
	info, err := peer.AddrInfoFromString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return *info
}

// loadSessions is the goal's number of concurrent sessions on one node.
const loadSessions = 500
