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
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/store"
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
			_, err := n.Connect(cctx, mustAddr(c.addr))
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
	sessions int // sessions up at the hub
	msgs     int64
	elapsed  time.Duration
	// errs counts every failure: a client that could not connect, a
	// send refused, a receipt not back in time, a message the hub never
	// raised.
	errs int64
	// firstErr describes the first failure, for the log.
	firstErr string
	// commits counts the hub's store commits (fsyncs) while sending; 0
	// with the memory store.
	commits uint64
}

func (r loadResult) rate() float64 { return float64(r.msgs) / r.elapsed.Seconds() }

// loadErrors counts failures and keeps the first.
type loadErrors struct {
	n     atomic.Int64
	first atomic.Value
}

func (e *loadErrors) add(format string, args ...any) {
	e.n.Add(1)
	e.first.CompareAndSwap(nil, fmt.Sprintf(format, args...))
}

func (e *loadErrors) firstString() string {
	if s, ok := e.first.Load().(string); ok {
		return s
	}
	return ""
}

// loadPhase bounds each phase of runLoad (connecting, sending) as a
// whole: a stuck phase ends with its failures counted, it never hangs.
const loadPhase = 3 * time.Minute

// loadDialers is how many clients dial the hub at once.
const loadDialers = 4

// loadHubSessions is the hub's [Config.MaxSessions] for k clients: the
// goal's number plus a tenth, so that the node is sized for the load
// rather than exactly at its limit.
func loadHubSessions(k int) int { return k + k/10 }

// runLoad connects k client nodes to one hub node sized for them (with a
// bbolt store if disk is set, else the memory store) and has
// every client send perClient messages to the hub, all at once, each
// client keeping at most window messages unacknowledged. It counts
// messages the hub raised and receipts the clients got. Every wait is
// bounded (benchWait for one event, loadPhase for a phase); failures are
// counted and the first is kept, and the run never hangs on them.
func runLoad(tb testing.TB, k, perClient, window int, disk bool) loadResult {
	tb.Helper()
	cfg := Config{Ephemeral: true, ListenAddrs: bareTCP, Name: "hub", MaxSessions: loadHubSessions(k)}
	if disk {
		cfg.Ephemeral, cfg.Home, cfg.Passphrase = false, tb.TempDir(), []byte("bench passphrase")
	}
	hn, err := newNode(context.Background(), cfg, testSettings(tb, "hub"))
	if err != nil {
		tb.Fatalf("New hub: %v", err)
	}
	hub := wrapBench(hn)
	clients := make([]*benchNode, k)
	defer func() { closeAll(tb, append(clients, hub)...) }()
	var errs loadErrors

	// Connect a few at a time, paced below the node's handshake rate limit
	// (limits.go), which is there to stop exactly this from a stranger.
	// Clients are started before the pacing, so starting one does not
	// eat into a dial's slot.
	for i := range clients {
		clients[i] = newBenchNode(tb, fmt.Sprintf("c%d", i))
	}
	phase, cancel := context.WithTimeout(context.Background(), loadPhase)
	defer cancel()
	var wg sync.WaitGroup
	connected := make([]bool, k)
	sem := make(chan struct{}, loadDialers)
	pace := time.NewTicker(time.Duration(1.25 / handshakeRate * float64(time.Second)))
	defer pace.Stop()
	dialStart := time.Now()
dial:
	for i, c := range clients {
		select {
		case <-pace.C:
		case <-phase.Done():
			errs.add("connect phase over after %d of %d dials", i, k)
			break dial
		}
		select {
		case sem <- struct{}{}:
		case <-phase.Done():
			errs.add("connect phase over after %d of %d dials", i, k)
			break dial
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(phase, benchWait)
			defer cancel()
			t0 := time.Now()
			if _, err := c.Connect(ctx, hub.tcpAddr()); err != nil {
				errs.add("connect client %d after %v: %v", i, time.Since(t0).Round(time.Millisecond), err)
				return
			}
			// The hub knows its clients: as strangers, past maxStrangers
			// (stranger.go) the oldest would be dropped, session and all.
			if err := hub.promote(c.host.ID()); err != nil {
				errs.add("hub contact for client %d: %v", i, err)
				return
			}
			connected[i] = true
		}()
	}
	wg.Wait() // each dial is bounded by its context
	up := 0
	for _, ok := range connected {
		if ok {
			up++
		}
	}
	tb.Logf("%d of %d clients connected in %v", up, k, time.Since(dialStart).Round(time.Millisecond))
	if up == 0 {
		tb.Fatalf("no client could connect; first error: %v", errs.firstString())
	}
	hubUp := 0
	for ; hubUp < up; hubUp++ {
		if _, err := waitOn(hub.up); err != nil {
			errs.add("hub saw %d of %d sessions up: %v", hubUp, up, err)
			break
		}
	}

	// The hub's events are counted as they come; the count is read once
	// the senders are done and the hub had a moment to raise the rest.
	var hubGot atomic.Int64
	total := int64(up * perClient)
	sendPhase, cancelSend := context.WithTimeout(context.Background(), loadPhase)
	defer cancelSend()
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		for hubGot.Load() < total {
			select {
			case <-hub.received:
				hubGot.Add(1)
			case <-sendPhase.Done():
				return
			}
		}
	}()
	text := strings.Repeat("m", 64)
	commits0, _ := store.Commits(hub.contacts.Store)
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
					if _, err := c.Send(sendPhase, hub.PeerID(), text); err != nil {
						errs.add("client %d send %d: %v", i, sent, err)
						return
					}
					sent++
					inFlight++
					continue
				}
				select {
				case <-c.delivered:
					inFlight--
				case <-time.After(benchWait):
					errs.add("client %d: %d receipts not back after %v", i, inFlight, benchWait)
					return
				case <-sendPhase.Done():
					errs.add("client %d: send phase over with %d receipts missing", i, inFlight)
					return
				}
			}
		}()
	}
	wg.Wait() // each sender is bounded by sendPhase
	// A receipt comes after the hub raised the message, but the event
	// may still be on its way to the counter.
	select {
	case <-hubDone:
	case <-time.After(5 * time.Second):
	}
	cancelSend()
	<-hubDone
	elapsed := time.Since(start)
	commits, _ := store.Commits(hub.contacts.Store)
	got := hubGot.Load()
	if got < total {
		errs.add("hub raised %d of %d messages", got, total)
		errs.n.Add(total - got - 1) // one error per message lost
	}
	return loadResult{sessions: hubUp, msgs: got, elapsed: elapsed, errs: errs.n.Load(), firstErr: errs.firstString(),
		commits: commits - commits0}
}

