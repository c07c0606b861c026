package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/securechat/securechat/e2e"
)

// recordingPrompter is a fakePrompter that keeps the prompts it showed.
type recordingPrompter struct {
	fakePrompter
	prompts []string
}

func (r *recordingPrompter) ReadSecret(ctx context.Context, prompt string) ([]byte, error) {
	r.prompts = append(r.prompts, prompt)
	return r.fakePrompter.ReadSecret(ctx, prompt)
}

// checkPass is a try function for unlockWith: right opens, anything else
// is a wrong passphrase. It counts its calls.
func checkPass(right string, calls *int) func([]byte) error {
	return func(p []byte) error {
		*calls++
		if string(p) != right {
			return e2e.ErrPassphrase
		}
		return nil
	}
}

func TestUnlockRetries(t *testing.T) {
	cfg := &config{home: "h"}
	t.Run("three wrong", func(t *testing.T) {
		fp := &recordingPrompter{fakePrompter: fakePrompter{answers: []string{"a", "b", "c", "right"}}}
		usePrompter(t, fp, nil)
		var calls int
		err := unlockWith(context.Background(), cfg, mapEnv{}, false, checkPass("right", &calls))
		if !errors.Is(err, e2e.ErrPassphrase) || calls != 3 || fp.asked != 3 {
			t.Fatalf("err %v after %d tries, %d prompts; want a passphrase error after 3", err, calls, fp.asked)
		}
		if !strings.Contains(fp.prompts[1], "Wrong passphrase; try again (2 of 3)") || !strings.Contains(fp.prompts[2], "(3 of 3)") {
			t.Errorf("prompts %q", fp.prompts)
		}
		// As the command words it: one line, exit 1.
		if e := startFailure(context.Background(), err); exitCodeOf(e) != exitFail || !strings.Contains(e.Error(), "wrong passphrase") {
			t.Errorf("worded as %v", e)
		}
	})
	t.Run("wrong then right", func(t *testing.T) {
		usePrompter(t, &fakePrompter{answers: []string{"wrong", "", "right"}}, nil)
		var calls int
		if err := unlockWith(context.Background(), cfg, mapEnv{}, false, checkPass("right", &calls)); err != nil || calls != 2 {
			t.Fatalf("err %v after %d tries", err, calls)
		}
	})
	t.Run("other errors are not retried", func(t *testing.T) {
		fp := &fakePrompter{answers: []string{"x", "y"}}
		usePrompter(t, fp, nil)
		boom := errors.New("port in use")
		err := unlockWith(context.Background(), cfg, mapEnv{}, false, func([]byte) error { return boom })
		if err != boom || fp.asked != 1 {
			t.Fatalf("err %v after %d prompts", err, fp.asked)
		}
	})
	// Nobody can retype a passphrase from a file or the environment: one
	// try, and the terminal is never opened.
	t.Run("fixed sources once", func(t *testing.T) {
		usePrompter(t, nil, errors.New("the terminal must not be asked"))
		pf := filepath.Join(t.TempDir(), "pass")
		os.WriteFile(pf, []byte("wrong\n"), 0o600)
		for _, c := range []struct {
			cfg *config
			env mapEnv
		}{{&config{home: "h", passphraseFile: pf}, mapEnv{}}, {cfg, mapEnv{envPassphrase: "wrong"}}} {
			var calls int
			err := unlockWith(context.Background(), c.cfg, c.env, false, checkPass("right", &calls))
			if !errors.Is(err, e2e.ErrPassphrase) || calls != 1 {
				t.Errorf("err %v after %d tries", err, calls)
			}
		}
	})
}

func TestChooseNew(t *testing.T) {
	long := "several words long enough"
	tests := []struct {
		name    string
		answers []string
		want    string
		warned  bool
	}{
		{"strong", []string{long, long}, long, false},
		{"weak confirmed", []string{"short", "short", "short"}, "short", true},
		{"weak declined, then strong", []string{"short", "short", "", long, long}, long, true},
		{"mismatch, then right", []string{long, long + "x", long, long}, long, false},
		{"empty, then right", []string{"", long, long}, long, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := &recordingPrompter{fakePrompter: fakePrompter{answers: tt.answers}}
			p, err := chooseNew(context.Background(), fp, "intro\n")
			if err != nil || string(p) != tt.want {
				t.Fatalf("got %q, %v; want %q", p, err, tt.want)
			}
			if fp.asked != len(tt.answers) {
				t.Errorf("%d prompts, want %d", fp.asked, len(tt.answers))
			}
			all := strings.Join(fp.prompts, "")
			if warned := strings.Contains(all, "Warning: this passphrase has only 5 characters"); warned != tt.warned {
				t.Errorf("warned %v, want %v: %q", warned, tt.warned, fp.prompts)
			}
			if !strings.HasPrefix(fp.prompts[0], "intro\n") {
				t.Errorf("first prompt %q", fp.prompts[0])
			}
		})
	}
	// Three rounds at most.
	fp := &fakePrompter{answers: []string{"a long passphrase", "mismatch 1", "a long passphrase", "mismatch 2", "a long passphrase", "mismatch 3", "never asked"}}
	if _, err := chooseNew(context.Background(), fp, ""); exitCodeOf(err) != exitFail || !strings.Contains(err.Error(), "do not match") || fp.asked != 6 {
		t.Errorf("three mismatches: %v after %d prompts", err, fp.asked)
	}
}

