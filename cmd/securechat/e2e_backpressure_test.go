package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// backpressureRun is one run of the backpressure scenario through the real
// binary: a script writes msgs send commands of size bytes to alice's
// stdin as fast as the pipe takes them, to bob, connected. What it found.
type backpressureRun struct {
	sent, delivered, errors, shown, duplicates int
	elapsed                                    time.Duration // first write to last delivered
}

// runBackpressure runs the scenario and checks the contract: every command
// is answered by exactly one sent, in order, none by an error; every
// message is delivered; bob shows each exactly once, in order. alice and
// bob are each node's store flags (--ephemeral, or --home DIR).
func runBackpressure(t testing.TB, msgs, size int, alice, bob []string) backpressureRun {
	t.Helper()
	a := startHeadless(t, "alice", binEnv(t, "SECURECHAT_PASSPHRASE="+testPassphrase), alice...)
	b := startHeadless(t, "bob", binEnv(t, "SECURECHAT_PASSPHRASE="+testPassphrase), bob...)
	a.send(map[string]any{"cmd": "connect", "addr": b.addr(), "ref": "c"})
	a.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": b.peerID()})
	b.waitFor(30*time.Second, map[string]any{"event": "session_up", "peer_id": a.peerID()})
	a.waitAt(30*time.Second, "connected", func(ev map[string]any) bool { return matches(ev, map[string]any{"event": "connected", "ref": "c"}) })

	text := strings.Repeat("b", size)
	var script strings.Builder
	for i := range msgs {
		fmt.Fprintf(&script, `{"cmd":"send","to":%q,"text":%q,"ref":"%d"}`+"\n", b.peerID(), text, i)
	}
	start := time.Now()
	wrote := make(chan error, 1)
	go func() {
		// One write: it returns once alice has read it all, which
		// backpressure spreads over the whole run.
		_, err := io.WriteString(a.stdin, script.String())
		wrote <- err
	}()
	// Generous bounds, to fail rather than hang; no timing is asserted.
	const bound = 5 * time.Minute
	isSent := func(ev map[string]any) bool { return ev["event"] == "sent" }
	isErr := func(ev map[string]any) bool { return ev["event"] == "error" }
	a.waitCount("answers", bound, msgs, func(ev map[string]any) bool { return isSent(ev) || isErr(ev) })
	a.waitCount("delivered", bound, msgs, func(ev map[string]any) bool { return ev["event"] == "delivered" })
	r := backpressureRun{elapsed: time.Since(start)}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatalf("the script's write: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the script's write did not return after every command was answered")
	}
	b.waitCount("messages", bound, msgs, func(ev map[string]any) bool { return ev["event"] == "message" })

	var ids []string
	delivered := map[string]bool{}
	for _, ev := range a.events() {
		switch ev["event"] {
		case "sent":
			if ev["ref"] != fmt.Sprint(len(ids)) {
				t.Fatalf("answer %d has ref %v: answers out of order", len(ids), ev["ref"])
			}
			ids = append(ids, ev["id"].(string))
		case "error":
			r.errors++
			if r.errors <= 3 {
				t.Errorf("error: %v", ev)
			}
		case "delivered":
			delivered[ev["id"].(string)] = true
		}
	}
	r.sent, r.delivered = len(ids), len(delivered)
	seen := map[string]bool{}
	var shown []string
	for _, ev := range b.events() {
		if ev["event"] != "message" {
			continue
		}
		id := ev["id"].(string)
		if seen[id] {
			r.duplicates++
			continue
		}
		seen[id] = true
		shown = append(shown, id)
		if ev["text"] != text {
			t.Fatalf("message %s: text of %d bytes, want %d", id, len(ev["text"].(string)), size)
		}
	}
	r.shown = len(shown)
	if r.sent != msgs || r.delivered != msgs || r.errors != 0 || r.shown != msgs || r.duplicates != 0 {
		t.Fatalf("sent %d, delivered %d, errors %d, shown %d, duplicates %d; want %d, %d, 0, %d, 0",
			r.sent, r.delivered, r.errors, r.shown, r.duplicates, msgs, msgs, msgs)
	}
	for i := range ids {
		if shown[i] != ids[i] {
			t.Fatalf("message %d shown out of order", i)
		}
	}
	a.send(map[string]any{"cmd": "quit"})
	b.send(map[string]any{"cmd": "quit"})
	a.waitExit(10 * time.Second)
	b.waitExit(10 * time.Second)
	return r
}

// backpressureHomes gives alice and bob each a store on disk.
func backpressureHomes(t testing.TB) (alice, bob []string) {
	dir := t.TempDir()
	return []string{"--home", filepath.Join(dir, "a")}, []string{"--home", filepath.Join(dir, "b")}
}

// backpressureMsgs and backpressureSize are the goal's scenario: 20,000
// messages of 100 bytes.
const backpressureMsgs, backpressureSize = 20000, 100

// TestBinaryBackpressure: a script writes 20,000 send commands to a
// connected peer as fast as the pipe takes them, through the real binary:
// no command is refused (the node stops reading stdin while its send
// window is full), each is answered by sent in order, every message is
// delivered and shown once. The stores are in memory (--ephemeral), which
// keeps the run within seconds under -race; BenchmarkBackpressure also
// runs it with stores on disk.
func TestBinaryBackpressure(t *testing.T) {
	needBinary(t)
	eph := []string{"--ephemeral"}
	r := runBackpressure(t, backpressureMsgs, backpressureSize, eph, eph)
	t.Logf("%d messages of %d B: %d sent, %d delivered, %d errors, %d duplicates, %v (%.0f msg/s)",
		backpressureMsgs, backpressureSize, r.sent, r.delivered, r.errors, r.duplicates,
		r.elapsed.Round(time.Millisecond), backpressureMsgs/r.elapsed.Seconds())
}

// BenchmarkBackpressure runs the scenario of TestBinaryBackpressure with
// stores in memory and on disk, and prints the docs/PERFORMANCE.md rows
// (msg/s from the script's first write to the last delivered):
//
//	go test -run '^$' -bench Backpressure -benchtime 1x ./cmd/securechat/
func BenchmarkBackpressure(b *testing.B) {
	if binPath == "" {
		b.Fatal(buildErr)
	}
	stores := []struct {
		name  string
		flags func(testing.TB) (alice, bob []string)
	}{
		{"memory", func(testing.TB) ([]string, []string) { return []string{"--ephemeral"}, []string{"--ephemeral"} }},
		{"disk", backpressureHomes},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			for range b.N {
				alice, bob := st.flags(b)
				r := runBackpressure(b, backpressureMsgs, backpressureSize, alice, bob)
				rate := backpressureMsgs / r.elapsed.Seconds()
				b.ReportMetric(rate, "msg/s")
				fmt.Printf("| backpressure, %s store | %d messages of %d B | %d sent, %d delivered, %d errors, %d duplicates | %.0f msg/s |\n",
					st.name, backpressureMsgs, backpressureSize, r.sent, r.delivered, r.errors, r.duplicates, rate)
			}
		})
	}
}