// closeAll closes the nodes at once (nil ones are skipped), and reports
// those that did not close within benchWait instead of waiting for them.
func closeAll(tb testing.TB, nodes ...*benchNode) {
	tb.Helper()
	var open atomic.Int64
	var wg sync.WaitGroup
	for _, n := range nodes {
		if n == nil {
			continue
		}
		open.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			n.close()
			open.Add(-1)
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(benchWait):
		// The goroutines say where Close is stuck.
		where := "not written"
		if f, err := os.CreateTemp("", "securechat-close-*.txt"); err == nil {
			_ = pprof.Lookup("goroutine").WriteTo(f, 1)
			_ = f.Close()
			where = f.Name()
		}
		tb.Errorf("%d nodes did not close within %v; goroutines: %s", open.Load(), benchWait, where)
	}
}

// BenchmarkManySessions runs 500 sessions on one node (sized for 550),
// every client sending 40 64-byte messages with up to 8 unacknowledged,
// and reports the sessions the hub had up, the aggregate rate (messages
// raised by the hub and acknowledged back) and the errors, each of which
// is also a failure of the benchmark.
//
// The hub keeps its messages in the memory store (ManySessions/memory) or
// in a bbolt file (ManySessions/disk), where msg/fsync shows how many
// messages share a commit.
func BenchmarkManySessions(b *testing.B) {
	for _, disk := range []bool{false, true} {
		name := "memory"
		if disk {
			name = "disk"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				r := runLoad(b, loadSessions, 40, 8, disk)
				b.ReportMetric(float64(r.sessions), "sessions")
				b.ReportMetric(r.rate(), "msg/s")
				b.ReportMetric(float64(r.errs), "errors")
				if disk {
					b.ReportMetric(float64(r.msgs)/float64(max(r.commits, 1)), "msg/fsync")
				}
				if r.errs > 0 {
					b.Errorf("%d errors; first: %s", r.errs, r.firstErr)
				}
			}
		})
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
