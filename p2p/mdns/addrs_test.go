package mdns

import (
	"fmt"
	"strings"
	"testing"

	"github.com/multiformats/go-multiaddr"
)

func maddrs(t *testing.T, ss ...string) []multiaddr.Multiaddr {
	t.Helper()
	var out []multiaddr.Multiaddr
	for _, s := range ss {
		a, err := multiaddr.NewMultiaddr(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		out = append(out, a)
	}
	return out
}

func TestLANAddrs(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"loopback and unspecified dropped",
			[]string{"/ip4/127.0.0.1/tcp/1", "/ip6/::1/tcp/1", "/ip4/0.0.0.0/tcp/1", "/ip4/10.0.0.5/tcp/1"},
			[]string{"/ip4/10.0.0.5/tcp/1"}},
		{"IPv6 link-local dropped, ULA kept",
			[]string{"/ip6/fe80::1/tcp/1", "/ip6/fd00::5/tcp/1"},
			[]string{"/ip6/fd00::5/tcp/1"}},
		{"only TCP and QUIC v1 directly over IP",
			[]string{"/ip4/10.0.0.5/tcp/1/ws", "/ip4/10.0.0.5/udp/2/quic-v1/webtransport", "/dns4/x.local/tcp/1",
				"/ip4/10.0.0.5/udp/2", "/ip4/10.0.0.5/udp/2/quic", "/ip4/10.0.0.5/udp/2/quic-v1", "/ip4/224.0.0.251/udp/5353/quic-v1"},
			[]string{"/ip4/10.0.0.5/udp/2/quic-v1"}},
		{"deduplicated",
			[]string{"/ip4/10.0.0.5/tcp/1", "/ip4/10.0.0.5/tcp/1"},
			[]string{"/ip4/10.0.0.5/tcp/1"}},
		{"IPv4 before IPv6, private before public, TCP before QUIC",
			[]string{"/ip6/2001:db8::1/tcp/1", "/ip6/fd00::1/udp/2/quic-v1", "/ip4/203.0.113.7/tcp/1",
				"/ip4/192.168.1.2/udp/2/quic-v1", "/ip4/192.168.1.2/tcp/1"},
			[]string{"/ip4/192.168.1.2/tcp/1", "/ip4/192.168.1.2/udp/2/quic-v1", "/ip4/203.0.113.7/tcp/1",
				"/ip6/fd00::1/udp/2/quic-v1", "/ip6/2001:db8::1/tcp/1"}},
		{"IPv4 link-local kept", []string{"/ip4/169.254.3.4/tcp/1"}, []string{"/ip4/169.254.3.4/tcp/1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lanAddrs(maddrs(t, tt.in...), 100, 0, false)
			var gs []string
			for _, a := range got {
				gs = append(gs, a.String())
			}
			if strings.Join(gs, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got  %v\nwant %v", gs, tt.want)
			}
		})
	}
	if got := lanAddrs(maddrs(t, "/ip4/127.0.0.1/tcp/1"), 100, 0, true); len(got) != 1 {
		t.Errorf("loopbackOK: got %v", got)
	}
}

// TestLANAddrsFitOnePacket: a host with many interfaces (go-libp2p issue
// 3415: three were enough to overflow an MTU) announces a bounded set that
// fits the TXT budget.
func TestLANAddrsFitOnePacket(t *testing.T) {
	var in []string
	for i := range 12 {
		in = append(in,
			fmt.Sprintf("/ip4/10.0.%d.2/tcp/40001", i),
			fmt.Sprintf("/ip4/10.0.%d.2/udp/40002/quic-v1", i),
			fmt.Sprintf("/ip6/2001:db8:%x:ffff:ffff:ffff:ffff:ffff/tcp/40001", i),
			fmt.Sprintf("/ip6/2001:db8:%x:ffff:ffff:ffff:ffff:ffff/udp/40002/quic-v1", i))
	}
	const idLen = 52 // an Ed25519 peer ID in base58
	got := lanAddrs(maddrs(t, in...), maxAdvertised, idLen, false)
	size := 0
	for _, a := range got {
		size += 1 + len("dnsaddr=") + len(a.String()) + len("/p2p/") + idLen
	}
	if len(got) == 0 || len(got) > maxAdvertised || size > txtBudget {
		t.Fatalf("%d addresses, %d TXT bytes; want 1..%d within %d", len(got), size, maxAdvertised, txtBudget)
	}
	if !strings.HasPrefix(got[0].String(), "/ip4/10.0.0.2/tcp/") {
		t.Errorf("first announced address %s, want the first private IPv4 TCP one", got[0])
	}
}

// TestAnnounceHost: the host the mDNS service sees answers with the
// snapshot through both paths go-libp2p versions use, and is otherwise the
// wrapped host.
func TestAnnounceHost(t *testing.T) {
	h := newHost(t)
	snap := maddrs(t, "/ip4/10.231.0.9/tcp/4001")
	ah := announceHost{Host: h, addrs: snap}
	got, err := ah.Network().InterfaceListenAddresses()
	if err != nil || !sameAddrs(got, snap) || !sameAddrs(ah.Addrs(), snap) {
		t.Fatalf("InterfaceListenAddresses = %v, %v; Addrs = %v; want %v", got, err, ah.Addrs(), snap)
	}
	if ah.ID() != h.ID() || ah.Network().LocalPeer() != h.ID() {
		t.Fatal("wrapped host has another identity")
	}
	if sameAddrs(h.Addrs(), snap) {
		t.Fatal("the host's own addresses changed")
	}
}

func TestSameAddrs(t *testing.T) {
	x, y := maddrs(t, "/ip4/10.0.0.1/tcp/1"), maddrs(t, "/ip4/10.0.0.2/tcp/1")
	xy, yx := append(x[:1:1], y...), append(y[:1:1], x...)
	for _, tt := range []struct {
		a, b []multiaddr.Multiaddr
		want bool
	}{{nil, nil, true}, {x, x, true}, {x, y, false}, {x, xy, false}, {xy, yx, false}, {xy, xy, true}} {
		if got := sameAddrs(tt.a, tt.b); got != tt.want {
			t.Errorf("sameAddrs(%v, %v) = %v", tt.a, tt.b, got)
		}
	}
}
