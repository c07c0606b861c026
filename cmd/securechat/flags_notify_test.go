package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestNotifyFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"--notify"}, true},
		{[]string{"--bell", "-notify"}, true},
		{[]string{"--notify=false"}, false},
	} {
		cfg, err := parseArgs(tt.args, mapEnv{envHome: "/tmp/sc"})
		if err != nil || cfg.notify != tt.want {
			t.Errorf("parseArgs(%q): notify %v, %v; want %v", tt.args, cfg != nil && cfg.notify, err, tt.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := mainExit([]string{"--notify=maybe"}, mapEnv{}, strings.NewReader(""), &stdout, &stderr); code != 2 {
		t.Errorf("--notify=maybe: exit %d, want 2 (usage)", code)
	}
	checkOneError(t, stderr.String())
}

// TestHelpNamesTheInterfaces checks that the usage line says which
// interface the chat shows, and that --notify is documented.
func TestHelpNamesTheInterfaces(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := mainExit([]string{"--help"}, mapEnv{}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"full-screen on a terminal, line mode with pipes", "JSON Lines with --headless", "--notify", "never the text"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, stdout.String())
		}
	}
}
