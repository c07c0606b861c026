package main

import (
	"bytes"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/securechat/securechat/p2p"
)

// TestBinaryUsageErrors checks exit status 2 and one error line for each
// usage error, from the real binary.
func TestBinaryUsageErrors(t *testing.T) {
	needBinary(t)
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"--frobnicate"}},
		{"connect without p2p", []string{"--connect", "/ip4/127.0.0.1/tcp/4001"}},
		{"malformed multiaddr", []string{"--listen", "/ip4/not-an-ip/tcp/1"}},
		{"unknown subcommand", []string{"fly"}},
		{"bad name", []string{"--name", strings.Repeat("x", 40)}},
		{"relay without p2p", []string{"--relay", "/ip4/127.0.0.1/tcp/4001"}},
		{"malformed invite", []string{"--connect", "securechat:AAAA"}},
		{"json outside doctor", []string{"--json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runBinary(t, binEnv(t), append(tt.args, "--no-mdns", "--ephemeral")...)
			if code != exitUsage {
				t.Errorf("exit %d, want 2; stderr %q", code, stderr)
			}
			checkOneError(t, stderr)
			if stdout != "" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
}

// keyFile finds the key file in home by its magic line.
func keyFile(t *testing.T, home string) string {
	t.Helper()
	var found string
	filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(path); err == nil && bytes.HasPrefix(b, []byte("securechat key file\n")) {
				found = path
			}
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no key file in %s", home)
	}
	return found
}

// snapshot reads every file under home.
func snapshot(t *testing.T, home string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			files[path] = b
		}
		return nil
	})
	return files
}

// TestBinaryStart covers id across runs and the start failures that exit 1.
func TestBinaryStart(t *testing.T) {
	needBinary(t)
	home := t.TempDir()
	env := binEnv(t, "SECURECHAT_PASSPHRASE="+testPassphrase)

	lo := "/ip4/127.0.0.1/tcp/0"
	out1, stderr, code := runBinary(t, env, "id", "--home", home, "--no-mdns", "--listen", lo)
	if code != 0 {
		t.Fatalf("id: exit %d: %s", code, stderr)
	}
	// The peer ID and fingerprint, then this run's addresses and invite.
	re := regexp.MustCompile(`^peer ID: +(12D3KooW\w+)\nfingerprint: +([0-9a-f]{64})\n(address: +/ip4/127\.0\.0\.1/tcp/\d+/p2p/12D3KooW\w+\n)+invite: +(securechat:\S+)\n$`)
	m1 := re.FindStringSubmatch(out1)
	if m1 == nil {
		t.Fatalf("id output %q", out1)
	}
	if inv, err := p2p.ParseInvite(m1[4]); err != nil || inv.PeerID != m1[1] || inv.Fingerprint.String() != m1[2] {
		t.Fatalf("id's invite: %v, %+v", err, inv)
	}
	out2, stderr, code := runBinary(t, env, "--home", home, "id", "--no-mdns", "--listen", lo)
	if m2 := re.FindStringSubmatch(out2); code != 0 || m2 == nil || m2[1] != m1[1] || m2[2] != m1[2] {
		t.Fatalf("second id: exit %d, %q vs %q: %s", code, out2, out1, stderr)
	}
	if out, _, code := runBinary(t, binEnv(t), "id", "--ephemeral", "--no-mdns", "--listen", lo); code != 0 || !re.MatchString(out) || re.FindStringSubmatch(out)[1] == m1[1] {
		t.Errorf("ephemeral id: exit %d, %q", code, out)
	}

	t.Run("wrong passphrase", func(t *testing.T) {
		before := snapshot(t, home)
		_, stderr, code := runBinary(t, binEnv(t, "SECURECHAT_PASSPHRASE=wrong"), "--headless", "--no-mdns", "--home", home)
		if code != exitFail {
			t.Errorf("exit %d, want 1", code)
		}
		checkOneError(t, stderr)
		if !strings.Contains(stderr, "wrong passphrase or damaged key file") {
			t.Errorf("stderr %q", stderr)
		}
		after := snapshot(t, home)
		kf := keyFile(t, home)
		if !bytes.Equal(before[kf], after[kf]) {
			t.Error("key file changed by a failed start")
		}
	})

	t.Run("no passphrase source", func(t *testing.T) {
		_, stderr, code := runBinary(t, binEnv(t), "--headless", "--no-mdns", "--home", home)
		if code != exitFail {
			t.Errorf("exit %d, want 1", code)
		}
		checkOneError(t, stderr)
		if !strings.Contains(stderr, "hint:") || !strings.Contains(stderr, "SECURECHAT_PASSPHRASE") {
			t.Errorf("stderr %q lacks the hint", stderr)
		}
	})

	t.Run("empty passphrase", func(t *testing.T) {
		_, stderr, code := runBinary(t, binEnv(t, "SECURECHAT_PASSPHRASE="), "--headless", "--no-mdns", "--home", t.TempDir())
		if code != exitFail {
			t.Errorf("exit %d, want 1", code)
		}
		checkOneError(t, stderr)
	})

	t.Run("port in use", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		_, stderr, code := runBinary(t, env, "--headless", "--no-mdns", "--home", home, "--listen", "/ip4/127.0.0.1/tcp/"+port)
		if code != exitFail {
			t.Errorf("exit %d, want 1; stderr %q", code, stderr)
		}
		checkOneError(t, stderr)
	})

	// Last: it damages the key file.
	t.Run("tampered key file", func(t *testing.T) {
		kf := keyFile(t, home)
		b, err := os.ReadFile(kf)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-1] ^= 0x01
		if err := os.WriteFile(kf, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, stderr, code := runBinary(t, env, "--headless", "--no-mdns", "--home", home)
		if code != exitFail {
			t.Errorf("exit %d, want 1", code)
		}
		checkOneError(t, stderr)
		if !strings.Contains(stderr, "wrong passphrase or damaged key file") {
			t.Errorf("stderr %q", stderr)
		}
	})
}
