package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// mapEnv is an environment for tests.
type mapEnv map[string]string

func (m mapEnv) Getenv(k string) string { return m[k] }

func (m mapEnv) LookupEnvOnce(k string) (string, bool) {
	v, ok := m[k]
	delete(m, k)
	return v, ok
}

// checkOneError checks that stderr is exactly one "securechat: error:" line,
// optionally followed by one hint line, and no panic trace.
func checkOneError(t *testing.T, stderr string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "securechat: error: ") {
		t.Fatalf("stderr %q: want a first line starting with %q", stderr, "securechat: error: ")
	}
	if len(lines) > 2 || (len(lines) == 2 && !strings.HasPrefix(lines[1], "securechat: hint: ")) {
		t.Fatalf("stderr %q: want one error line and at most one hint line", stderr)
	}
	if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic") {
		t.Fatalf("stderr %q looks like a panic", stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"unknown flag", []string{"--bogus"}, "unknown flag --bogus"},
		{"unknown single-dash flag", []string{"-x"}, "unknown flag --x"},
		{"flag without value", []string{"--home"}, "--home needs a value"},
		{"malformed listen", []string{"--listen", "not-an-addr"}, "--listen"},
		{"malformed connect", []string{"--connect", "/ip4/999.1.1.1/tcp/1"}, "malformed multiaddr"},
		{"connect without p2p", []string{"--connect", "/ip4/127.0.0.1/tcp/4001"}, "/p2p/"},
		{"empty name", []string{"--name", "  "}, "--name"},
		{"long name", []string{"--name", strings.Repeat("n", 33)}, "at most 32"},
		{"control in name", []string{"--name", "a\x1b[2Jb"}, "printable"},
		{"unknown subcommand", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"stray argument", []string{"id", "extra"}, `unexpected argument "extra"`},
		{"stray after --", []string{"--", "--headless"}, "unknown command"},
		{"bad bool", []string{"--headless=maybe"}, "headless"},
		{"empty home", []string{"--home="}, "--home"},
		{"flag after subcommand", []string{"id", "--nope"}, "unknown flag --nope"},
		{"zero sessions", []string{"--max-sessions", "0"}, "--max-sessions \"0\": want a whole number from 1 to 10000"},
		{"too many sessions", []string{"--max-sessions=10001"}, "--max-sessions"},
		{"sessions not a number", []string{"--max-sessions", "lots"}, "--max-sessions \"lots\""},
		{"sessions without value", []string{"--max-sessions"}, "--max-sessions needs a value"},
		{"mailbox without p2p", []string{"--mailbox", "/ip4/127.0.0.1/tcp/4002"}, "--mailbox"},
		{"malformed mailbox", []string{"--mailbox", "mailbox.example"}, "--mailbox"},
		{"five mailboxes", []string{"--mailbox", "/ip4/127.0.0.1/tcp/1/p2p/" + validPeerID, "--mailbox", "/ip4/127.0.0.1/tcp/2/p2p/" + validPeerID,
			"--mailbox", "/ip4/127.0.0.1/tcp/3/p2p/" + validPeerID, "--mailbox", "/ip4/127.0.0.1/tcp/4/p2p/" + validPeerID,
			"--mailbox", "/ip4/127.0.0.1/tcp/5/p2p/" + validPeerID}, "at most 4"},
		{"bad mailbox owner", []string{"--serve-mailbox", "--mailbox-owner", "bob"}, `--mailbox-owner "bob": not a peer ID`},
		{"serve mailbox without owner", []string{"--serve-mailbox"}, "--serve-mailbox needs at least one --mailbox-owner"},
		{"owner without serve", []string{"--mailbox-owner", validPeerID}, "--mailbox-owner needs --serve-mailbox"},
		{"ephemeral mailbox", []string{"--ephemeral", "--serve-mailbox", "--mailbox-owner", validPeerID}, "not with --ephemeral"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := mainExit(tt.args, mapEnv{}, strings.NewReader(""), &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			checkOneError(t, stderr.String())
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr.String(), tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"--home", "x", "help"}, {"--headless", "-help"}} {
		var stdout, stderr bytes.Buffer
		if code := mainExit(args, mapEnv{}, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Errorf("%q: exit %d, want 0", args, code)
		}
		if !strings.Contains(stdout.String(), "--passphrase-file") || stderr.Len() != 0 {
			t.Errorf("%q: stdout %q stderr %q", args, stdout.String(), stderr.String())
		}
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := mainExit([]string{"version"}, mapEnv{}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "securechat ") {
		t.Errorf("version output %q", stdout.String())
	}
}

func TestParseArgs(t *testing.T) {
	const peer = "/ip4/127.0.0.1/tcp/4001/p2p/" + validPeerID
	cfg, err := parseArgs([]string{
		"--no-mdns", "id", "--listen", "/ip4/127.0.0.1/tcp/0", "--listen=/ip4/127.0.0.1/udp/0/quic-v1",
		"-connect", peer, "--name", " bob ", "--headless", "--ephemeral", "--passphrase-file", "pf", "--home", "h",
		"--max-sessions", "550", "--mailbox", peer,
	}, mapEnv{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.command != cmdID || cfg.mdns || !cfg.headless || !cfg.ephemeral || cfg.home != "h" ||
		cfg.passphraseFile != "pf" || cfg.name != "bob" || len(cfg.listen) != 2 || len(cfg.connect) != 1 ||
		cfg.maxSessions != 550 || len(cfg.mailboxes) != 1 {
		t.Errorf("parsed %+v", cfg)
	}
	if cfg.connect[0].String() != peer {
		t.Errorf("connect %v", cfg.connect[0])
	}

	cfg, err = parseArgs([]string{"--serve-mailbox", "--mailbox-owner", validPeerID, "--mailbox-owner", " " + validPeerID + " "}, mapEnv{})
	if err != nil || !cfg.serveMailbox || len(cfg.mailboxOwners) != 2 || cfg.mailboxOwners[1].String() != validPeerID {
		t.Errorf("mailbox server flags: %v %+v", err, cfg)
	}

	cfg, err = parseArgs(nil, mapEnv{envHome: "/tmp/sc", envDebug: "1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.command != cmdChat || !cfg.mdns || cfg.home != "/tmp/sc" || !cfg.debug || cfg.name == "" || cfg.maxSessions != 0 {
		t.Errorf("defaults %+v", cfg)
	}

	t.Setenv("XDG_CONFIG_HOME", "/tmp/xdg")
	t.Setenv("HOME", "/tmp/home")
	if cfg, err = parseArgs(nil, mapEnv{}); err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join("/tmp/xdg", "securechat"); cfg.home != want {
		t.Errorf("default home %q, want %q", cfg.home, want)
	}
}

func TestDefaultName(t *testing.T) {
	n := defaultName(mapEnv{})
	if _, err := checkName(n); err != nil {
		t.Errorf("default name %q invalid: %v", n, err)
	}
}

func TestCheckName(t *testing.T) {
	for _, ok := range []string{"a", "Zoë", strings.Repeat("é", 32), "bob smith"} {
		if _, err := checkName(ok); err != nil {
			t.Errorf("checkName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", " ", strings.Repeat("a", 33), "a\nb", "a\tb", "\xff", "a\u202eb"} {
		if _, err := checkName(bad); err == nil {
			t.Errorf("checkName(%q) accepted", bad)
		}
	}
}
