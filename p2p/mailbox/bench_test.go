package mailbox

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	bolt "go.etcd.io/bbolt"

	"github.com/securechat/securechat/e2e"
)

// Benchmarks of 1,000 envelopes of the 2 KiB bucket, against a bare
// go-libp2p stream moving the same bytes in the same pattern (one stream
// per deposit with a one-byte answer; a fetch of up to 256 per stream).
// docs/PERFORMANCE.md, "Mailbox", has the figures.
//
//	go test -run '^$' -bench . -benchtime 3x ./p2p/mailbox

const (
	benchEnvelopes = 1000
	benchSize      = 2 << 10
)

// benchWorld is a mailbox with room for every benchmark iteration.
func benchWorld(b *testing.B) *world {
	b.Helper()
	w := &world{mbox: newHost(b), owner: newHost(b), sender: newHost(b)}
	know(w.owner, w.mbox)
	know(w.sender, w.mbox)
	w.cfg = ServerConfig{
		Dir: b.TempDir(), Owners: append([]peer.ID(nil), w.owner.ID()),
		PerCapabilityEnvelopes: 1 << 30, TotalEnvelopes: 1 << 30,
		PerCapabilityBytes: 1 << 40, TotalBytes: 1 << 40, RequestsPerSecond: 1 << 20,
	}
	srv, err := NewServer(w.mbox, w.cfg)
	if err != nil {
		b.Fatal(err)
	}
	w.srv = srv
	b.Cleanup(func() { _ = srv.Close() })
	w.oc, w.sc = NewClient(w.owner), NewClient(w.sender)
	return w
}

// deposits deposits n envelopes from par streams at once.
func deposits(b *testing.B, w *world, cp Capability, envs [][]byte, par int) {
	b.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	next := make(chan []byte)
	errs := make(chan error, par)
	for g := 0; g < par; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for env := range next {
				if err := w.sc.Deposit(ctx, w.mbox.ID(), cp, env); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, env := range envs {
		next <- env
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

func benchEnvelopesFor(b *testing.B) [][]byte {
	envs := make([][]byte, benchEnvelopes)
	for i := range envs {
		envs[i] = fakeEnvelope(b, benchSize)
	}
	return envs
}

func BenchmarkDeposit1000(b *testing.B) {
	for _, par := range []int{1, 4} {
		b.Run(map[int]string{1: "one-stream-at-a-time", 4: "4-at-once"}[par], func(b *testing.B) {
			w := benchWorld(b)
			cp := newCap(b)
			if err := w.oc.Grant(context.Background(), w.mbox.ID(), cp); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(benchEnvelopes * benchSize)
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				envs := benchEnvelopesFor(b)
				b.StartTimer()
				deposits(b, w, cp, envs, par)
				if i == 0 {
					b.StopTimer()
					reportStorage(b, w)
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(benchEnvelopes*b.N)/b.Elapsed().Seconds(), "env/s")
		})
	}
}

// reportStorage reports the store's bytes per envelope after the first
// 1,000: the file's size, and the bytes of the pages its buckets use.
func reportStorage(b *testing.B, w *world) {
	b.Helper()
	fi, err := os.Stat(filepath.Join(w.cfg.Dir, dbFile))
	if err != nil {
		b.Fatal(err)
	}
	var pages int
	err = w.srv.db.b.View(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			s := tx.Bucket(name).Stats()
			pages += s.BranchAlloc + s.LeafAlloc
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/benchEnvelopes, "file-B/env")
	b.ReportMetric(float64(pages)/benchEnvelopes, "pages-B/env")
}

func BenchmarkFetch1000(b *testing.B) {
	w := benchWorld(b)
	ctx := context.Background()
	cp := newCap(b)
	if err := w.oc.Grant(ctx, w.mbox.ID(), cp); err != nil {
		b.Fatal(err)
	}
	deposits(b, w, cp, benchEnvelopesFor(b), 4)
	b.SetBytes(benchEnvelopes * benchSize)
	for b.Loop() {
		// Fetch does not remove: fetch the 1,000 in pages of 256 by
		// deleting nothing and asking for the rest by count.
		n := 0
		for n < benchEnvelopes {
			got, err := w.oc.Fetch(ctx, w.mbox.ID(), min(MaxFetch, benchEnvelopes-n))
			if err != nil {
				b.Fatal(err)
			}
			n += len(got)
		}
	}
	b.ReportMetric(float64(benchEnvelopes*b.N)/b.Elapsed().Seconds(), "env/s")
}

// BenchmarkBareStream1000 moves the same bytes over bare go-libp2p streams
// on the same hosts' kind: a deposit's frame with a one-byte answer per
// stream, and 256 items of a fetch's size per stream.
func BenchmarkBareStream1000(b *testing.B) {
	const proto = "/securechat/bench-bare/1.0.0"
	srv, cli := newHost(b), newHost(b)
	know(cli, srv)
	item := make([]byte, itemHeaderSize+benchSize)
	srv.SetStreamHandler(proto, func(st network.Stream) {
		defer st.Close()
		br := bufio.NewReader(st)
		f, err := e2e.ReadFrame(br, maxRequestSize)
		if err != nil {
			_ = st.Reset()
			return
		}
		if f[0] == opFetch {
			var buf []byte
			for i := 0; i < MaxFetch; i++ {
				buf = e2e.AppendFrame(buf, item)
			}
			_, _ = st.Write(buf)
			return
		}
		_ = e2e.WriteFrame(st, []byte{codeOK})
	})
	req := encodeRequest(request{op: opDeposit, envelope: make([]byte, benchSize)})
	call := func(h host.Host, body []byte, frames int) {
		st, err := h.NewStream(context.Background(), srv.ID(), proto)
		if err != nil {
			b.Error(err)
			return
		}
		if err := e2e.WriteFrame(st, body); err != nil {
			b.Error(err)
		}
		_ = st.CloseWrite()
		br := bufio.NewReader(st)
		for i := 0; i < frames; i++ {
			if _, err := e2e.ReadFrame(br, maxItemSize); err != nil {
				b.Error(err)
				break
			}
		}
		_ = st.Close()
	}
	for _, par := range []int{1, 4} {
		b.Run(map[int]string{1: "deposit-pattern-one-at-a-time", 4: "deposit-pattern-4-at-once"}[par], func(b *testing.B) {
			b.SetBytes(benchEnvelopes * benchSize)
			for b.Loop() {
				var wg sync.WaitGroup
				for g := 0; g < par; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := g; i < benchEnvelopes; i += par {
							call(cli, req, 1)
						}
					}()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(benchEnvelopes*b.N)/b.Elapsed().Seconds(), "env/s")
		})
	}
	b.Run("fetch-pattern", func(b *testing.B) {
		b.SetBytes(benchEnvelopes * benchSize)
		for b.Loop() {
			for n := 0; n < benchEnvelopes; n += MaxFetch {
				call(cli, []byte{opFetch, 1, 0}, MaxFetch)
			}
		}
		b.ReportMetric(float64(benchEnvelopes*b.N)/b.Elapsed().Seconds(), "env/s")
	})
}
