package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"

	"github.com/securechat/securechat/p2p/keystore"
)

// This file holds the bare go-libp2p baselines the benchmarks compare the
// node against: the very host a node runs (newHost: TCP, Noise, yamux, the
// same resource manager), with a plain stream protocol in place of the
// end-to-end layer. Every ratio the benchmarks report is node / bare,
// measured in the same process and run.

// benchEchoProtocol is the baseline's stream protocol. A stream starts with
// a u32 mode word: a size to ping-pong (echo every size bytes back), or
// bulkMode (read everything, answer one byte at the end).
const benchEchoProtocol = protocol.ID("/securechat-bench/echo/1.0.0")

const bulkMode = 0xffffffff

// bareTCP is the only listen address of the bare hosts: the benchmarks dial
// TCP, as the node's benchmarks do.
var bareTCP = []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/0")}

// bareHost is a go-libp2p host built exactly as a node builds its own,
// serving the echo protocol.
type bareHost struct {
	host.Host
	rm network.ResourceManager
}

func newBareHost(tb testing.TB, listen []multiaddr.Multiaddr) *bareHost {
	tb.Helper()
	raw, err := keystore.GenerateHostKey()
	if err != nil {
		tb.Fatal(err)
	}
	key, err := crypto.UnmarshalPrivateKey(raw)
	if err != nil {
		tb.Fatal(err)
	}
	cl := capacityLimits(0)
	rm, err := newResourceManager(cl)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := newHost(key, listen, rm, cl)
	if err != nil {
		tb.Fatal(err)
	}
	h.SetStreamHandler(benchEchoProtocol, serveEcho)
	return &bareHost{Host: h, rm: rm}
}

func (b *bareHost) close() {
	_ = b.Host.Close()
	_ = b.rm.Close()
}

func (b *bareHost) info() peer.AddrInfo {
	return peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}
}

// serveEcho is the baseline's handler: a plain loop with one reused
// buffer, the least a stream protocol can do.
func serveEcho(s network.Stream) {
	defer s.Close()
	var hdr [4]byte
	if _, err := io.ReadFull(s, hdr[:]); err != nil {
		_ = s.Reset()
		return
	}
	mode := binary.BigEndian.Uint32(hdr[:])
	if mode == bulkMode {
		if _, err := io.Copy(io.Discard, s); err != nil {
			_ = s.Reset()
			return
		}
		_, _ = s.Write([]byte{1})
		return
	}
	buf := make([]byte, mode)
	for {
		if _, err := io.ReadFull(s, buf); err != nil {
			return
		}
		if _, err := s.Write(buf); err != nil {
			_ = s.Reset()
			return
		}
	}
}

// bareStream connects from to to (if need be) and opens an echo stream in
// the given mode.
func bareStream(ctx context.Context, from, to *bareHost, mode uint32) (network.Stream, error) {
	if err := from.Connect(ctx, to.info()); err != nil {
		return nil, err
	}
	s, err := from.NewStream(ctx, to.ID(), benchEchoProtocol)
	if err != nil {
		return nil, err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], mode)
	if _, err := s.Write(hdr[:]); err != nil {
		_ = s.Reset()
		return nil, err
	}
	return s, nil
}

// barePingPong is a ping-pong client on an echo stream of one size.
type barePingPong struct {
	s   network.Stream
	buf []byte
}

func newBarePingPong(ctx context.Context, from, to *bareHost, size int) (*barePingPong, error) {
	s, err := bareStream(ctx, from, to, uint32(size))
	if err != nil {
		return nil, err
	}
	return &barePingPong{s: s, buf: make([]byte, size)}, nil
}

// roundTrip sends size bytes and reads them back.
func (p *barePingPong) roundTrip() error {
	if _, err := p.s.Write(p.buf); err != nil {
		return err
	}
	_, err := io.ReadFull(p.s, p.buf)
	return err
}

func (p *barePingPong) close() { _ = p.s.Close() }

// bareBulk writes count messages of size bytes back to back on one stream
// and waits for the peer to have read them all; it returns the time taken.
func bareBulk(ctx context.Context, from, to *bareHost, size, count int) (time.Duration, error) {
	s, err := bareStream(ctx, from, to, bulkMode)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	// Each message is written as a varint-framed body, as a minimal
	// message protocol would.
	w := bufio.NewWriterSize(s, size+16)
	msg := make([]byte, size)
	start := time.Now()
	for range count {
		var hdr [binary.MaxVarintLen64]byte
		if _, err := w.Write(hdr[:binary.PutUvarint(hdr[:], uint64(size))]); err != nil {
			return 0, err
		}
		if _, err := w.Write(msg); err != nil {
			return 0, err
		}
		if err := w.Flush(); err != nil {
			return 0, err
		}
	}
	if err := s.CloseWrite(); err != nil {
		return 0, err
	}
	var ack [1]byte
	if _, err := io.ReadFull(s, ack[:]); err != nil {
		return 0, fmt.Errorf("bulk ack: %w", err)
	}
	return time.Since(start), nil
}

// bareSetup measures what a session setup is compared with: a fresh pair
// of hosts, then connect, open a stream and echo one byte.
func bareSetup(ctx context.Context, tb testing.TB) (time.Duration, error) {
	a, b := newBareHost(tb, bareTCP), newBareHost(tb, bareTCP)
	defer a.close()
	defer b.close()
	start := time.Now()
	p, err := newBarePingPong(ctx, a, b, 1)
	if err != nil {
		return 0, err
	}
	defer p.close()
	if err := p.roundTrip(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// BenchmarkBareRTT is the baseline of BenchmarkNodeRTT.
func BenchmarkBareRTT(b *testing.B) {
	for _, size := range rttSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			ctx := context.Background()
			x, y := newBareHost(b, bareTCP), newBareHost(b, bareTCP)
			defer x.close()
			defer y.close()
			p, err := newBarePingPong(ctx, x, y, size)
			if err != nil {
				b.Fatal(err)
			}
			defer p.close()
			b.ReportAllocs()
			for b.Loop() {
				if err := p.roundTrip(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBareBulk is the baseline of BenchmarkNodeBulk.
func BenchmarkBareBulk(b *testing.B) {
	ctx := context.Background()
	x, y := newBareHost(b, bareTCP), newBareHost(b, bareTCP)
	defer x.close()
	defer y.close()
	b.SetBytes(bulkSize)
	b.ReportAllocs()
	if _, err := bareBulk(ctx, x, y, bulkSize, b.N); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBareSetup is the baseline of BenchmarkNodeSetup.
func BenchmarkBareSetup(b *testing.B) {
	var total time.Duration
	for range b.N {
		d, err := bareSetup(context.Background(), b)
		if err != nil {
			b.Fatal(err)
		}
		total += d
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "us/setup")
}
