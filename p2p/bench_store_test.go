package p2p

import (
	"context"
	"strings"
	"testing"
)

// BenchmarkNodeRTTStore measures the 64-byte message round trip with each
// store: the memory store of an --ephemeral node and the sealed bbolt file
// of a normal one, where every message costs three committed (fsynced)
// transactions on the sender (queue, mark sent, delivered) and one on the
// receiver.
func BenchmarkNodeRTTStore(b *testing.B) {
	for _, disk := range []bool{false, true} {
		name := "memory"
		if disk {
			name = "bbolt"
		}
		b.Run(name, func(b *testing.B) {
			newNode := func(who string) *benchNode {
				if !disk {
					return newBenchNode(b, who)
				}
				return newBenchNodeWith(b, Config{Home: b.TempDir(), Passphrase: []byte("bench passphrase"),
					ListenAddrs: bareTCP, Name: who})
			}
			x, y := newNode("alice"), newNode("bob")
			defer x.close()
			defer y.close()
			if err := connectContacts(x, y); err != nil {
				b.Fatal(err)
			}
			text := strings.Repeat("a", 64)
			b.ReportAllocs()
			for b.Loop() {
				if err := nodeRoundTrip(x, y, text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// newBenchNodeWith is newBenchNode with a config of the caller's.
func newBenchNodeWith(tb testing.TB, cfg Config) *benchNode {
	tb.Helper()
	n, err := newNode(context.Background(), cfg, testSettings(tb, cfg.Name))
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return wrapBench(n)
}