// TestPassphraseFileLooseMode: a passphrase file others may read is refused
// as a key file is, with the fix named.
func TestPassphraseFileLooseMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits on Windows")
	}
	pf := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pf, []byte("a good passphrase\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	usePrompter(t, nil, errNoTerminal)
	_, err := getPassphrase(context.Background(), &config{passphraseFile: pf}, mapEnv{}, false)
	if exitCodeOf(err) != exitFail || !strings.Contains(err.Error(), "has mode 0644") || !strings.Contains(err.Error(), "chmod 600 "+pf) {
		t.Errorf("0644 passphrase file: %v", err)
	}
	if _, err := newPassphrase(context.Background(), &config{newPassphrase: pf}, "", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("0644 new passphrase file: %v", err)
	}
	os.Chmod(pf, 0o600)
	if p, err := getPassphrase(context.Background(), &config{passphraseFile: pf}, mapEnv{}, false); err != nil || string(p) != "a good passphrase" {
		t.Errorf("0600: %q, %v", p, err)
	}
	// A weak new passphrase from a file cannot be confirmed: it is warned
	// about.
	os.WriteFile(pf, []byte("short\n"), 0o600)
	var warn bytes.Buffer
	if p, err := newPassphrase(context.Background(), &config{newPassphrase: pf}, "", &warn); err != nil || string(p) != "short" ||
		!strings.Contains(warn.String(), "warning: the new passphrase has only 5 characters") {
		t.Errorf("weak new passphrase from a file: %q, %v, %q", p, err, warn.String())
	}
}

func TestFormatVersion(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/securechat/securechat", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2025-06-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		}}
	want := "devel (revision 0123456789abcdef0123456789abcdef01234567 (modified), committed 2025-06-01T10:00:00Z, go1.26.8)"
	if got := formatVersion(bi); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	bi.Settings[3].Value = "false"
	bi.Main.Version = "v1.2.3"
	if got := formatVersion(bi); got != "v1.2.3 (revision 0123456789abcdef0123456789abcdef01234567, committed 2025-06-01T10:00:00Z, go1.26.8)" {
		t.Errorf("clean tree, installed: %q", got)
	}
	bi.Settings = nil
	if got := formatVersion(bi); got != "v1.2.3 (go1.26.8)" {
		t.Errorf("no VCS: %q", got)
	}
}

func TestVersionFlags(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}, {"--home", "x", "-version"}} {
		var stdout, stderr bytes.Buffer
		if code := mainExit(args, mapEnv{}, strings.NewReader(""), &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "securechat ") {
			t.Errorf("%q: exit %d, %q %q", args, code, stdout.String(), stderr.String())
		}
		// The test binary's own build info is what the command prints.
		if bi, ok := debug.ReadBuildInfo(); ok && !strings.Contains(stdout.String(), formatVersion(bi)) {
			t.Errorf("%q: %q does not hold the build info", args, stdout.String())
		}
	}
}

func TestParseIdentityCommands(t *testing.T) {
	cfg, err := parseArgs([]string{"export", "--home", "h", "out.backup", "--new-passphrase-file", "np"}, mapEnv{})
	if err != nil || cfg.command != cmdExport || cfg.file != "out.backup" || cfg.newPassphrase != "np" {
		t.Fatalf("export: %+v, %v", cfg, err)
	}
	if cfg, err = parseArgs([]string{"import", "in.backup"}, mapEnv{}); err != nil || cfg.command != cmdImport || cfg.file != "in.backup" {
		t.Fatalf("import: %+v, %v", cfg, err)
	}
	if cfg, err = parseArgs([]string{"passwd", "--passphrase-file", "p"}, mapEnv{}); err != nil || cfg.command != cmdPasswd {
		t.Fatalf("passwd: %+v, %v", cfg, err)
	}
	for _, bad := range [][]string{
		{"export"}, {"import"}, {"export", "a", "b"}, {"passwd", "x"}, {"import", ""},
		{"id", "--new-passphrase-file", "np"}, {"passwd", "--new-passphrase-file", ""},
		{"passwd", "--ephemeral"}, {"export", "f", "--ephemeral"}, {"import", "f", "--ephemeral"},
	} {
		if _, err := parseArgs(bad, mapEnv{}); exitCodeOf(err) != exitUsage {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

// TestLockHome: a second lock on one home is refused, with the holder's
// process ID, until the first is released.
func TestLockHome(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no flock on Windows")
	}
	cfg := &config{home: filepath.Join(t.TempDir(), "home")}
	release, err := lockHome(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !isFirstRun(cfg.home) {
		t.Error("the lock file makes the home look used")
	}
	_, err = lockHome(cfg)
	if exitCodeOf(err) != exitFail || !strings.Contains(err.Error(), "another securechat") || !strings.Contains(err.Error(), "process") {
		t.Fatalf("second lock: %v", err)
	}
	release()
	release2, err := lockHome(cfg)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	release2()
}
