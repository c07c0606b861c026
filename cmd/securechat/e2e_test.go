package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
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

// binEnv is a clean environment for the binary: no inherited securechat
// variables, HOME in a temporary directory, plus extra.
func binEnv(t testing.TB, extra ...string) []string {
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

// binCommand prepares the binary, made by command, in its own session, so
// it has no controlling terminal and can never block asking for a
// passphrase.
func binCommand(ctx context.Context, command cmdFactory, env []string, args ...string) *exec.Cmd {
	cmd := command(ctx, binPath, args...)
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
	cmd := binCommand(ctx, exec.CommandContext, env, args...)
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

// startHeadless starts a headless node listening on 127.0.0.1 only and
// waits for its ready event.
func startHeadless(t testing.TB, name string, env []string, args ...string) *proc {
	t.Helper()
	args = append([]string{"--headless", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--name", name}, args...)
	return startProc(t, name, exec.CommandContext, env, args...)
}
