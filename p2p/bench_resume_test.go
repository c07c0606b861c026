package p2p

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/securechat/securechat/p2p/store"
)

// BenchmarkCompareResume measures, in alternating rounds of one run, a bare
// go-libp2p connect+echo, a first contact (full handshake, connect to both
// up) and a reconnect to a known contact (resumption, connect to both up),
// and prints both ratios to the bare setup beside their goals. The Compare
// command runs it too:
//
//	go test -run '^$' -bench Compare -benchtime 1x ./p2p/
func BenchmarkCompareResume(b *testing.B) {
	for range b.N {
		printCompare(os.Stdout, "p2p resumption", compareResume(b))
	}
}

func compareResume(b *testing.B) []compareRow {
	na, nb := newBenchNode(b, "alice"), newBenchNode(b, "bob")
	defer na.close()
	defer nb.close()
	if err := benchBefriend(na, nb); err != nil {
		b.Fatal(err)
	}
	x, y := newBareHost(b, bareTCP), newBareHost(b, bareTCP)
	defer x.close()
	defer y.close()
	if _, err := bareReconnect(context.Background(), x, y); err != nil {
		b.Fatal(err)
	}
	var bare, bareAgain, first, again []time.Duration
	resumed := 0
	for range compareRounds * 2 {
		d, err := bareSetup(context.Background(), b)
		if err != nil {
			b.Fatal(err)
		}
		bare = append(bare, d)
		if d, err = bareReconnect(context.Background(), x, y); err != nil {
			b.Fatal(err)
		}
		bareAgain = append(bareAgain, d)
		if d, err = nodeSetup(b); err != nil {
			b.Fatal(err)
		}
		first = append(first, d)
		d, ok, err := nodeReconnect(na, nb, true)
		if err != nil {
			b.Fatal(err)
		}
		if ok {
			resumed++
		}
		again = append(again, d)
	}
	r, ra, f, g := median(bare), median(bareAgain), median(first), median(again)
	fr, gr, gra := float64(f)/float64(r), float64(g)/float64(r), float64(g)/float64(ra)
	return []compareRow{
		{"first contact (connect+echo)", ms(f), ms(r), fr, "<= 3", fr <= 3},
		{fmt.Sprintf("reconnect, resumed %d/%d", resumed, len(again)), ms(g), ms(r), gr, "<= 1.5",
			gr <= 1.5 && resumed == len(again)},
		{"reconnect vs bare reconnect", ms(g), ms(ra), gra, "(same hosts)", true},
	}
}

// bareReconnect closes x's connections to y, waits until they are gone,
// and times a new connection, stream and one echo between the same two
// hosts: the bare counterpart of a reconnect, peerstore already filled.
func bareReconnect(ctx context.Context, x, y *bareHost) (time.Duration, error) {
	_ = x.Network().ClosePeer(y.ID())
	deadline := time.Now().Add(benchWait)
	for len(x.Network().ConnsToPeer(y.ID())) > 0 || len(y.Network().ConnsToPeer(x.ID())) > 0 {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("bare connection did not end")
		}
		time.Sleep(100 * time.Microsecond)
	}
	start := time.Now()
	p, err := newBarePingPong(ctx, x, y, 1)
	if err != nil {
		return 0, err
	}
	defer p.close()
	if err := p.roundTrip(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// benchBefriend makes a and b contacts of each other holding a ticket from
// each other: a connects, b writes to a (a becomes b's contact), and one
// reconnect brings tickets both ways.
func benchBefriend(a, b *benchNode) error {
	if err := connectNodes(a, b); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	if _, err := b.Send(ctx, a.PeerID(), "hi"); err != nil {
		return err
	}
	if _, err := waitOn(a.received); err != nil {
		return err
	}
	_, _, err := nodeReconnect(a, b, false)
	return err
}

// nodeReconnect waits (if tickets) until a and b hold tickets from each other, cuts
// their connection, waits until neither has a session, and times a's dial
// to both sides up; it reports whether the new session was resumed. A
// redial comes at the earliest 125 ms after the cut (redial.go), long after
// this dial: it finds the session up. It waits until the connection is
// gone too, so that the dial makes a new one.
func nodeReconnect(a, b *benchNode, tickets bool) (time.Duration, bool, error) {
	deadline := time.Now().Add(benchWait)
	for _, p := range [][2]*benchNode{{a, b}, {b, a}} {
		if !tickets {
			break
		}
		for !hasTicket(p[0].Node, store.TicketHeld, p[1].PeerID()) || !hasTicket(p[0].Node, store.TicketIssued, p[1].PeerID()) {
			if time.Now().After(deadline) {
				return 0, false, fmt.Errorf("no tickets")
			}
			time.Sleep(time.Millisecond)
		}
	}
	pb := b.PeerID()
	a.hangUp(mustDecodeID(pb))
	for a.online(mustDecodeID(pb)) || b.online(mustDecodeID(a.PeerID())) ||
		len(a.host.Network().ConnsToPeer(mustDecodeID(pb))) > 0 {
		if time.Now().After(deadline) {
			return 0, false, fmt.Errorf("session did not end")
		}
		time.Sleep(100 * time.Microsecond)
	}
	start := time.Now()
	if err := connectNodes(a, b); err != nil {
		return 0, false, err
	}
	d := time.Since(start)
	a.mu.Lock()
	ss := a.liveLocked(mustDecodeID(pb))
	resumed := ss != nil && ss.resumed
	a.mu.Unlock()
	// Let the redial of the cut come and go before the next round, and
	// keep under the responder's handshake admission of one a second per
	// peer after a burst of 8 (limits.go), which a reconnect meets too.
	time.Sleep(time.Second)
	return d, resumed, nil
}

func mustDecodeID(pid string) peer.ID {
	p, err := peer.Decode(pid)
	if err != nil {
		panic(err)
	}
	return p
}

// BenchmarkNodeReconnect times reconnects to a known contact alone
// (resumed), for profiles: each iteration cuts and redials.
func BenchmarkNodeReconnect(b *testing.B) {
	na, nb := newBenchNode(b, "alice"), newBenchNode(b, "bob")
	defer na.close()
	defer nb.close()
	if err := benchBefriend(na, nb); err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for b.Loop() {
		d, ok, err := nodeReconnect(na, nb, true)
		if err != nil || !ok {
			b.Fatalf("reconnect: resumed %v, %v", ok, err)
		}
		total += d
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N), "us/reconnect")
}
