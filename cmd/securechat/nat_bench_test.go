package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/netns"
)

// Hole-punch runs of BenchmarkNAT per NAT mode: a failed run costs
// natPunchWait, so the symmetric mode, where every run fails, gets fewer.
const (
	natPunchRunsPortPreserving = 20
	natPunchRunsSymmetric      = 5
	// natPunchWait bounds the wait for a direct path after session_up:
	// DCUtR's three attempts in this testbed end well within it.
	natPunchWait = 20 * time.Second
	// natSetupRounds and natPingRounds: rounds of the setup and ping-pong
	// measures; the median counts.
	natSetupRounds = 3
	natPingRounds  = 20
)

// BenchmarkNAT measures the real binary in the NAT testbed, in one run, and
// prints the figures as a table with their ratios (none is asserted):
//
//		go test -run '^$' -bench NAT -benchtime 1x ./cmd/securechat/
//
//	  - session setup: from both nodes' ready events to session_up on both,
//	    through a securechat relay by invite (port-preserving NATs), against
//	    the same two nodes on a plain LAN (netns.New) connecting to each
//	    other's address; also from the connect command alone;
//	  - time from session_up (relayed) to path direct, with --holepunch-private;
//	  - message round trip, a ping-pong through the headless API, over a
//	    relayed session (nodes without --holepunch-private, which stay on the
//	    relay) and over a direct one (after the punch), and the same for a
//	    bare go-libp2p stream (the stock echo peers: one echo command, which
//	    opens a stream, per round trip);
//	  - hole-punch success over several runs in each NAT mode.
func BenchmarkNAT(b *testing.B) {
	needNATBinary(b)
	for range b.N {
		benchNAT(b)
	}
}

// natFigures are BenchmarkNAT's medians.
type natFigures struct {
	relaySetup, relayConnect, lanSetup, lanConnect, punch time.Duration
	rttRelayed, rttDirect, echoRelayed, echoDirect        time.Duration
	punchOK, punchRuns                                    [2]int // port-preserving, symmetric
	punchTimes                                            []time.Duration
}

