package e2e

import (
	"testing"
	"time"
)

// BenchmarkHandshake measures one whole handshake, both sides in turn on
// one goroutine, and reports each message's cost: the time on the critical
// path of a real setup, where each side waits for the other's message.
// The RSA operations dominate: the responder signs (msg2), the initiator
// unwraps, wraps and signs (msg3), the responder unwraps (msg3 read).
func BenchmarkHandshake(b *testing.B) {
	a, r, _ := testPeers(b)
	cfgI, cfgR := hsConfigs(a, r)
	var steps [4]time.Duration // write1+read1, write2+read2, write3+read3, write4+read4
	b.ReportAllocs()
	for b.Loop() {
		hi, hr := mustHandshakes(b, cfgI, cfgR)
		from, to := hi, hr
		for i := range steps {
			t0 := time.Now()
			mustRead(b, to, mustWrite(b, from))
			steps[i] += time.Since(t0)
			from, to = to, from
		}
		if _, err := hi.Session(); err != nil {
			b.Fatal(err)
		}
		if _, err := hr.Session(); err != nil {
			b.Fatal(err)
		}
	}
	for i, d := range steps {
		b.ReportMetric(float64(d.Microseconds())/float64(b.N), "us/msg"+string(rune('1'+i)))
	}
}
