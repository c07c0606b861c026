package p2p

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/multiformats/go-multiaddr"
)

// maxDialReasons is how many different per-address reasons one line names;
// the rest are counted.
const maxDialReasons = 2

// maxFallbackRunes bounds the text of an error DescribeDialError does not
// recognise.
const maxFallbackRunes = 100

// DescribeDialError words a failed dial (the error of [Node.Connect] or
// [Node.ConnectInvite], or the failure behind a [DialFailed]) as one short
// line for people: "nobody is listening at 127.0.0.1:4999", "no route to
// 10.0.0.5", "timed out", "peer ID mismatch (the address belongs to another
// peer)", "the relay refused (no reservation)". go-libp2p's own text (every
// address tried, each with its wrapped cause, over several lines) is for
// the debug log, where the node writes it.
//
// The line holds no control characters: what it quotes of an unrecognised
// error is sanitized like a remote name and cut short, since an error's
// text may carry bytes a peer or a relay sent. It is "" for a nil error.
func DescribeDialError(err error) string {
	if err == nil {
		return ""
	}
	// Failures of the whole attempt, whatever each address did.
	if s := describeWhole(err); s != "" {
		return s
	}
	var de *swarm.DialError
	if errors.As(err, &de) && len(de.DialErrors) > 0 {
		var reasons []string
		for _, te := range de.DialErrors {
			r := describeCause(te.Cause, te.Address)
			if !slices.Contains(reasons, r) {
				reasons = append(reasons, r)
			}
		}
		line := strings.Join(reasons[:min(len(reasons), maxDialReasons)], "; ")
		if n := len(reasons) - maxDialReasons; n > 0 {
			line += fmt.Sprintf("; %d more %s", n, plural(n, "reason", "reasons"))
		}
		if de.Skipped > 0 {
			line += fmt.Sprintf(" (%d more %s not shown)", de.Skipped, plural(de.Skipped, "address", "addresses"))
		}
		return line
	}
	var te *swarm.TransportError
	if errors.As(err, &te) {
		return describeCause(te.Cause, te.Address)
	}
	return describeCause(err, nil)
}

// describeWhole words the failures that concern a dial as a whole, or "".
func describeWhole(err error) string {
	var mismatch sec.ErrPeerIDMismatch
	var mismatchPtr *sec.ErrPeerIDMismatch
	switch {
	case errors.As(err, &mismatch), errors.As(err, &mismatchPtr):
		return "peer ID mismatch (the address belongs to another peer)"
	case errors.Is(err, ErrFingerprintMismatch):
		return "the peer's key does not match the fingerprint you gave; do not trust this address"
	case errors.Is(err, ErrKeyChanged):
		return "the peer's key changed; compare it, then accept it with trust-new-key"
	case errors.Is(err, ErrBadAddress):
		return "not a usable address (it must end in /p2p/<peer-id> and name another node)"
	case errors.Is(err, ErrClosed), errors.Is(err, swarm.ErrSwarmClosed):
		return "the node is shutting down"
	case errors.Is(err, swarm.ErrDialToSelf):
		return "that address is this node"
	case errors.Is(err, swarm.ErrGaterDisallowedConnection):
		return "this node refuses that peer (blocked)"
	case errors.Is(err, swarm.ErrNoAddresses), errors.Is(err, swarm.ErrNoGoodAddresses):
		return "no usable address for that peer"
	case errors.Is(err, swarm.ErrDialBackoff):
		return "the last dial failed a moment ago; try again shortly"
	case errors.Is(err, swarm.ErrNoTransport):
		return "this node cannot dial that kind of address"
	}
	var de *swarm.DialError
	if errors.As(err, &de) && len(de.DialErrors) == 0 && de.Cause != nil {
		// No address was tried: the cause says why.
		return describeCause(de.Cause, nil)
	}
	if !errors.As(err, &de) && dialTimedOut(err) {
		return "timed out"
	}
	return ""
}

// describeCause words why one address failed; addr is nil when unknown.
func describeCause(err error, addr multiaddr.Multiaddr) string {
	if s := describeWhole(err); s != "" && s != "timed out" {
		return s
	}
	hostPort, host := addrParts(err, addr)
	var res client.ReservationError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "nobody is listening at " + orSomething(hostPort, "that address")
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to " + orSomething(host, "that host")
	case errors.Is(err, syscall.ENETUNREACH):
		return "no route to " + orSomething(host, "that network") + " (network unreachable)"
	case errors.Is(err, syscall.ECONNRESET):
		return "the connection was reset by " + orSomething(hostPort, "the other end")
	case errors.As(err, &res):
		return relayLine(res.Status)
	case dialTimedOut(err), errors.Is(err, swarm.ErrDialTimeout):
		if hostPort != "" {
			return "timed out reaching " + hostPort
		}
		return "timed out"
	}
	if s := relayRefusal(err.Error()); s != "" {
		return s
	}
	return fallbackText(err)
}

