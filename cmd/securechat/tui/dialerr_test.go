package tui

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/securechat/securechat/p2p"
)

// TestConnectFailureHumanLine checks that a dial error shows as the one
// line p2p.DescribeDialError words, not go-libp2p's text.
func TestConnectFailureHumanLine(t *testing.T) {
	hs := newHarness(t, 120, 24)
	addr := "/ip4/127.0.0.1/tcp/4999/p2p/" + bobID
	ta := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4999}
	refused := &net.OpError{Op: "dial", Net: "tcp4", Addr: ta, Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	hs.node.connectErr = fmt.Errorf("%w: %s: failed to dial: all dials failed\n  * [/ip4/127.0.0.1/tcp/4999] %w", p2p.ErrDialFailed, addr, refused)
	hs.line("/connect " + addr)
	hs.contains("Connect to 12D3Ko…bBBBBB failed: nobody is listening at 127.0.0.1:4999")
	hs.lacks("all dials failed")
	hs.event(p2p.DialFailed{Addr: "/ip4/10.0.0.5/tcp/1", Err: "raw text", Reason: "no route to 10.0.0.5\x1b[2J"})
	hs.contains("Dial to /ip4/10.0.0.5/tcp/1 failed: no route to 10.0.0.5")
	hs.lacks("raw text")
}
