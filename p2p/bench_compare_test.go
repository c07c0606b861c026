package p2p

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkCompare measures every securechat/bare pair in one run and
// prints the ratios beside their goals (README "Performance"):
//
//	go test -run '^$' -bench Compare -benchtime 1x ./p2p/ ./cmd/securechat/
//
// Each pair is measured in alternating rounds, so that load from anything
// else on the machine hits both sides alike; the median round counts.
func BenchmarkCompare(b *testing.B) {
	for range b.N {
		var rows []compareRow
		rows = append(rows, compareRTT(b)...)
		rows = append(rows, compareBulk(b))
		rows = append(rows, compareSetup(b))
		rows = append(rows, compareMemory(b)...)
		rows = append(rows, compareLoad(b))
		printCompare(os.Stdout, "p2p", rows)
	}
}

// compareRounds is how many alternating rounds each pair gets.
const compareRounds = 5

// A compareRow is one line of the comparison table.
type compareRow struct {
	what       string
	ours, bare string  // measured values, with units
	ratio      float64 // ours / bare, or the absolute figure a goal bounds
	goal       string  // e.g. "<= 1.05"
	met        bool
}

func printCompare(w *os.File, pkg string, rows []compareRow) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(w, "\n%s: securechat vs bare go-libp2p, %s, GOMAXPROCS %d, load %s\n",
		pkg, runtime.Version(), runtime.GOMAXPROCS(0), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Fprintf(w, "| %-34s | %-16s | %-16s | %-8s | %-12s | %-4s |\n", "measure", "securechat", "bare libp2p", "ratio", "goal", "met")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 36), strings.Repeat("-", 18), strings.Repeat("-", 18),
		strings.Repeat("-", 10), strings.Repeat("-", 14), strings.Repeat("-", 6))
	for _, r := range rows {
		met := "no"
		if r.met {
			met = "yes"
		}
		fmt.Fprintf(w, "| %-34s | %-16s | %-16s | %-8.2f | %-12s | %-4s |\n", r.what, r.ours, r.bare, r.ratio, r.goal, met)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func compareRTT(b *testing.B) []compareRow {
	ctx := context.Background()
	x, y := newBareHost(b, bareTCP), newBareHost(b, bareTCP)
	defer x.close()
	defer y.close()
	na, nb := newNodePair(b)
	defer na.close()
	defer nb.close()
	const perRound = 300
	var rows []compareRow
	for _, size := range rttSizes {
		p, err := newBarePingPong(ctx, x, y, size)
		if err != nil {
			b.Fatal(err)
		}
		text := strings.Repeat("a", size)
		var ours, bare []time.Duration
		for range compareRounds {
			start := time.Now()
			for range perRound {
				if err := p.roundTrip(); err != nil {
					b.Fatal(err)
				}
			}
			bare = append(bare, time.Since(start)/perRound)
			start = time.Now()
			for range perRound {
				if err := nodeRoundTrip(na, nb, text); err != nil {
					b.Fatal(err)
				}
			}
			ours = append(ours, time.Since(start)/perRound)
		}
		p.close()
		o, r := median(ours), median(bare)
		ratio := float64(o) / float64(r)
		rows = append(rows, compareRow{fmt.Sprintf("message RTT, %d B", size), us(o), us(r), ratio, "<= 1.05", ratio <= 1.05})
	}
	return rows
}

func compareBulk(b *testing.B) compareRow {
	ctx := context.Background()
	x, y := newBareHost(b, bareTCP), newBareHost(b, bareTCP)
	defer x.close()
	defer y.close()
	na, nb := newNodePair(b)
	defer na.close()
	defer nb.close()
	const count = 200
	text := strings.Repeat("a", bulkSize)
	var ours, bare []time.Duration
	for range compareRounds {
		d, err := bareBulk(ctx, x, y, bulkSize, count)
		if err != nil {
			b.Fatal(err)
		}
		bare = append(bare, d)
		if d, err = nodeBulk(na, nb, text, count); err != nil {
			b.Fatal(err)
		}
		ours = append(ours, d)
	}
	mbps := func(d time.Duration) float64 { return float64(count*bulkSize) / d.Seconds() / 1e6 }
	o, r := mbps(median(ours)), mbps(median(bare))
	return compareRow{"bulk 64 KiB messages", fmt.Sprintf("%.0f MB/s", o), fmt.Sprintf("%.0f MB/s", r), o / r, ">= 0.90", o/r >= 0.90}
}

func compareSetup(b *testing.B) compareRow {
	var ours, bare []time.Duration
	for range compareRounds * 2 {
		d, err := bareSetup(context.Background(), b)
		if err != nil {
			b.Fatal(err)
		}
		bare = append(bare, d)
		if d, err = nodeSetup(b); err != nil {
			b.Fatal(err)
		}
		ours = append(ours, d)
	}
	o, r := median(ours), median(bare)
	ratio := float64(o) / float64(r)
	return compareRow{"session setup (connect+echo)", ms(o), ms(r), ratio, "<= 3", ratio <= 3}
}

func compareMemory(b *testing.B) []compareRow {
	const k = 50
	node, bare := measureHub(b, "node", k), measureHub(b, "bare", k)
	idle := node.idleRSS / bare.idleRSS
	per := node.perRSS / 1024
	return []compareRow{
		{"idle RSS", kib(node.idleRSS), kib(bare.idleRSS), idle, "<= 1.3", idle <= 1.3},
		{fmt.Sprintf("RSS per open session (%d)", k), kib(node.perRSS), kib(bare.perRSS) + "/conn", per, "<= 150 KiB", per <= 150},
		{"live heap per open session", kib(node.perHeap), "", node.perHeap / 1024, "(KiB)", true},
	}
}

func compareLoad(b *testing.B) compareRow {
	r := runLoad(b, loadSessions, 40, 8)
	rate := r.rate()
	return compareRow{fmt.Sprintf("%d/%d sessions, aggregate, errs %d", r.sessions, loadSessions, r.errs), fmt.Sprintf("%.0f msg/s", rate), "", rate,
		">= 10000/s", rate >= 10000 && r.errs == 0 && r.sessions == loadSessions}
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f us", float64(d.Nanoseconds())/1e3) }
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1e3) }
func kib(v float64) string      { return fmt.Sprintf("%.0f KiB", v/1024) }
