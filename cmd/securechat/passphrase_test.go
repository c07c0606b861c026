package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakePrompter answers prompts from a list.
type fakePrompter struct {
	answers []string
	asked   int
}

func (f *fakePrompter) ReadSecret(ctx context.Context, prompt string) ([]byte, error) {
	if f.asked >= len(f.answers) {
		return nil, errors.New("no more answers")
	}
	f.asked++
	return []byte(f.answers[f.asked-1]), nil
}

func (f *fakePrompter) Close() error { return nil }

func usePrompter(t *testing.T, p prompter, err error) {
	t.Helper()
	old := openPrompter
	openPrompter = func() (prompter, error) { return p, err }
	t.Cleanup(func() { openPrompter = old })
}

func exitCodeOf(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFail
}

func TestPassphraseFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string
		want    string
		wantErr bool
	}{
		{"first line only", "secret one\nsecond line\n", "secret one", false},
		{"crlf stripped", "s3cret\r\n", "s3cret", false},
		{"no newline", "abc", "abc", false},
		{"spaces kept", "  pass phrase  \n", "  pass phrase  ", false},
		{"empty refused", "\nsecond\n", "", true},
		{"empty file refused", "", "", true},
		{"too long refused", strings.Repeat("a", maxPassphraseLine+1), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(name, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			env := mapEnv{envPassphrase: "from env"}
			usePrompter(t, nil, errNoTerminal)
			p, err := getPassphrase(context.Background(), &config{passphraseFile: name}, env, false)
			if tt.wantErr {
				if err == nil || exitCodeOf(err) != exitFail {
					t.Fatalf("got %q, %v; want an exit-1 error", p, err)
				}
				return
			}
			if err != nil || string(p) != tt.want {
				t.Fatalf("got %q, %v; want %q", p, err, tt.want)
			}
			if _, ok := env[envPassphrase]; ok {
				t.Error("the environment variable survived")
			}
		})
	}
	if _, err := getPassphrase(context.Background(), &config{passphraseFile: filepath.Join(dir, "missing")}, mapEnv{}, false); err == nil {
		t.Error("missing file accepted")
	}
}

func TestPassphraseEnv(t *testing.T) {
	t.Setenv(envPassphrase, "correct horse")
	usePrompter(t, nil, errNoTerminal)
	p, err := getPassphrase(context.Background(), &config{}, osEnv{}, true)
	if err != nil || string(p) != "correct horse" {
		t.Fatalf("got %q, %v", p, err)
	}
	if _, ok := os.LookupEnv(envPassphrase); ok {
		t.Error("SECURECHAT_PASSPHRASE still set after it was read")
	}

	t.Setenv(envPassphrase, "")
	if _, err := getPassphrase(context.Background(), &config{}, osEnv{}, false); err == nil || exitCodeOf(err) != exitFail {
		t.Errorf("empty variable: %v, want an exit-1 error", err)
	}
}

func TestPassphraseNoSource(t *testing.T) {
	usePrompter(t, nil, errNoTerminal)
	_, err := getPassphrase(context.Background(), &config{}, mapEnv{}, false)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != exitFail {
		t.Fatalf("got %v, want an exit-1 error", err)
	}
	for _, source := range []string{"--passphrase-file", envPassphrase, "terminal"} {
		if !strings.Contains(ee.hint, source) {
			t.Errorf("hint %q does not name %s", ee.hint, source)
		}
	}
}

func TestPassphraseTerminal(t *testing.T) {
	tests := []struct {
		name     string
		firstRun bool
		answers  []string
		want     string
		wantErr  bool
	}{
		{"existing", false, []string{"pw"}, "pw", false},
		{"existing empty", false, []string{""}, "", true},
		{"first run", true, []string{"a new passphrase", "a new passphrase"}, "a new passphrase", false},
		{"first run weak confirmed", true, []string{"new pw", "new pw", "new pw"}, "new pw", false},
		{"first run mismatch", true, []string{"new pw", "new pv"}, "", true},
		{"first run empty", true, []string{"", ""}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fp := &fakePrompter{answers: tt.answers}
			usePrompter(t, fp, nil)
			p, err := getPassphrase(context.Background(), &config{home: "h"}, mapEnv{}, tt.firstRun)
			if tt.wantErr != (err != nil) || string(p) != tt.want {
				t.Fatalf("got %q, %v; want %q (error %v)", p, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestIsFirstRun(t *testing.T) {
	dir := t.TempDir()
	if !isFirstRun(filepath.Join(dir, "missing")) {
		t.Error("missing home is not a first run")
	}
	if !isFirstRun(dir) {
		t.Error("empty home is not a first run")
	}
	os.WriteFile(filepath.Join(dir, logFileName), nil, 0o600)
	if !isFirstRun(dir) {
		t.Error("home with only the log is not a first run")
	}
	os.WriteFile(filepath.Join(dir, "key"), nil, 0o600)
	if isFirstRun(dir) {
		t.Error("home with a key is a first run")
	}
}
