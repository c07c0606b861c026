package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/cmd/securechat/internal/netns"
)

// The LAN tests run the real binary, mDNS on, inside network namespaces the
// test creates (internal/netns): one bridge, one namespace per node,
// addresses in 10.231.0.0/24. mDNS never runs in the root namespace: every
// node these tests start is inside a namespace, and listens only on its LAN
// address.

// lanWait bounds every wait of the LAN tests.
const lanWait = 30 * time.Second

// startLAN starts a headless node in h with mDNS on, listening on h's LAN
// address over TCP and QUIC, and waits for its ready event. Two pseudo
// flags change the listen addresses: --listen-any (TCP and QUIC on
// 0.0.0.0) and --default-listen (no --listen: the binary's defaults, every
// IPv4 and IPv6 interface).
func startLAN(t testing.TB, h *netns.Host, name string, env []string, args ...string) *proc {
	t.Helper()
	ip, listen := h.IP, true
	var rest []string
	for _, a := range args {
		switch a {
		case "--listen-any":
			ip = "0.0.0.0"
		case "--default-listen":
			listen = false
		default:
			rest = append(rest, a)
		}
	}
	full := []string{"--headless", "--name", name}
	if listen {
		full = append(full, "--listen", "/ip4/"+ip+"/tcp/0", "--listen", "/ip4/"+ip+"/udp/0/quic-v1")
	}
	return startProc(t, name, h.Command, env, append(full, rest...)...)
}

// wait returns the first event since the start that pred accepts.
func (p *proc) wait(what string, pred func(map[string]any) bool) map[string]any {
	p.t.Helper()
	ev, _ := p.waitAt(lanWait, what, pred)
	return ev
}

// quit asks the node to leave and waits until it exited and its output is
// read to the end.
func (p *proc) quit() {
	p.t.Helper()
	p.send(map[string]any{"cmd": "quit"})
	if code := p.waitExit(lanWait); code != 0 {
		p.t.Errorf("%s exited with %d: %s", p.name, code, p.stderr.String())
	}
}

// event returns a predicate for events of kind with the given fields.
func event(kind string, fields ...string) func(map[string]any) bool {
	if len(fields)%2 != 0 {
		panic("event: odd fields")
	}
	return func(ev map[string]any) bool {
		if ev["event"] != kind {
			return false
		}
		for i := 0; i < len(fields); i += 2 {
			if fmt.Sprint(ev[fields[i]]) != fields[i+1] {
				return false
			}
		}
		return true
	}
}

// sessionUp waits until a and b have a session, on both sides.
func sessionUp(a, b *proc) (aUp, bUp map[string]any) {
	a.t.Helper()
	return a.wait("session_up with "+b.name, event("session_up", "peer_id", b.peerID())),
		b.wait("session_up with "+a.name, event("session_up", "peer_id", a.peerID()))
}

// chat sends text from a to b and waits until b shows it and a has the
// receipt.
func chat(a, b *proc, text string) {
	a.t.Helper()
	ref := "r-" + strings.ReplaceAll(text, " ", "-")
	a.send(map[string]any{"cmd": "send", "to": b.peerID(), "text": text, "ref": ref})
	sent := a.wait("sent "+text, event("sent", "ref", ref))
	b.wait("message "+text, event("message", "peer_id", a.peerID(), "text", text))
	a.wait("delivered "+text, event("delivered", "peer_id", b.peerID(), "id", sent["id"].(string)))
}

// peerEntry returns b's entry in a's answer to peers.
func peerEntry(a, b *proc, ref string) map[string]any {
	a.t.Helper()
	a.send(map[string]any{"cmd": "peers", "ref": ref})
	ev := a.wait("peers "+ref, event("peers", "ref", ref))
	list, _ := ev["peers"].([]any)
	for _, p := range list {
		if m, ok := p.(map[string]any); ok && m["peer_id"] == b.peerID() {
			return m
		}
	}
	a.t.Fatalf("%s: %s not in peers %v", a.name, b.name, list)
	return nil
}
