package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/securechat/securechat/p2p"
)

// refusedErr is what the node's Connect returns for a port nobody listens
// on, less go-libp2p's swarm wrapping.
func refusedErr(addr string) error {
	ta, _ := net.ResolveTCPAddr("tcp", addr)
	op := &net.OpError{Op: "dial", Net: "tcp4", Addr: ta, Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	return fmt.Errorf("%w: /ip4/%s/p2p/x: %w", p2p.ErrDialFailed, strings.Replace(addr, ":", "/tcp/", 1), op)
}

// TestHeadlessDialErrorIsOneLine checks that a failed connect keeps its
// code and says why in one human line, not go-libp2p's text.
func TestHeadlessDialErrorIsOneLine(t *testing.T) {
	n := newFakeNode()
	n.connectErr = refusedErr("127.0.0.1:9")
	h := startAPI(t, n, nil)
	h.write(`{"cmd":"connect","addr":"/ip4/127.0.0.1/tcp/9/p2p/` + validPeerID + `","ref":"c1"}`)
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "dial_failed", "ref": "c1",
		"message": "nobody is listening at 127.0.0.1:9"})

	// A failure of the node's own dial carries its line; a hostile one is
	// cleaned, and one without a line gets one from the raw text.
	n.events <- p2p.DialFailed{Addr: "/ip4/10.0.0.5/tcp/1/p2p/x", Err: "raw\nlines", Reason: "no route to 10.0.0.5"}
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "dial_failed", "message": "no route to 10.0.0.5"})
	n.events <- p2p.DialFailed{Addr: "/ip4/10.0.0.6/tcp/1/p2p/x", Reason: "bad\x1b[2J\x07 line"}
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "dial_failed", "message": "bad line"})
	n.events <- p2p.DialFailed{Addr: "/ip4/10.0.0.7/tcp/1/p2p/x", Err: "failed to dial x:\n  * [/ip4/10.0.0.7/tcp/1] some\x1b]0;t\x07 cause"}
	checkFields(t, h.next(), map[string]any{"event": "error", "code": "dial_failed", "message": "failed to dial x: * [/ip4/10.0.0.7/tcp/1] some cause"})
}

// TestLineModeDialError checks the line interface's wording of a failed
// connect.
func TestLineModeDialError(t *testing.T) {
	n := newFakeNode()
	n.connectErr = refusedErr("127.0.0.1:9")
	h := startLineMode(t, n)
	h.typeLine("/connect /ip4/127.0.0.1/tcp/9/p2p/" + validPeerID)
	h.expect("*** could not connect to /ip4/127.0.0.1/tcp/9/p2p/" + validPeerID + ": nobody is listening at 127.0.0.1:9\n")
	n.events <- p2p.DialFailed{Addr: "/ip4/10.0.0.5/tcp/1/p2p/x", Reason: "no route to 10.0.0.5"}
	h.expect("*** could not connect to /ip4/10.0.0.5/tcp/1/p2p/x: no route to 10.0.0.5\n")
}
