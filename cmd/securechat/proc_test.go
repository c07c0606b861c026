package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// The one harness for the real binary in headless mode (JSON Lines on
// stdin and stdout), on 127.0.0.1 (startHeadless) or inside a network
// namespace (startLAN). Every event the process prints is kept, in order,
// with the time it was read, so a test can wait for an event that came
// before it started waiting, count events, or look at them all at the end.

// binReadyWait bounds the wait for a process's ready event: key generation is
// slow in a -race binary.
const binReadyWait = 60 * time.Second

// cmdFactory makes the *exec.Cmd that runs a program: exec.CommandContext,
// or a netns host's Command to run it inside that namespace.
type cmdFactory func(ctx context.Context, name string, args ...string) *exec.Cmd

// errStdoutClosed is why a wait ends when the process printed its last event.
var errStdoutClosed = errors.New("stdout closed")

// proc is a headless securechat process, with every event it printed.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *syncBuffer
	exited chan struct{} // closed after Wait, which comes after stdout's end
	err    error         // Wait's result, valid after exited is closed
	ready  map[string]any
	start  time.Time // just before the process started

	mu      sync.Mutex
	evs     []map[string]any
	times   []time.Time   // when each event was read
	changed chan struct{} // closed and replaced when an event is added
	eof     chan struct{} // closed when stdout is read to the end
	cursor  int           // events before it are consumed (waitFor, collect, drain)
}

// startProc starts the binary, made by command, with env and args, and
// waits for its ready event, which must be its first. When the test ends
// the process is killed if still running, and its stderr is logged if the
// test failed.
func startProc(t testing.TB, name string, command cmdFactory, env []string, args ...string) *proc {
	t.Helper()
	cmd := binCommand(context.Background(), command, env, args...)
	p := &proc{t: t, name: name, cmd: cmd, stderr: &syncBuffer{},
		exited: make(chan struct{}), changed: make(chan struct{}), eof: make(chan struct{})}
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = p.stderr
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.read(stdout)
	go func() {
		// Wait closes stdout: only once every event is read, so that an
		// exited process has none left unread.
		<-p.eof
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = cmd.Process.Kill()
			select {
			case <-p.exited:
			case <-time.After(30 * time.Second):
				t.Errorf("%s: still running 30 s after SIGKILL", name)
			}
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	next, err := p.scan(0, binReadyWait, func(map[string]any) bool { return true })
	switch {
	case errors.Is(err, errStdoutClosed):
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s closed stdout before ready: %s", name, p.stderr.String())
		}
		t.Fatalf("%s exited before ready: %v: %s", name, p.err, p.stderr.String())
	case err != nil:
		t.Fatalf("%s: no ready within %v: %s", name, binReadyWait, p.stderr.String())
	}
	ev := p.events()[next-1]
	if ev["event"] != "ready" {
		t.Fatalf("%s: first event %v, want ready", name, ev)
	}
	p.ready, p.cursor = ev, next
	return p
}

// read records each line of stdout as an event.
func (p *proc) read(stdout io.Reader) {
	defer close(p.eof)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			p.t.Errorf("%s: stdout line is not JSON: %q", p.name, sc.Text())
			continue
		}
		p.mu.Lock()
		p.evs = append(p.evs, m)
		p.times = append(p.times, time.Now())
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}
	if err := sc.Err(); err != nil {
		p.t.Errorf("%s: read stdout: %v", p.name, err)
		_, _ = io.Copy(io.Discard, stdout) // the process must not block on a full pipe
	}
}

func (p *proc) peerID() string      { return p.ready["peer_id"].(string) }
func (p *proc) fingerprint() string { return p.ready["fingerprint"].(string) }
func (p *proc) addr() string        { return p.ready["addrs"].([]any)[0].(string) }

// send writes one command.
func (p *proc) send(cmd map[string]any) {
	p.t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendRaw(string(b))
}

// sendRaw writes one line.
func (p *proc) sendRaw(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: write stdin: %v", p.name, err)
	}
}

