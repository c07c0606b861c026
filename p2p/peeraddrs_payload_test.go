package p2p

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/multiformats/go-multiaddr"
)

// sampleAddrs are addresses of every kind a node announces.
func sampleAddrs(t testing.TB) []multiaddr.Multiaddr {
	t.Helper()
	var out []multiaddr.Multiaddr
	for _, s := range []string{
		"/ip4/192.0.2.7/tcp/4001",
		"/ip4/192.0.2.7/udp/4001/quic-v1",
		"/ip6/2001:db8::1/tcp/4001",
		"/ip4/198.51.100.9/tcp/4001/p2p/12D3KooWQ9F8sDpqdhRnc3DJrqy4hc6XnZXjNhVzgvBzkYDTLf8p/p2p-circuit",
		"/dns4/chat.example/tcp/443",
	} {
		out = append(out, multiaddr.StringCast(s))
	}
	return out
}

// TestAddrsPayloadRoundTrip: an ADDRS payload parses back to the same
// addresses, from none up to the cap; the encoder leaves out what the caps
// refuse, so what it makes always parses.
func TestAddrsPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	var many []multiaddr.Multiaddr
	for i := range maxAnnouncedAddrs + 4 {
		many = append(many, multiaddr.StringCast(fmt.Sprintf("/ip4/10.0.0.%d/tcp/%d", i+1, 4000+i)))
	}
	long := multiaddr.StringCast("/dns4/" + string(bytes.Repeat([]byte("a"), 250)) + "/tcp/1")
	tests := []struct {
		name string
		in   []multiaddr.Multiaddr
		want []multiaddr.Multiaddr
	}{
		{"none", nil, nil},
		{"kinds", sampleAddrs(t), sampleAddrs(t)},
		{"over the count cap", many, many[:maxAnnouncedAddrs]},
		{"over the length cap", []multiaddr.Multiaddr{long, many[0]}, many[:1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := encodeAddrs(tt.in)
			p, err := parsePayload(enc)
			if err != nil {
				t.Fatalf("parsePayload: %v", err)
			}
			if p.typ != payloadAddrs || !slices.EqualFunc(p.addrs, tt.want, multiaddr.Multiaddr.Equal) {
				t.Fatalf("got type %d %v, want %v", p.typ, p.addrs, tt.want)
			}
		})
	}
	if len(long.Bytes()) <= maxAddrBytes {
		t.Fatalf("the long address is %d bytes: the test proves nothing", len(long.Bytes()))
	}
}

// addrsRaw builds an ADDRS payload by hand: a count, then each raw
// address after its length byte.
func addrsRaw(count byte, raws ...[]byte) []byte {
	b := []byte{payloadAddrs, count}
	for _, r := range raws {
		b = append(b, byte(len(r)))
		b = append(b, r...)
	}
	return b
}

// TestAddrsPayloadHostile: every break of the ADDRS rules is errPayload.
func TestAddrsPayloadHostile(t *testing.T) {
	t.Parallel()
	tcp := multiaddr.StringCast("/ip4/192.0.2.7/tcp/4001").Bytes()
	quic := multiaddr.StringCast("/ip4/192.0.2.7/udp/4001/quic-v1").Bytes()
	withID := multiaddr.StringCast("/ip4/192.0.2.7/tcp/4001/p2p/12D3KooWQ9F8sDpqdhRnc3DJrqy4hc6XnZXjNhVzgvBzkYDTLf8p").Bytes()
	var seventeen [][]byte
	for i := range maxAnnouncedAddrs + 1 {
		seventeen = append(seventeen, multiaddr.StringCast(fmt.Sprintf("/ip4/10.0.0.%d/tcp/1", i+1)).Bytes())
	}
	// A DNS name with a control character: a valid multiaddr, but not
	// one a terminal may show.
	ctrl := append([]byte{0x36, 3}, 'a', 0x1b, 'b') // dns4 (54), length 3
	if _, err := multiaddr.NewMultiaddrBytes(ctrl); err != nil {
		t.Fatalf("control-character fixture does not parse: %v", err)
	}
	// ip4 as a two-byte varint (0x84 0x00): the same address, not minimal.
	longVarint := append([]byte{0x84, 0x00}, tcp[1:]...)
	tests := []struct {
		name string
		in   []byte
	}{
		{"no count", []byte{payloadAddrs}},
		{"too many", addrsRaw(maxAnnouncedAddrs+1, seventeen...)},
		{"count over the list", addrsRaw(2, tcp)},
		{"count under the list", addrsRaw(1, tcp, quic)},
		{"trailing byte", append(addrsRaw(1, tcp), 0)},
		{"zero length", addrsRaw(1, nil)},
		{"length past the end", append([]byte{payloadAddrs, 1, 255}, tcp...)},
		{"too long for its length", append(addrsRaw(1, tcp[:len(tcp)-1]), tcp[len(tcp)-1])},
		{"unparsable", addrsRaw(1, []byte{0xff, 0xff, 0xff})},
		{"unknown protocol", addrsRaw(1, []byte{0x7f, 1, 2})},
		{"truncated address", addrsRaw(1, tcp[:len(tcp)-1])},
		{"non-minimal varint", addrsRaw(1, longVarint)},
		{"ends in its peer ID", addrsRaw(1, withID)},
		{"repeated", addrsRaw(2, tcp, tcp)},
		{"control character", addrsRaw(1, ctrl)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := parsePayload(tt.in); err != errPayload {
				t.Fatalf("parsePayload(%x) = %+v, %v; want errPayload", tt.in, p, err)
			}
		})
	}
}

// FuzzParseAddrs: whatever ADDRS payload parses keeps the caps and
// re-encodes to the same bytes.
func FuzzParseAddrs(f *testing.F) {
	f.Add(encodeAddrs(sampleAddrs(f)))
	f.Add(encodeAddrs(nil))
	f.Add(addrsRaw(1, []byte{0x84, 0x00, 1, 2, 3, 4}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePayload(append([]byte{payloadAddrs}, b...))
		if err != nil {
			return
		}
		if len(p.addrs) > maxAnnouncedAddrs {
			t.Fatalf("%d addresses parsed", len(p.addrs))
		}
		for _, a := range p.addrs {
			if n := len(a.Bytes()); n == 0 || n > maxAddrBytes || !printableASCII(a.String()) {
				t.Fatalf("address %q (%d bytes) parsed", a, n)
			}
		}
		if again := encodeAddrs(p.addrs); !bytes.Equal(again[1:], b) {
			t.Fatalf("re-encoding %x gave %x", b, again[1:])
		}
	})
}

// TestAddrsPayloadBytes: the example of e2e/PROTOCOL.md, byte for byte.
func TestAddrsPayloadBytes(t *testing.T) {
	t.Parallel()
	const want = "0402" + "0804c0000207060fa1" + "0b04c000020791020fa1cd03"
	got := encodeAddrs([]multiaddr.Multiaddr{
		multiaddr.StringCast("/ip4/192.0.2.7/tcp/4001"),
		multiaddr.StringCast("/ip4/192.0.2.7/udp/4001/quic-v1"),
	})
	if h := fmt.Sprintf("%x", got); h != want || len(got) != 23 {
		t.Fatalf("ADDRS = %s (%d bytes), want %s", h, len(got), want)
	}
}
