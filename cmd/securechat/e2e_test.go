package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests: the real binary, two processes over 127.0.0.1, mDNS off.

const testPassphrase = "tr0ub4dor & 3 horses"

// needBinary skips or fails a test that needs the built binary.
func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	if binPath == "" {
		t.Fatal(buildErr)
	}
}

// skipIfStub skips while p2p.New is still the "not implemented" stub.
func skipIfStub(t *testing.T, stderr string) {
	t.Helper()
	if strings.Contains(stderr, "not implemented") {
		t.Skip("p2p.New is not implemented yet")
	}
}

// binEnv is a clean environment for the binary: no inherited securechat
// variables, HOME in a temporary directory, plus extra.
func binEnv(t *testing.T, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SECURECHAT_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, append([]string{"HOME=" + t.TempDir()}, extra...)...)
}

// binCommand prepares the binary in its own session, so it has no controlling
// terminal and can never block asking for a passphrase.
func binCommand(ctx context.Context, env []string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// runBinary runs the binary to completion (at most a minute).
func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := binCommand(ctx, env, args...)
	var o, e bytes.Buffer
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// lockedBuffer collects stderr from the process's copy goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proc is a headless securechat process.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan map[string]any
	stderr *lockedBuffer
	exited chan struct{}
	err    error // Wait's result, valid after exited is closed
	ready  map[string]any
}

// startHeadless starts a headless node listening on 127.0.0.1 only and
// waits for its ready event.
func startHeadless(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	args = append([]string{"--headless", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--name", name}, args...)
	cmd := binCommand(context.Background(), env, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, name: name, cmd: cmd, stdin: stdin, events: make(chan map[string]any, 1000), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("%s: stdout line is not JSON: %q", name, sc.Text())
				continue
			}
			p.events <- m
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", name, p.stderr.String())
		}
	})
	select {
	case ev, ok := <-p.events:
		if !ok {
			<-p.exited
			skipIfStub(t, p.stderr.String())
			t.Fatalf("%s exited before ready: %v: %s", name, p.err, p.stderr.String())
		}
		if ev["event"] != "ready" {
			t.Fatalf("%s: first event %v, want ready", name, ev)
		}
		p.ready = ev
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: no ready within 60 s: %s", name, p.stderr.String())
	}
	return p
}

func (p *proc) peerID() string      { return p.ready["peer_id"].(string) }
func (p *proc) fingerprint() string { return p.ready["fingerprint"].(string) }
func (p *proc) addr() string        { return p.ready["addrs"].([]any)[0].(string) }

func (p *proc) send(cmd map[string]any) {
	p.t.Helper()
	b, _ := json.Marshal(cmd)
	p.sendRaw(string(b))
}

func (p *proc) sendRaw(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatalf("%s: write stdin: %v", p.name, err)
	}
}

// waitFor returns the first event matching fields, skipping others, within
// timeout.
func (p *proc) waitFor(timeout time.Duration, fields map[string]any) map[string]any {
	p.t.Helper()
	deadline := time.After(timeout)
	var skipped []map[string]any
	for {
		select {
		case ev, ok := <-p.events:
			if !ok {
				p.t.Fatalf("%s: stdout closed waiting for %v (skipped %v)", p.name, fields, skipped)
			}
			if matches(ev, fields) {
				return ev
			}
			skipped = append(skipped, ev)
		case <-deadline:
			p.t.Fatalf("%s: no %v within %v (skipped %v)", p.name, fields, timeout, skipped)
		}
	}
}

func matches(ev, fields map[string]any) bool {
	for k, v := range fields {
		if ev[k] != v {
			return false
		}
	}
	return true
}

// waitExit waits for the process to exit and returns its status.
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
