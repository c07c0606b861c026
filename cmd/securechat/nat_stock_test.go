package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/netns"
)

// The NAT testbed with stock go-libp2p programs only: the known-good base
// the securechat relay tests build on. Two homes behind their own NATs
// (internal/netns NATBed), the stock relay in pub, a stock echo peer in each
// home.

// relayPort is the stock relay's TCP and UDP (QUIC) port in pub.
const relayPort = 4001

// stockNATBed builds a testbed with two homes in mode, starts the stock
// relay at netns.PubIP with cfg's limits, and an echo peer in each home.
func stockNATBed(t *testing.T, mode netns.NATMode, relayCfg stockRelayConfig, holePunch bool) (relay, e1, e2 *proc) {
	t.Helper()
	b := netns.NewNATBed(t)
	h1, h2 := b.AddHome(t, mode), b.AddHome(t, mode)
	relayCfg.Listen = []string{
		fmt.Sprintf("/ip4/%s/tcp/%d", netns.PubIP, relayPort),
		fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", netns.PubIP, relayPort),
	}
	relay = startStock(t, "relay", b.Pub.Command, stockRelayEnv, relayCfg)
	peer := func(h *netns.Home) *proc {
		cfg := stockPeerConfig{Listen: []string{"/ip4/" + h.IP + "/tcp/0", "/ip4/" + h.IP + "/udp/0/quic-v1"}, HolePunch: holePunch}
		return startStock(t, fmt.Sprintf("home%d", h.Index), h.Command, stockPeerEnv, cfg)
	}
	return relay, peer(h1), peer(h2)
}

// TestNATStockRelay: behind two port-preserving NATs, the stock echo peers
// talk through the stock relay in pub, within its limits and not beyond.
func TestNATStockRelay(t *testing.T) {
	netns.RequireNAT(t)
	relay, e1, e2 := stockNATBed(t, netns.PortPreserving, stockRelayConfig{LimitData: 64 << 10}, false)
	// Without a relay nothing gets through: e1 cannot dial e2's own
	// addresses (private, behind nat2).
	e1.send(map[string]any{"cmd": "echo", "ref": "direct", "peer_id": e2.peerID(), "addrs": readyAddrs(e2), "text": "direct?"})
	if ev := answer(t, e1, "direct", ""); ev["event"] != "error" {
		t.Fatalf("home1 reached home2 directly: %v", ev)
	}
	relayEcho(t, relay, e1, e2, 256<<10)
	for _, p := range []*proc{e1, e2, relay} {
		p.stop()
	}
}

// holePunchWait bounds the wait for DCUtR's outcome: three attempts, each
// at most a direct dial timeout after a round trip.
const holePunchWait = 45 * time.Second

// TestNATStockHolePunch reports whether DCUtR gets the two echo peers a
// direct connection through each kind of NAT: in this testbed a QUIC punch
// through port-preserving NATs succeeded and one through symmetric NATs
// failed. The outcome is logged, not asserted (it is the network's, not
// the code's); what is checked: a punch that is reported successful gives
// a direct connection that carries a stream, and a failed one leaves the
// relayed connection working.
func TestNATStockHolePunch(t *testing.T) {
	netns.RequireNAT(t)
	for _, mode := range []netns.NATMode{netns.PortPreserving, netns.Symmetric} {
		t.Run(mode.String(), func(t *testing.T) {
			relay, e1, e2 := stockNATBed(t, mode, stockRelayConfig{}, true)
			// Both learn their observed address from the relay; the
			// DCUtR service starts on the first. Each side offers only
			// what the relay saw, so both reach the relay over QUIC:
			// with one on TCP and the other on QUIC, they would punch
			// with different transports and never meet.
			var quic []string
			for _, a := range readyAddrs(relay) {
				if strings.Contains(a, "/quic-v1") {
					quic = append(quic, a)
				}
			}
			for i, p := range []*proc{e1, e2} {
				ref := fmt.Sprintf("rsv%d", i+1)
				p.send(map[string]any{"cmd": "reserve", "ref": ref, "peer_id": relay.peerID(), "addrs": quic})
				answer(t, p, ref, "reserved")
				obs := p.wait("observed address", event("observed"))
				p.wait("DCUtR service", event("holepunch_ready"))
				t.Logf("%s observed at %v", p.name, obs["addr"])
			}
			start := time.Now()
			e1.send(map[string]any{"cmd": "echo", "ref": "relayed", "peer_id": e2.peerID(), "addrs": circuitAddrs(relay), "text": "before the punch"})
			answer(t, e1, "relayed", "echoed")
			// e2 received the relayed connection: it starts the punch.
			var outcome map[string]any
			fails := 0
			e2.collect(holePunchWait, func(ev map[string]any) bool {
				if ev["event"] != "holepunch" {
					return false
				}
				t.Logf("%s holepunch %v %v", e2.name, ev["type"], ev["detail"])
				detail, _ := ev["detail"].(map[string]any)
				switch ev["type"] {
				case "EndHolePunch":
					if detail["Success"] == true {
						outcome = ev
						return true
					}
					fails++
					return fails == 3
				case "ProtocolError":
					outcome = ev
					return true
				}
				return false
			})
			punched := outcome != nil && outcome["type"] == "EndHolePunch"
			switch {
			case punched:
				t.Logf("observation: %v NATs: DCUtR punched through (%.0f ms for the punch, %v after the relayed dial)",
					mode, outcome["detail"].(map[string]any)["EllapsedTime"].(float64)/1e6, time.Since(start).Round(time.Millisecond))
				e1.send(map[string]any{"cmd": "echo", "ref": "direct", "peer_id": e2.peerID(), "text": "after the punch", "direct": true})
				if ev := answer(t, e1, "direct", "echoed"); ev["limited"] != false {
					t.Errorf("after a successful punch the echo went over %v (limited %v)", ev["addr"], ev["limited"])
				} else {
					t.Logf("direct echo over %v", ev["addr"])
				}
			case outcome != nil:
				t.Errorf("DCUtR protocol error: %v", outcome["detail"])
			case fails == 0:
				t.Errorf("%v NATs: no DCUtR attempt within %v", mode, holePunchWait)
			default:
				t.Logf("observation: %v NATs: DCUtR did not punch through (%d failed attempts in %v)", mode, fails, time.Since(start).Round(time.Millisecond))
				e1.send(map[string]any{"cmd": "echo", "ref": "still", "peer_id": e2.peerID(), "text": "still relayed"})
				if ev := answer(t, e1, "still", "echoed"); ev["limited"] != true {
					t.Errorf("after a failed punch the echo went over %v (limited %v)", ev["addr"], ev["limited"])
				}
			}
			for _, p := range []*proc{e1, e2, relay} {
				p.stop()
			}
		})
	}
}
