package e2e

import (
	"fmt"
	"testing"
)

var benchSizes = []int{64, 1 << 10, 64 << 10}

// BenchmarkSeal measures one DATA record on an established chain. The
// state is reset between iterations so b.N never meets MaxChainLength.
func BenchmarkSeal(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ini, _ := newTestSessionPair(b)
			pt := make([]byte, n)
			saved := ini.st
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				ini.st = saved
				if _, err := ini.Seal(pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpen measures opening one DATA record on an established chain,
// with the receiver's state reset before each iteration.
func BenchmarkOpen(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ini, resp := newTestSessionPair(b)
			mustOpen(b, resp, mustSeal(b, ini, []byte("warm up")))
			rec := mustSeal(b, ini, make([]byte, n))
			saved := resp.st
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				resp.st = saved
				if _, _, err := resp.Open(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRatchetStep measures one DH ratchet step as both sides pay for
// it: a 64-byte record that starts a new chain, sealed (fresh key, one DH)
// and opened (one DH). Records alternate direction, so each one steps.
func BenchmarkRatchetStep(b *testing.B) {
	ini, resp := newTestSessionPair(b)
	mustOpen(b, resp, mustSeal(b, ini, []byte("warm up")))
	from, to := resp, ini
	pt := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		rec, err := from.Seal(pt)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := to.Open(rec); err != nil {
			b.Fatal(err)
		}
		from, to = to, from
	}
}
