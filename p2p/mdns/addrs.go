package mdns

import (
	"net"
	"sort"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/multiformats/go-multiaddr"
)

// Limits on the addresses in an mDNS announcement. go-libp2p puts every
// interface address of every listener in one TXT record; with a few
// interfaces (VPNs, containers, WSL) the response outgrows an Ethernet
// MTU, and receivers that do not reassemble fragments never see it
// (go-libp2p issue 3415). RFC 6762 section 17 asks for responses within the
// MTU. The TXT budget leaves room under ~1400 bytes for the PTR, SRV and A
// records and a 63-character instance name, with name compression.
const (
	// maxAdvertised caps the addresses we announce.
	maxAdvertised = 8
	// txtBudget caps the bytes of the announced TXT strings.
	txtBudget = 900
	// maxRemoteAddrs caps the addresses taken from a peer's
	// announcement: a LAN host may announce anything.
	maxRemoteAddrs = 16
)

// lanAddrs returns the addresses of addrs that a peer on the LAN can dial:
// TCP or QUIC v1 directly over an IP address that is neither loopback,
// unspecified, multicast nor IPv6 link-local (which needs a zone libp2p
// does not carry). They come deduplicated, IPv4 before IPv6 and private
// before public, TCP before QUIC, at most max of them; with idLen > 0 they
// also fit txtBudget as "dnsaddr=<addr>/p2p/<id>" TXT strings.
func lanAddrs(addrs []multiaddr.Multiaddr, max, idLen int, loopbackOK bool) []multiaddr.Multiaddr {
	type ranked struct {
		a    multiaddr.Multiaddr
		s    string
		rank int
	}
	seen := make(map[string]bool)
	var keep []ranked
	for _, a := range addrs {
		rank, ok := lanRank(a, loopbackOK)
		s := a.String()
		if !ok || seen[s] {
			continue
		}
		seen[s] = true
		keep = append(keep, ranked{a, s, rank})
	}
	sort.SliceStable(keep, func(i, j int) bool { return keep[i].rank < keep[j].rank })
	var out []multiaddr.Multiaddr
	used := 0
	for _, k := range keep {
		if len(out) == max {
			break
		}
		if idLen > 0 {
			// One length byte, then "dnsaddr=" + addr + "/p2p/" + id.
			size := 1 + len("dnsaddr=") + len(k.s) + len("/p2p/") + idLen
			if used+size > txtBudget {
				continue
			}
			used += size
		}
		out = append(out, k.a)
	}
	return out
}

// lanRank reports whether a is a LAN-dialable TCP or QUIC v1 address, and
// its place in the preference order (lower first).
func lanRank(a multiaddr.Multiaddr, loopbackOK bool) (int, bool) {
	if len(a) < 2 {
		return 0, false
	}
	var ip net.IP
	rank := 0
	switch a[0].Protocol().Code {
	case multiaddr.P_IP4:
		ip = net.IP(a[0].RawValue())
	case multiaddr.P_IP6:
		ip = net.IP(a[0].RawValue())
		rank = 4
	default:
		return 0, false
	}
	switch {
	case ip.IsLoopback() && !loopbackOK,
		ip.IsUnspecified(), ip.IsMulticast(),
		ip.To4() == nil && ip.IsLinkLocalUnicast():
		return 0, false
	case !ip.IsPrivate() && !ip.IsLinkLocalUnicast():
		rank += 2
	}
	switch {
	case len(a) == 2 && a[1].Protocol().Code == multiaddr.P_TCP:
	case len(a) == 3 && a[1].Protocol().Code == multiaddr.P_UDP && a[2].Protocol().Code == multiaddr.P_QUIC_V1:
		rank++
	default:
		return 0, false
	}
	return rank, true
}

// announceHost is the host as go-libp2p's mDNS service sees it: our host
// with its addresses replaced by a filtered snapshot. The service reads
// Network().InterfaceListenAddresses() (and, in other versions,
// Addrs()) once when it starts, so the snapshot is exactly what is
// announced. Filtering here, rather than with libp2p.AddrsFactory, leaves
// the addresses every other part of libp2p uses (identify, Ready, dials)
// untouched; AddrsFactory would not even reach the mDNS service, which
// asks the network, not the host.
type announceHost struct {
	host.Host
	addrs []multiaddr.Multiaddr
}

// Addrs returns the filtered snapshot.
func (h announceHost) Addrs() []multiaddr.Multiaddr { return h.addrs }

// Network returns the host's network with the filtered snapshot as its
// interface listen addresses.
func (h announceHost) Network() network.Network { return announceNetwork{h.Host.Network(), h.addrs} }

// announceNetwork is [announceHost]'s network.
type announceNetwork struct {
	network.Network
	addrs []multiaddr.Multiaddr
}

// InterfaceListenAddresses returns the filtered snapshot.
func (m announceNetwork) InterfaceListenAddresses() ([]multiaddr.Multiaddr, error) {
	return m.addrs, nil
}

// sameAddrs reports whether a and b hold the same addresses in order.
func sameAddrs(a, b []multiaddr.Multiaddr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}
