package p2p

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p/store"
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
		rows = append(rows, compareLoad(b, false))
		// The disk store: a sealed bbolt file, every commit an fsync.
		rows = append(rows, compareDiskRTT(b)...)
		rows = append(rows, compareLoad(b, true))
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
	fmt.Fprintf(w, "| %-36s | %-28s | %-16s | %-8s | %-14s | %-4s |\n", "measure", "securechat", "bare libp2p", "ratio", "goal", "met")
	fmt.Fprintf(w, "|%s|%s|%s|%s|%s|%s|\n", strings.Repeat("-", 38), strings.Repeat("-", 30), strings.Repeat("-", 18),
		strings.Repeat("-", 10), strings.Repeat("-", 16), strings.Repeat("-", 6))
	for _, r := range rows {
		met := "no"
		if r.met {
			met = "yes"
		}
		fmt.Fprintf(w, "| %-36s | %-28s | %-16s | %-8.2f | %-14s | %-4s |\n", r.what, r.ours, r.bare, r.ratio, r.goal, met)
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
		rows = append(rows, compareRow{fmt.Sprintf("message RTT, %d B", size), us(o), us(r), ratio, "<= 1.5", ratio <= 1.5})
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
	return compareRow{"bulk 64 KiB messages", fmt.Sprintf("%.0f MB/s", o), fmt.Sprintf("%.0f MB/s", r), o / r, ">= 0.5", o/r >= 0.5}
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

// compareLoad runs 500 sessions into one hub, with the memory store or
// (disk) a bbolt file.
func compareLoad(b *testing.B, disk bool) compareRow {
	r := runLoad(b, loadSessions, 40, 8, disk)
	rate := r.rate()
	what, goal, ours := "%d/%d sessions, aggregate, errs %d", 10000.0, fmt.Sprintf("%.0f msg/s", rate)
	if disk {
		what, goal = "%d/%d sessions, disk store, errs %d", 20000
		ours += fmt.Sprintf(", %.0f/fsync", float64(r.msgs)/float64(max(r.commits, 1)))
	}
	return compareRow{fmt.Sprintf(what, r.sessions, loadSessions, r.errs), ours, "", rate,
		fmt.Sprintf(">= %.0f/s", goal), rate >= goal && r.errs == 0 && r.sessions == loadSessions}
}

func us(d time.Duration) string { return fmt.Sprintf("%.1f us", float64(d.Nanoseconds())/1e3) }
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1e3) }
func kib(v float64) string      { return fmt.Sprintf("%.0f KiB", v/1024) }

// connectContacts connects a to b and has each send the other a message, so that
// each is the other's contact: a stranger's messages are kept in memory
// (stranger.go), a contact's go through the store, the path every
// conversation after the first message takes.
func connectContacts(a, b *benchNode) error {
	if err := connectNodes(a, b); err != nil {
		return err
	}
	if err := nodeRoundTrip(a, b, "hello"); err != nil {
		return err
	}
	return nodeRoundTrip(b, a, "hello")
}

// newDiskNode starts a node with a sealed bbolt store in a fresh home.
func newDiskNode(tb testing.TB, name string) *benchNode {
	tb.Helper()
	return newBenchNodeWith(tb, Config{Home: tb.TempDir(), Passphrase: []byte("bench passphrase"), ListenAddrs: bareTCP, Name: name})
}

// storeCommits is how many write transactions (fsyncs) bn's bbolt store
// committed so far.
func storeCommits(bn *benchNode) uint64 {
	c, _ := store.Commits(bn.contacts.Store)
	return c
}

// compareDiskRTT measures the 64-byte round trip between two nodes with
// bbolt stores, beside the memory store's and the bare one, and what the
// disk adds: the commits (each an fsync) per round trip on each side, and
// the time the disk adds over the memory store in units of one commit
// measured on the same disk. The goal is one commit per side: the sender's
// message (with the previous receipt's change in it) and the receiver's
// message before its receipt.
func compareDiskRTT(b *testing.B) []compareRow {
	ctx := context.Background()
	x, y := newBareHost(b, bareTCP), newBareHost(b, bareTCP)
	defer x.close()
	defer y.close()
	ma, mb := newNodePair(b)
	defer ma.close()
	defer mb.close()
	da, db := newDiskNode(b, "alice"), newDiskNode(b, "bob")
	defer da.close()
	defer db.close()
	if err := connectContacts(da, db); err != nil {
		b.Fatal(err)
	}
	p, err := newBarePingPong(ctx, x, y, 64)
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	const perRound = 100
	text := strings.Repeat("a", 64)
	var bare, mem, disk, commit []time.Duration
	var sender, receiver uint64
	roundTrips := func(a, b *benchNode) (time.Duration, error) {
		start := time.Now()
		for range perRound {
			if err := nodeRoundTrip(a, b, text); err != nil {
				return 0, err
			}
		}
		return time.Since(start) / perRound, nil
	}
	dir := b.TempDir()
	for range compareRounds {
		start := time.Now()
		for range perRound {
			if err := p.roundTrip(); err != nil {
				b.Fatal(err)
			}
		}
		bare = append(bare, time.Since(start)/perRound)
		d, err := roundTrips(ma, mb)
		if err != nil {
			b.Fatal(err)
		}
		mem = append(mem, d)
		a0, b0 := storeCommits(da), storeCommits(db)
		if d, err = roundTrips(da, db); err != nil {
			b.Fatal(err)
		}
		disk = append(disk, d)
		sender += storeCommits(da) - a0
		receiver += storeCommits(db) - b0
		commit = append(commit, commitTime(b, dir))
	}
	n := float64(compareRounds * perRound)
	ps, pr := float64(sender)/n, float64(receiver)/n
	o, m, r, c := median(disk), median(mem), median(bare), median(commit)
	beyond := float64(o-m) / float64(c)
	return []compareRow{
		{"message RTT 64 B, disk store", us(o), us(r), float64(o) / float64(r), "(info)", true},
		// A conversation's last receipt is committed by itself, lazyDelay
		// later (store/lazy.go): one commit per burst on top.
		{"  fsyncs/RTT, sender + receiver", fmt.Sprintf("%.2f + %.2f", ps, pr), "", max(ps, pr), "<= 1 per side", max(ps, pr) <= 1.05},
		{"  disk RTT - memory RTT, in fsyncs", us(o - m), "fsync " + us(c), beyond, "<= 2 (1/side)", beyond <= 2},
	}
}

// commitTime is the median time of storing one 64-byte message in a
// fresh bbolt store in dir (one commit, one fsync): what a commit of the
// message path costs on this disk, now.
func commitTime(tb testing.TB, dir string) time.Duration {
	var key [32]byte
	st, err := store.Open(filepath.Join(dir, fmt.Sprintf("commit%d.db", time.Now().UnixNano())), key)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	var ds []time.Duration
	for i := range 9 {
		m := store.Message{PeerID: "peer", ID: [store.MessageIDLen]byte{byte(i)}, Text: strings.Repeat("a", 64), SentAt: time.Now()}
		start := time.Now()
		if _, err := st.Queue(m); err != nil {
			tb.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	return median(ds)
}

// BenchmarkDiskStoreRTT prints the disk store's round-trip rows of
// BenchmarkCompare alone.
func BenchmarkDiskStoreRTT(b *testing.B) {
	for range b.N {
		printCompare(os.Stdout, "p2p", compareDiskRTT(b))
	}
}
