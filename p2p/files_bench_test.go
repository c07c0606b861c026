package p2p

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"
)

// BenchmarkFileTransfer sends one file (256 MiB, or FILES_BENCH_MIB) over
// loopback, TCP and QUIC, and compares it with a bare go-libp2p stream
// copying the same file to a file on the other side (the least a file copy
// over libp2p does: read, write to the stream, read, write to disk), in
// alternating rounds; it prints the ratio of the medians and the heap
// growth during the transfer (both nodes are in this process), and the
// ratio of the CPU time both sides used (process CPU time over the timed
// part: steadier than the wall clock on a shared machine).
//
//	go test -run '^$' -bench FileTransfer -benchtime 1x ./p2p/
func BenchmarkFileTransfer(b *testing.B) {
	mib := 256
	if s := os.Getenv("FILES_BENCH_MIB"); s != "" {
		mib, _ = strconv.Atoi(s)
	}
	dir := b.TempDir()
	src := filepath.Join(dir, "src.bin")
	f, err := os.Create(src)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for range mib {
		_, _ = rand.Read(buf)
		_, _ = f.Write(buf)
	}
	_ = f.Close()
	size := int64(mib) << 20
	for _, tr := range []struct{ name, listen string }{
		{"tcp", "/ip4/127.0.0.1/tcp/0"},
		{"quic", "/ip4/127.0.0.1/udp/0/quic-v1"},
	} {
		b.Run(tr.name, func(b *testing.B) {
			listen := []multiaddr.Multiaddr{multiaddr.StringCast(tr.listen)}
			var node, bare, nodeCPU, bareCPU []time.Duration
			var growth []uint64
			for range max(b.N, 3) {
				d, c, g := benchNodeFile(b, listen, src, size)
				node, nodeCPU, growth = append(node, d), append(nodeCPU, c), append(growth, g)
				d, c = benchBareFile(b, listen, src, size)
				bare, bareCPU = append(bare, d), append(bareCPU, c)
			}
			mn, mb := median(node), median(bare)
			cpuRatio := median(bareCPU).Seconds() / median(nodeCPU).Seconds()
			var maxGrowth uint64
			for _, g := range growth {
				maxGrowth = max(maxGrowth, g)
			}
			b.ReportMetric(float64(size)/mn.Seconds()/1e6, "MB/s")
			b.ReportMetric(float64(size)/mb.Seconds()/1e6, "bare-MB/s")
			b.ReportMetric(mb.Seconds()/mn.Seconds(), "ratio")
			b.ReportMetric(cpuRatio, "cpu-ratio")
			b.ReportMetric(float64(maxGrowth)/(1<<20), "heap-growth-MiB")
			fmt.Fprintf(os.Stderr, "files %s %d MiB: securechat %v (%.0f MB/s, CPU %v), bare %v (%.0f MB/s, CPU %v), ratio %.2f, CPU ratio %.2f, heap growth %.1f MiB\n",
				tr.name, mib, mn, float64(size)/mn.Seconds()/1e6, median(nodeCPU).Round(time.Millisecond), mb, float64(size)/mb.Seconds()/1e6,
				median(bareCPU).Round(time.Millisecond), mb.Seconds()/mn.Seconds(), cpuRatio, float64(maxGrowth)/(1<<20))
		})
	}
}

// heapWatch samples the heap every few milliseconds and keeps the highest.
func heapWatch() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(heapSample):
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-ended
		return peak.Load()
	}
}

// benchNodeFile sends src from one node to another and returns the time
// from the accept to the sender's FileDone, the CPU time the process used
// meanwhile, and the heap growth.
func benchNodeFile(b *testing.B, listen []multiaddr.Multiaddr, src string, size int64) (time.Duration, time.Duration, uint64) {
	b.Helper()
	mk := func(name string) *testNode {
		n, err := newNode(context.Background(), Config{Ephemeral: true, ListenAddrs: listen, Name: name, Downloads: b.TempDir()}, testSettings(b, name))
		if err != nil {
			b.Fatal(err)
		}
		return &testNode{Node: n, ev: collect(n)}
	}
	a, c := mk("alice"), mk("bob")
	defer func() { _ = a.Close(); _ = c.Close(); <-a.ev.done; <-c.ev.done }()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := a.Connect(ctx, multiaddr.StringCast(c.Addrs()[0])); err != nil {
		b.Fatal(err)
	}
	t := &testing.T{}
	_, id, err := a.SendFile(ctx, c.PeerID(), src)
	if err != nil {
		b.Fatal(err)
	}
	waitBench(b, c.ev, isFileOffered(id))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop := heapWatch()
	start, cpu := time.Now(), cpuNow()
	if err := c.AcceptFile(id, ""); err != nil {
		b.Fatal(err)
	}
	waitBench(b, a.ev, isFileDone(id))
	d, cpu := time.Since(start), cpuNow()-cpu
	peak := stop()
	done := waitBench(b, c.ev, isFileDone(id)).(FileDone)
	_ = os.Remove(done.Path)
	_ = t
	if peak < base {
		return d, cpu, 0
	}
	return d, cpu, peak - base
}

func waitBench(b *testing.B, c *collector, pred func(Event) bool) Event {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		for _, e := range c.snapshot() {
			if pred(e) {
				return e
			}
			if f, ok := e.(FileFailed); ok {
				b.Fatalf("transfer failed: %+v", f)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal("timed out")
	return nil
}

const benchFileProtocol = protocol.ID("/securechat-bench/file/1.0.0")

// benchBareFile copies src over a bare stream into a file on the other
// host and returns the time until the receiver's one-byte answer and the
// CPU time the process used meanwhile.
func benchBareFile(b *testing.B, listen []multiaddr.Multiaddr, src string, size int64) (time.Duration, time.Duration) {
	b.Helper()
	from, to := newBareHost(b, listen), newBareHost(b, listen)
	defer from.close()
	defer to.close()
	dst := filepath.Join(b.TempDir(), "dst.bin")
	to.SetStreamHandler(benchFileProtocol, func(s network.Stream) {
		defer s.Close()
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			_ = s.Reset()
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, s); err != nil {
			_ = s.Reset()
			return
		}
		_ = f.Sync()
		_, _ = s.Write([]byte{1})
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := from.Connect(ctx, to.info()); err != nil {
		b.Fatal(err)
	}
	start, cpu := time.Now(), cpuNow()
	s, err := from.NewStream(ctx, to.ID(), benchFileProtocol)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(s, f); err != nil {
		b.Fatal(err)
	}
	_ = s.CloseWrite()
	var ack [1]byte
	if _, err := io.ReadFull(s, ack[:]); err != nil {
		b.Fatal(err)
	}
	d, cpu := time.Since(start), cpuNow()-cpu
	_ = s.Close()
	_ = os.Remove(dst)
	return d, cpu
}

// heapSample is how often heapWatch reads the heap (ReadMemStats stops
// the world, so not too often).
var heapSample = 200 * time.Millisecond