func benchNAT(b *testing.B) {
	env := natEnv(b)
	bed := netns.NewNATBed(b)
	pp := []*netns.Home{bed.AddHome(b, netns.PortPreserving), bed.AddHome(b, netns.PortPreserving)}
	relay := startSecurechatRelay(b, bed, "relay", filepath.Join(b.TempDir(), "relay"), env)
	flags := relayFlags(relay)
	var f natFigures

	// Setup through the relay, then the punch.
	var setup, connect, punch []time.Duration
	var alice, bob *proc
	for i := range natSetupRounds {
		if alice != nil {
			alice.quit()
			bob.quit()
		}
		alice = startNATNode(b, pp[0], fmt.Sprintf("alice%d", i), env, append(flags, "--holepunch-private")...)
		bob = startNATNode(b, pp[1], fmt.Sprintf("bob%d", i), env, append(flags, "--holepunch-private")...)
		ready := later(readyAt(alice), readyAt(bob))
		meetByInvite(b, alice, bob, relay.peerID(), "meet")
		// The connect went in right after bob's invite answer.
		_, start := bob.waitAt(natWait, "invite", event("invite"))
		up := later(upAt(alice, bob), upAt(bob, alice))
		setup, connect = append(setup, up.Sub(ready)), append(connect, up.Sub(start))
		_, pa := alice.waitAt(natWait, "path direct", event("path", "peer_id", bob.peerID(), "conn", "direct"))
		_, pb := bob.waitAt(natWait, "path direct", event("path", "peer_id", alice.peerID(), "conn", "direct"))
		punch = append(punch, later(pa, pb).Sub(up))
	}
	f.relaySetup, f.relayConnect, f.punch = medianDuration(setup), medianDuration(connect), medianDuration(punch)
	fmt.Printf("relay: ready to session_up %v, connect to session_up %v, session_up to direct %v\n", setup, connect, punch)

	// The same two nodes on a plain LAN.
	lan := netns.New(b)
	la, lb := lan.AddHost(b), lan.AddHost(b)
	setup, connect = nil, nil
	for i := range natSetupRounds {
		x := startLAN(b, la, fmt.Sprintf("x%d", i), env, "--ephemeral", "--no-mdns")
		y := startLAN(b, lb, fmt.Sprintf("y%d", i), env, "--ephemeral", "--no-mdns")
		ready := later(readyAt(x), readyAt(y))
		start := time.Now()
		x.send(map[string]any{"cmd": "connect", "addr": y.addr(), "ref": "c"})
		if ev, _ := x.waitAt(natWait, "connected", func(ev map[string]any) bool { return ev["ref"] == "c" }); ev["event"] != "connected" {
			b.Fatalf("LAN connect: %v", ev)
		}
		sessionUp(x, y)
		up := later(upAt(x, y), upAt(y, x))
		setup, connect = append(setup, up.Sub(ready)), append(connect, up.Sub(start))
		x.quit()
		y.quit()
	}
	f.lanSetup, f.lanConnect = medianDuration(setup), medianDuration(connect)
	fmt.Printf("LAN: ready to session_up %v, connect to session_up %v\n", setup, connect)

	// Round trips: alice and bob are direct now; a second pair without
	// --holepunch-private stays relayed.
	rp := []*netns.Home{bed.AddHome(b, netns.PortPreserving), bed.AddHome(b, netns.PortPreserving)}
	carol := startNATNode(b, rp[0], "carol", env, flags...)
	dave := startNATNode(b, rp[1], "dave", env, flags...)
	if up, _ := meetByInvite(b, carol, dave, relay.peerID(), "meet"); up["conn"] != "relayed" {
		b.Fatalf("carol and dave: %v, want relayed", up["conn"])
	}
	var direct, relayed []time.Duration
	for i := range natPingRounds {
		direct = append(direct, pingPong(b, alice, bob, i))
		relayed = append(relayed, pingPong(b, carol, dave, i))
	}
	f.rttDirect, f.rttRelayed = medianDuration(direct), medianDuration(relayed)
	fmt.Printf("headless ping-pong medians: direct %v, relayed %v\n", f.rttDirect, f.rttRelayed)
	if e := peerEntry(carol, dave, "still"); e["conn"] != "relayed" {
		b.Errorf("carol's path to dave became %v during the relayed round trips", e["conn"])
	}
	for _, p := range []*proc{alice, bob, carol, dave} {
		p.quit()
	}
	f.echoRelayed, f.echoDirect = stockEchoRTT(b, bed, relay)
	fmt.Printf("bare echo medians: direct %v, relayed %v\n", f.echoDirect, f.echoRelayed)

	// Hole-punch success.
	for m, mode := range []netns.NATMode{netns.PortPreserving, netns.Symmetric} {
		runs := natPunchRunsPortPreserving
		if mode == netns.Symmetric {
			runs = natPunchRunsSymmetric
		}
		hs := []*netns.Home{bed.AddHome(b, mode), bed.AddHome(b, mode)}
		pf := append(slices.Clone(flags), "--holepunch-private")
		for i := range runs {
			// Two new nodes each run: no run inherits a path, a
			// conntrack entry's port or a backoff from the one before.
			alice := startNATNode(b, hs[0], fmt.Sprintf("alice-%v-%d", mode, i), env, pf...)
			bob := startNATNode(b, hs[1], fmt.Sprintf("bob-%v-%d", mode, i), env, pf...)
			meetByInvite(b, alice, bob, relay.peerID(), fmt.Sprintf("meet%d", i))
			_, up := alice.waitAt(natWait, "session_up", event("session_up", "peer_id", bob.peerID()))
			_, err := alice.scan(0, natPunchWait, func(ev map[string]any) bool {
				return ev["event"] == "path" && ev["conn"] == "direct"
			})
			f.punchRuns[m]++
			if err == nil {
				f.punchOK[m]++
				if mode == netns.PortPreserving {
					_, at := alice.waitAt(time.Second, "path", event("path", "conn", "direct"))
					f.punchTimes = append(f.punchTimes, at.Sub(up))
				}
			}
			alice.quit()
			bob.quit()
		}
		fmt.Printf("hole punch, %v: %d of %d runs direct within %v\n", mode, f.punchOK[m], f.punchRuns[m], natPunchWait)
	}
	relay.quit()
	printNAT(b, f)
}

// stockEchoRTT measures the stock echo peers' round trip (one echo command,
// which opens a stream) through relay, between two peers without hole
// punching, and directly, between two that punched through.
func stockEchoRTT(b *testing.B, bed *netns.NATBed, relay *proc) (relayed, direct time.Duration) {
	var circuit []string
	for _, a := range readyAddrs(relay) {
		circuit = append(circuit, a+"/p2p-circuit")
	}
	peerAt := func(h *netns.Home, punch bool) *proc {
		cfg := stockPeerConfig{Listen: []string{"/ip4/" + h.IP + "/tcp/0", "/ip4/" + h.IP + "/udp/0/quic-v1"}, HolePunch: punch}
		return startStock(b, fmt.Sprintf("echo%d", h.Index), h.Command, stockPeerEnv, cfg)
	}
	measure := func(punch bool) time.Duration {
		h1, h2 := bed.AddHome(b, netns.PortPreserving), bed.AddHome(b, netns.PortPreserving)
		e1, e2 := peerAt(h1, punch), peerAt(h2, punch)
		var quic []string
		for _, a := range readyAddrs(relay) {
			if strings.Contains(a, "/quic-v1") {
				quic = append(quic, strings.TrimSuffix(a, "/p2p/"+relay.peerID()))
			}
		}
		for i, p := range []*proc{e1, e2} {
			ref := fmt.Sprintf("rsv%d", i)
			p.send(map[string]any{"cmd": "reserve", "ref": ref, "peer_id": relay.peerID(), "addrs": quic})
			if ev, _ := p.waitAt(natWait, ref, func(ev map[string]any) bool { return ev["ref"] == ref }); ev["event"] != "reserved" {
				b.Fatalf("%s: reserve: %v", p.name, ev)
			}
			if punch {
				p.waitAt(natWait, "DCUtR service", event("holepunch_ready"))
			}
		}
		var rtts []time.Duration
		for i := range natPingRounds + 1 {
			ref := fmt.Sprintf("e%d", i)
			cmd := map[string]any{"cmd": "echo", "ref": ref, "peer_id": e2.peerID(), "addrs": circuit, "text": "ping"}
			if punch && i > 0 {
				cmd["direct"] = true
			}
			start := time.Now()
			e1.send(cmd)
			ev, at := e1.waitAt(natWait, "echo "+ref, func(ev map[string]any) bool { return ev["ref"] == ref })
			if i == 0 {
				continue // the first opens the connection
			}
			if ev["event"] != "echoed" || ev["limited"] != !punch {
				b.Fatalf("echo %d (punch %v): %v", i, punch, ev)
			}
			rtts = append(rtts, at.Sub(start))
		}
		e1.stop()
		e2.stop()
		return medianDuration(rtts)
	}
	return measure(false), measure(true)
}

