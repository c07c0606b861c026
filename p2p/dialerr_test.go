package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/multiformats/go-multiaddr"
)

// opErr is the error net.Dial returns for a TCP dial to addr.
func opErr(addr string, errno error) error {
	ta, _ := net.ResolveTCPAddr("tcp", addr)
	return &net.OpError{Op: "dial", Net: "tcp4", Addr: ta, Err: &os.SyscallError{Syscall: "connect", Err: errno}}
}

// swarmErr is a swarm dial error as Connect wraps it, one transport error
// per address.
func swarmErr(t *testing.T, causes ...any) error {
	t.Helper()
	de := &swarm.DialError{Peer: peer.ID("x"), Cause: swarm.ErrAllDialsFailed}
	for i := 0; i < len(causes); i += 2 {
		de.DialErrors = append(de.DialErrors, swarm.TransportError{
			Address: multiaddr.StringCast(causes[i].(string)), Cause: causes[i+1].(error)})
	}
	return fmt.Errorf("%w: /ip4/1.2.3.4/tcp/1/p2p/x: failed to dial: %w", ErrDialFailed, de)
}

// timeoutErr is a connection deadline, as QUIC's idle timeout reports it.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "timeout: no recent network activity" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return false }

func TestDescribeDialError(t *testing.T) {
	relayCircuit := errors.New("error opening relay circuit: NO_RESERVATION (204)")
	relayID := testPeerID(t).String()
	viaRelay := "/ip4/10.0.0.1/tcp/4001/p2p/" + relayID + "/p2p-circuit"
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"refused", swarmErr(t, "/ip4/127.0.0.1/tcp/4999", opErr("127.0.0.1:4999", syscall.ECONNREFUSED)),
			"nobody is listening at 127.0.0.1:4999"},
		{"refused, no swarm", opErr("127.0.0.1:4999", syscall.ECONNREFUSED), "nobody is listening at 127.0.0.1:4999"},
		{"refused ipv6", swarmErr(t, "/ip6/::1/tcp/4999", opErr("[::1]:4999", syscall.ECONNREFUSED)),
			"nobody is listening at [::1]:4999"},
		{"no route", swarmErr(t, "/ip4/10.0.0.5/tcp/4001", opErr("10.0.0.5:4001", syscall.EHOSTUNREACH)),
			"no route to 10.0.0.5"},
		{"network unreachable", swarmErr(t, "/ip4/10.0.0.5/tcp/4001", opErr("10.0.0.5:4001", syscall.ENETUNREACH)),
			"no route to 10.0.0.5 (network unreachable)"},
		{"reset", swarmErr(t, "/ip4/10.0.0.5/tcp/4001", opErr("10.0.0.5:4001", syscall.ECONNRESET)),
			"the connection was reset by 10.0.0.5:4001"},
		{"whole dial timed out", fmt.Errorf("%w: /ip4/1.2.3.4/tcp/1: %w", ErrDialFailed, context.DeadlineExceeded), "timed out"},
		{"quic timed out", swarmErr(t, "/ip4/10.0.0.5/udp/4001/quic-v1", timeoutErr{}),
			"timed out reaching 10.0.0.5:4001 (UDP)"},
		{"swarm cause only", fmt.Errorf("%w: a: %w", ErrDialFailed, &swarm.DialError{Peer: "x", Cause: context.DeadlineExceeded}),
			"timed out"},
		{"two reasons", swarmErr(t,
			"/ip4/127.0.0.1/tcp/4999", opErr("127.0.0.1:4999", syscall.ECONNREFUSED),
			"/ip4/127.0.0.1/udp/4999/quic-v1", timeoutErr{}),
			"nobody is listening at 127.0.0.1:4999; timed out reaching 127.0.0.1:4999 (UDP)"},
		{"same reason twice", swarmErr(t,
			"/ip4/127.0.0.1/tcp/4999", opErr("127.0.0.1:4999", syscall.ECONNREFUSED),
			"/ip4/127.0.0.1/tcp/4999", opErr("127.0.0.1:4999", syscall.ECONNREFUSED)),
			"nobody is listening at 127.0.0.1:4999"},
		{"three reasons", swarmErr(t,
			"/ip4/127.0.0.1/tcp/1", opErr("127.0.0.1:1", syscall.ECONNREFUSED),
			"/ip4/127.0.0.2/tcp/1", opErr("127.0.0.2:1", syscall.ECONNREFUSED),
			"/ip4/127.0.0.3/tcp/1", opErr("127.0.0.3:1", syscall.ECONNREFUSED)),
			"nobody is listening at 127.0.0.1:1; nobody is listening at 127.0.0.2:1; 1 more reason"},
		{"peer id mismatch", swarmErr(t, "/ip4/127.0.0.1/tcp/4999",
			fmt.Errorf("failed to negotiate security protocol: %w", sec.ErrPeerIDMismatch{Expected: "a", Actual: "b"})),
			"peer ID mismatch (the address belongs to another peer)"},
		{"peer id mismatch pointer", fmt.Errorf("x: %w", &sec.ErrPeerIDMismatch{}),
			"peer ID mismatch (the address belongs to another peer)"},
		{"relay no reservation", swarmErr(t, viaRelay, relayCircuit),
			"the relay refused (no reservation: the peer is not reachable through it)"},
		{"reservation refused", fmt.Errorf("reserve: %w", client.ReservationError{Status: pbv2.Status_RESERVATION_REFUSED}),
			"the relay refused (reservation refused)"},
		{"relay connection refused", swarmErr(t, viaRelay,
			opErr("10.0.0.1:4001", syscall.ECONNREFUSED)),
			"nobody is listening at the relay " + relayID[len(relayID)-8:]},
		{"fingerprint mismatch", fmt.Errorf("%w: %w", ErrDialFailed, ErrFingerprintMismatch),
			"the peer's key does not match the fingerprint you gave; do not trust this address"},
		{"blocked by gater", swarmErr(t, "/ip4/10.0.0.5/tcp/4001", swarm.ErrGaterDisallowedConnection),
			"this node refuses that peer (blocked)"},
		{"backoff", fmt.Errorf("%w: a: %w", ErrDialFailed, swarm.ErrDialBackoff),
			"the last dial failed a moment ago; try again shortly"},
		{"closed", fmt.Errorf("%w: a: %w", ErrDialFailed, ErrClosed), "the node is shutting down"},
		{"bad address", fmt.Errorf("%w: a: must end", ErrBadAddress),
			"not a usable address (it must end in /p2p/<peer-id> and name another node)"},
		{"unknown, hostile text", swarmErr(t, "/ip4/10.0.0.5/tcp/4001",
			errors.New("protocol \x1b]0;pwned\a\x1b[2J\nnegotiation\tfailed")),
			"protocol negotiation failed"},
		{"unknown, innermost text", fmt.Errorf("%w: a: %w", ErrDialFailed, errors.New("no session")), "no session"},
		{"own wrapping", fmt.Errorf("%w: /ip4/1.2.3.4/tcp/1/p2p/x: the session ended at once", ErrDialFailed), "the session ended at once"},
		{"unknown, long", errors.New(strings.Repeat("x", 300)), strings.Repeat("x", maxFallbackRunes-1) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DescribeDialError(tt.err)
			if got != tt.want {
				t.Errorf("DescribeDialError() = %q\nwant %q\nfor  %q", got, tt.want, tt.err)
			}
			if strings.ContainsAny(got, "\x1b\a\n\r\t") {
				t.Errorf("DescribeDialError() = %q holds control characters", got)
			}
		})
	}
}

// TestDescribeDialErrorClosedPort dials a real node's port on 127.0.0.1
// that nothing listens on.
func TestDescribeDialErrorClosedPort(t *testing.T) {
	t.Parallel()
	a, b := newTestNode(t, "alice"), newTestNode(t, "bob")
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // the port is free now; nothing answers on it
	addr := multiaddr.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, b.PeerID()))
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_, err = a.Connect(ctx, addr)
	if !errors.Is(err, ErrDialFailed) {
		t.Fatalf("Connect to a closed port: %v, want ErrDialFailed", err)
	}
	if got, want := DescribeDialError(err), fmt.Sprintf("nobody is listening at 127.0.0.1:%d", port); got != want {
		t.Errorf("DescribeDialError() = %q, want %q (from %q)", got, want, err)
	}
}