// scan calls pred on the events from index from on, once each and in
// order, until pred accepts one (err nil), stdout is read to the end
// (errStdoutClosed) or timeout passes. next is the index just past the
// last event pred saw.
func (p *proc) scan(from int, timeout time.Duration, pred func(map[string]any) bool) (next int, err error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	closed := false
	for next = from; ; {
		p.mu.Lock()
		evs, changed := p.evs, p.changed
		p.mu.Unlock()
		// evs only grows: the events below len(evs) stay as they are.
		for next < len(evs) {
			next++
			if pred(evs[next-1]) {
				return next, nil
			}
		}
		if closed {
			return next, errStdoutClosed
		}
		select {
		case <-changed:
		case <-p.eof:
			closed = true // every event is in; look once more
		case <-timer.C:
			return next, fmt.Errorf("none within %v", timeout)
		}
	}
}

// waitFor returns the first event with the given fields after the events
// consumed so far, within timeout; it consumes that event and those it
// skipped.
func (p *proc) waitFor(timeout time.Duration, fields map[string]any) map[string]any {
	p.t.Helper()
	from := p.cursor
	next, err := p.scan(from, timeout, func(ev map[string]any) bool { return matches(ev, fields) })
	evs := p.events()
	switch {
	case errors.Is(err, errStdoutClosed):
		p.t.Fatalf("%s: stdout closed waiting for %v (skipped %v)", p.name, fields, evs[from:next])
	case err != nil:
		p.t.Fatalf("%s: no %v within %v (skipped %v)", p.name, fields, timeout, evs[from:next])
	}
	p.cursor = next
	return evs[next-1]
}

// matches reports whether ev has every one of fields.
func matches(ev, fields map[string]any) bool {
	for k, v := range fields {
		if ev[k] != v {
			return false
		}
	}
	return true
}

// collect hands fn the events after those consumed so far, consuming each,
// until fn returns true, stdout is read to the end, or timeout passes; it
// reports whether fn was satisfied.
func (p *proc) collect(timeout time.Duration, fn func(ev map[string]any) bool) bool {
	next, err := p.scan(p.cursor, timeout, fn)
	p.cursor = next
	return err == nil
}

// drain waits, at most 10 s, until stdout is read to the end, and returns
// the events after those consumed so far, consuming them.
func (p *proc) drain() []map[string]any {
	p.t.Helper()
	select {
	case <-p.eof:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s: stdout still open", p.name)
	}
	evs := p.events()[p.cursor:]
	p.cursor += len(evs)
	return evs
}

// waitAt returns the first event since the start that pred accepts, and
// when it was read, within timeout.
func (p *proc) waitAt(timeout time.Duration, what string, pred func(map[string]any) bool) (map[string]any, time.Time) {
	p.t.Helper()
	next, err := p.scan(0, timeout, pred)
	switch {
	case errors.Is(err, errStdoutClosed):
		p.t.Fatalf("%s: stdout closed waiting for %s; events: %v\nstderr: %s", p.name, what, p.events(), p.stderr.String())
	case err != nil:
		p.t.Fatalf("%s: no %s within %v; events: %v", p.name, what, timeout, p.events())
	}
	evs, times := p.eventsAt()
	return evs[next-1], times[next-1]
}

// waitCount waits, at most timeout, until k of the events since the start
// match pred.
func (p *proc) waitCount(what string, timeout time.Duration, k int, pred func(map[string]any) bool) {
	p.t.Helper()
	got := 0
	if k <= 0 {
		return
	}
	_, err := p.scan(0, timeout, func(ev map[string]any) bool {
		if pred(ev) {
			got++
		}
		return got >= k
	})
	switch {
	case errors.Is(err, errStdoutClosed):
		p.t.Fatalf("%s: stdout closed with %d of %d %s\nstderr: %s", p.name, got, k, what, p.stderr.String())
	case err != nil:
		p.t.Fatalf("%s: %d of %d %s within %v", p.name, got, k, what, timeout)
	}
}

// events returns a copy of the events so far.
func (p *proc) events() []map[string]any {
	evs, _ := p.eventsAt()
	return evs
}

// eventsAt returns copies of the events so far and of the times they were
// read.
func (p *proc) eventsAt() ([]map[string]any, []time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.evs...), append([]time.Time(nil), p.times...)
}

// count counts the events so far that pred accepts.
func (p *proc) count(pred func(map[string]any) bool) int {
	k := 0
	for _, ev := range p.events() {
		if pred(ev) {
			k++
		}
	}
	return k
}

// waitExit waits for the process to exit (and its stdout to be read) and
// returns its status.
func (p *proc) waitExit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("%s: %v", p.name, p.err)
	}
	return 0
}