// pingPong sends "ping i" from a to b and "pong i" back, through the
// headless API, and returns the round trip as a's script sees it.
func pingPong(tb testing.TB, a, b *proc, i int) time.Duration {
	tb.Helper()
	ping, pong := fmt.Sprintf("ping %d", i), fmt.Sprintf("pong %d", i)
	start := time.Now()
	a.send(map[string]any{"cmd": "send", "to": b.peerID(), "text": ping})
	b.waitAt(natWait, ping, event("message", "peer_id", a.peerID(), "text", ping))
	b.send(map[string]any{"cmd": "send", "to": a.peerID(), "text": pong})
	_, at := a.waitAt(natWait, pong, event("message", "peer_id", b.peerID(), "text", pong))
	return at.Sub(start)
}

func readyAt(p *proc) time.Time {
	_, times := p.eventsAt()
	return times[0]
}

// upAt is when p printed its first session_up with peer.
func upAt(p, peer *proc) time.Time {
	_, at := p.waitAt(natWait, "session_up", event("session_up", "peer_id", peer.peerID()))
	return at
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// printNAT prints BenchmarkNAT's table and reports its main figures.
func printNAT(b *testing.B, f natFigures) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\ncmd/securechat: the binary in the NAT testbed, %s, GOMAXPROCS %d, load %s; medians\n",
		runtime.Version(), runtime.GOMAXPROCS(0), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("| %-52s | %-12s | %-12s | %-6s |\n", "measure", "NAT", "baseline", "ratio")
	row := func(what string, x, base time.Duration, baseName string) {
		fmt.Printf("| %-52s | %-12s | %-12s | %-6.2f |\n", what, ms(x), ms(base)+baseName, float64(x)/float64(base))
	}
	row(fmt.Sprintf("ready to session_up, relay+invite vs LAN (%d)", natSetupRounds), f.relaySetup, f.lanSetup, "")
	row(fmt.Sprintf("connect to session_up, relay+invite vs LAN (%d)", natSetupRounds), f.relayConnect, f.lanConnect, "")
	row(fmt.Sprintf("headless ping-pong, relayed vs direct (%d)", natPingRounds), f.rttRelayed, f.rttDirect, "")
	row("relayed ping-pong, headless vs bare echo", f.rttRelayed, f.echoRelayed, "")
	row("direct ping-pong, headless vs bare echo", f.rttDirect, f.echoDirect, "")
	fmt.Printf("| %-52s | %-12s | %-12s | %-6s |\n", fmt.Sprintf("session_up to path direct (%d)", natSetupRounds), ms(f.punch), "", "")
	fmt.Printf("| %-52s | %-12s | %-12s | %-6s |\n", "hole punch to direct within "+natPunchWait.String()+", port-preserving",
		fmt.Sprintf("%d of %d", f.punchOK[0], f.punchRuns[0]), "", "")
	fmt.Printf("| %-52s | %-12s | %-12s | %-6s |\n", "hole punch to direct within "+natPunchWait.String()+", symmetric",
		fmt.Sprintf("%d of %d", f.punchOK[1], f.punchRuns[1]), "", "")
	if len(f.punchTimes) > 0 {
		fmt.Printf("port-preserving: session_up to path direct, median %s, max %s over %d punches\n",
			ms(medianDuration(f.punchTimes)), ms(slices.Max(f.punchTimes)), len(f.punchTimes))
	}
	b.ReportMetric(float64(f.relaySetup.Milliseconds()), "ms-relay-setup")
	b.ReportMetric(float64(f.lanSetup.Milliseconds()), "ms-lan-setup")
	b.ReportMetric(float64(f.punch.Milliseconds()), "ms-to-direct")
	b.ReportMetric(float64(f.rttRelayed.Microseconds())/1000, "ms-rtt-relayed")
	b.ReportMetric(float64(f.rttDirect.Microseconds())/1000, "ms-rtt-direct")
	b.ReportMetric(float64(f.punchOK[0])/float64(max(1, f.punchRuns[0])), "punch-ok-portpreserving")
	b.ReportMetric(float64(f.punchOK[1])/float64(max(1, f.punchRuns[1])), "punch-ok-symmetric")
}
