package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
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

// lanNode is a headless securechat process inside a namespace, with every
// event it printed kept in order.
type lanNode struct {
	t      testing.TB
	name   string
	host   *netns.Host
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *lockedBuffer
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
	ready  map[string]any
	start  time.Time

	mu      sync.Mutex
	evs     []map[string]any
	times   []time.Time
	changed chan struct{}
	eof     chan struct{} // stdout closed
}

// startLAN starts a headless node in h with mDNS on, listening on h's LAN
// address over TCP and QUIC, and waits for its ready event. Two pseudo
// flags change the listen addresses: --listen-any (TCP and QUIC on
// 0.0.0.0) and --default-listen (no --listen: the binary's defaults, every
// IPv4 and IPv6 interface).
func startLAN(t testing.TB, h *netns.Host, name string, env []string, args ...string) *lanNode {
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
	full = append(full, rest...)
	cmd := h.Command(context.Background(), binPath, full...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.WaitDelay = 2 * time.Second
	n := &lanNode{t: t, name: name, host: h, cmd: cmd, stderr: &lockedBuffer{},
		exited: make(chan struct{}), changed: make(chan struct{}), eof: make(chan struct{})}
	var err error
	if n.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = n.stderr
	n.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go n.read(stdout)
	go func() {
		n.err = cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-n.exited:
		default:
			_ = cmd.Process.Kill()
			<-n.exited
		}
		<-n.eof
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, n.stderr.String())
		}
	})
	n.ready = n.wait("ready", func(ev map[string]any) bool { return ev["event"] == "ready" })
	return n
}

func (n *lanNode) read(stdout io.Reader) {
	defer close(n.eof)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			n.t.Errorf("%s: stdout line is not JSON: %q", n.name, sc.Text())
			continue
		}
		n.mu.Lock()
		n.evs = append(n.evs, m)
		n.times = append(n.times, time.Now())
		close(n.changed)
		n.changed = make(chan struct{})
		n.mu.Unlock()
	}
}

func (n *lanNode) peerID() string      { return n.ready["peer_id"].(string) }
func (n *lanNode) fingerprint() string { return n.ready["fingerprint"].(string) }

// send writes one command.
func (n *lanNode) send(cmd map[string]any) {
	n.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		n.t.Fatal(err)
	}
	if _, err := n.stdin.Write(append(b, '\n')); err != nil {
		n.t.Fatalf("%s: write stdin: %v", n.name, err)
	}
}

// wait returns the first event (from the start) that pred accepts.
func (n *lanNode) wait(what string, pred func(map[string]any) bool) map[string]any {
	n.t.Helper()
	ev, _ := n.waitAt(what, pred)
	return ev
}

// waitAt is wait that also returns when the event was read.
func (n *lanNode) waitAt(what string, pred func(map[string]any) bool) (map[string]any, time.Time) {
	n.t.Helper()
	deadline := time.After(lanWait)
	eof := false
	for {
		n.mu.Lock()
		for i, ev := range n.evs {
			if pred(ev) {
				at := n.times[i]
				n.mu.Unlock()
				return ev, at
			}
		}
		changed := n.changed
		n.mu.Unlock()
		if eof {
			n.t.Fatalf("%s: stdout closed waiting for %s; events: %v\nstderr: %s", n.name, what, n.events(), n.stderr.String())
		}
		select {
		case <-changed:
		case <-n.eof:
			eof = true // every event is in; look once more
		case <-deadline:
			n.t.Fatalf("%s: no %s within %v; events: %v", n.name, what, lanWait, n.events())
		}
	}
}

// events returns a copy of the events so far.
func (n *lanNode) events() []map[string]any {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]map[string]any(nil), n.evs...)
}

// count counts the events pred accepts.
func (n *lanNode) count(pred func(map[string]any) bool) int {
	k := 0
	for _, ev := range n.events() {
		if pred(ev) {
			k++
		}
	}
	return k
}

// quit asks the node to leave and waits until it exited and its output is
// read to the end.
func (n *lanNode) quit() {
	n.t.Helper()
	n.send(map[string]any{"cmd": "quit"})
	select {
	case <-n.exited:
	case <-time.After(lanWait):
		n.t.Fatalf("%s did not exit within %v", n.name, lanWait)
	}
	<-n.eof
	var ee *exec.ExitError
	if errors.As(n.err, &ee) {
		n.t.Errorf("%s exited with %d: %s", n.name, ee.ExitCode(), n.stderr.String())
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
func sessionUp(a, b *lanNode) (aUp, bUp map[string]any) {
	a.t.Helper()
	return a.wait("session_up with "+b.name, event("session_up", "peer_id", b.peerID())),
		b.wait("session_up with "+a.name, event("session_up", "peer_id", a.peerID()))
}

// chat sends text from a to b and waits until b shows it and a has the
// receipt.
func chat(a, b *lanNode, text string) {
	a.t.Helper()
	ref := "r-" + strings.ReplaceAll(text, " ", "-")
	a.send(map[string]any{"cmd": "send", "to": b.peerID(), "text": text, "ref": ref})
	sent := a.wait("sent "+text, event("sent", "ref", ref))
	b.wait("message "+text, event("message", "peer_id", a.peerID(), "text", text))
	a.wait("delivered "+text, event("delivered", "peer_id", b.peerID(), "id", sent["id"].(string)))
}

// peerEntry returns b's entry in a's answer to peers.
func peerEntry(a, b *lanNode, ref string) map[string]any {
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

// waitCount waits until k events match pred.
func waitCount(n *lanNode, what string, k int, pred func(map[string]any) bool) {
	n.t.Helper()
	deadline := time.After(lanWait)
	for {
		n.mu.Lock()
		changed := n.changed
		n.mu.Unlock()
		if n.count(pred) >= k {
			return
		}
		select {
		case <-changed:
		case <-n.eof:
			if n.count(pred) < k {
				n.t.Fatalf("%s: stdout closed waiting for %s", n.name, what)
			}
		case <-deadline:
			n.t.Fatalf("%s: no %s within %v; events: %v", n.name, what, lanWait, n.events())
		}
	}
}