// relayRefusal recognises the status a relay answered a circuit with.
// go-libp2p's relay client keeps that error type to itself; its text names
// the status from the protocol's own table ("error opening relay circuit:
// NO_RESERVATION (204)"), so matching the names is safe.
func relayRefusal(text string) string {
	if !strings.Contains(text, "relay circuit") {
		return ""
	}
	for _, s := range relayRefusals {
		if strings.Contains(text, s.String()) {
			return relayLine(s)
		}
	}
	return ""
}

// relayRefusals are the statuses a relay refuses with, in the order
// relayRefusal looks for their names (no name contains another).
var relayRefusals = []pbv2.Status{
	pbv2.Status_NO_RESERVATION, pbv2.Status_RESERVATION_REFUSED, pbv2.Status_RESOURCE_LIMIT_EXCEEDED,
	pbv2.Status_PERMISSION_DENIED, pbv2.Status_CONNECTION_FAILED, pbv2.Status_MALFORMED_MESSAGE,
	pbv2.Status_UNEXPECTED_MESSAGE,
}

// relayLine words a relay's refusal.
func relayLine(s pbv2.Status) string {
	switch s {
	case pbv2.Status_NO_RESERVATION:
		return "the relay refused (no reservation: the peer is not reachable through it)"
	case pbv2.Status_RESERVATION_REFUSED:
		return "the relay refused (reservation refused)"
	case pbv2.Status_RESOURCE_LIMIT_EXCEEDED:
		return "the relay refused (it is full)"
	case pbv2.Status_PERMISSION_DENIED:
		return "the relay refused (permission denied)"
	case pbv2.Status_CONNECTION_FAILED:
		return "the relay could not reach the peer"
	}
	return "the relay refused (protocol error)"
}

// addrParts finds the address an error is about: the multiaddr the swarm
// tried, else a net.OpError's. It returns "host:port" (with the transport
// when it is not TCP) and the host alone; "" when unknown.
func addrParts(err error, addr multiaddr.Multiaddr) (hostPort, host string) {
	if addr != nil {
		if _, err := addr.ValueForProtocol(multiaddr.P_CIRCUIT); err == nil {
			relay, _ := addr.ValueForProtocol(multiaddr.P_P2P)
			s := "the relay"
			if relay != "" {
				s += " " + shortPeerID(relay)
			}
			return s, s
		}
		for _, p := range []int{multiaddr.P_IP4, multiaddr.P_IP6, multiaddr.P_DNS, multiaddr.P_DNS4, multiaddr.P_DNS6} {
			if v, err := addr.ValueForProtocol(p); err == nil {
				host = v
				break
			}
		}
		if host == "" {
			return "", ""
		}
		if port, err := addr.ValueForProtocol(multiaddr.P_TCP); err == nil {
			return net.JoinHostPort(host, port), host
		}
		if port, err := addr.ValueForProtocol(multiaddr.P_UDP); err == nil {
			return net.JoinHostPort(host, port) + " (UDP)", host
		}
		return host, host
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Addr != nil {
		hostPort = op.Addr.String()
		host = hostPort
		if h, _, err := net.SplitHostPort(hostPort); err == nil {
			host = h
		}
		return SanitizeName(hostPort), SanitizeName(host)
	}
	return "", ""
}

// shortPeerID is the last 8 characters of a peer ID, as the front ends
// show it.
func shortPeerID(id string) string {
	return SanitizeName(id[max(0, len(id)-8):])
}

// dialTimedOut reports a deadline: the context's or a connection's.
func dialTimedOut(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// fallbackText is an unrecognised error's innermost text (or, when that is
// ErrDialFailed itself, the last part of the whole text), on one line,
// sanitized and cut short.
func fallbackText(err error) string {
	whole := err.Error()
	for {
		next := errors.Unwrap(err)
		if next == nil {
			if u, ok := err.(interface{ Unwrap() []error }); ok {
				if es := u.Unwrap(); len(es) > 0 {
					next = es[len(es)-1]
				}
			}
		}
		if next == nil || next.Error() == "" {
			break
		}
		err = next
	}
	text := err.Error()
	if errors.Is(err, ErrDialFailed) {
		// Our own wrapping, with the reason in its text: "p2p: dial
		// failed: ADDR: the session ended at once".
		if i := strings.LastIndex(whole, ": "); i >= 0 {
			text = whole[i+2:]
		}
	}
	s := strings.Join(strings.Fields(SanitizeText(text)), " ")
	if utf8.RuneCountInString(s) > maxFallbackRunes {
		s = string([]rune(s)[:maxFallbackRunes-1]) + "…"
	}
	if s == "" {
		return "failed"
	}
	return s
}

// orSomething is s, or what stands for it when it is empty.
func orSomething(s, instead string) string {
	if s == "" {
		return instead
	}
	return s
}

// plural picks the word for n things.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
