package tui

import (
	"context"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// newNotifyHarness is newHarness with the given options.
func newNotifyHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	hs := &harness{t: t, node: newFakeNode(), clock: start}
	hs.m = newModel(context.Background(), hs.node, nil, opts, func() time.Time { return hs.clock }, time.UTC)
	hs.run(hs.m.Init())
	hs.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	return hs
}

// TestNotifyWhileUnfocused checks that --notify asks the terminal for a
// notification naming the sender only, only while it lacks focus, once
// per sender until focus comes back.
func TestNotifyWhileUnfocused(t *testing.T) {
	hs := newNotifyHarness(t, Options{Name: "alice", Notify: NotifyOSC9})
	if !hs.m.View().ReportFocus {
		t.Error("--notify does not ask the terminal to report focus")
	}
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.peerUp(carolID, "carol", p2p.TrustNew)
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "1", Text: "while focused"})
	if len(hs.raws) != 0 {
		t.Fatalf("focused: sent %q, want nothing", hs.raws)
	}

	hs.send(tea.BlurMsg{})
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "2", Text: "secret plans"})
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "3", Text: "more secret plans"})
	hs.event(p2p.MessageReceived{PeerID: carolID, ID: "4", Text: "hello"})
	want := []string{"\x1b]9;securechat: message from bob\a", "\x1b]9;securechat: message from carol\a"}
	if strings.Join(hs.raws, "|") != strings.Join(want, "|") {
		t.Errorf("unfocused: sent %q, want %q", hs.raws, want)
	}
	for _, r := range hs.raws {
		if strings.Contains(r, "secret") || strings.Contains(r, "hello") {
			t.Errorf("notification %q holds the message text", r)
		}
	}
	if hs.bells != 0 {
		t.Errorf("%d bells without --bell", hs.bells)
	}

	hs.send(tea.FocusMsg{})
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "5", Text: "back"})
	hs.send(tea.BlurMsg{})
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "6", Text: "away again"})
	if len(hs.raws) != 3 || hs.raws[2] != want[0] {
		t.Errorf("after focus came and went: sent %q, want a third notification for bob", hs.raws)
	}
}

// TestNotifyHostileName checks that a peer's name cannot end the sequence
// or add fields to it, in either style, and that the bell still rings
// beside it.
func TestNotifyHostileName(t *testing.T) {
	hs := newNotifyHarness(t, Options{Name: "alice", Notify: NotifyOSC777, Bell: true})
	hs.peerUp(bobID, "ev;il\x1b]0;pwned\a\x9c\x07name", p2p.TrustNew)
	hs.send(tea.BlurMsg{})
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "1", Text: "text"})
	if len(hs.raws) != 1 || hs.bells != 1 {
		t.Fatalf("sent %q and %d bells, want one notification and one bell", hs.raws, hs.bells)
	}
	got := hs.raws[0]
	const head, tail = "\x1b]777;notify;securechat;message from ", "\a"
	if !strings.HasPrefix(got, head) || !strings.HasSuffix(got, tail) {
		t.Fatalf("notification %q", got)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(got, head), tail)
	if strings.ContainsAny(name, "\x1b\a\u009c;") || strings.Contains(name, "\x9c") {
		t.Errorf("name in the notification %q holds a control character or a separator", name)
	}
	if !strings.HasPrefix(name, "ev,il") {
		t.Errorf("name in the notification %q, want the cleaned name", name)
	}
}

func TestNotifySequence(t *testing.T) {
	tests := []struct {
		style NotifyStyle
		name  string
		tmux  bool
		want  string
	}{
		{NotifyOff, "bob", false, ""},
		{NotifyOSC9, "bob", false, "\x1b]9;securechat: message from bob\a"},
		{NotifyOSC777, "bob", false, "\x1b]777;notify;securechat;message from bob\a"},
		{NotifyOSC9, "", false, "\x1b]9;securechat: message from a peer\a"},
		{NotifyOSC9, "bob", true, "\x1bPtmux;\x1b\x1b]9;securechat: message from bob\a\x1b\\"},
		{NotifyOSC9, strings.Repeat("é", 50), false, "\x1b]9;securechat: message from " + strings.Repeat("é", maxNotifyRunes) + "…\a"},
	}
	for _, tt := range tests {
		if got := notifySequence(tt.style, tt.name, tt.tmux); got != tt.want {
			t.Errorf("notifySequence(%d, %q, %v) = %q, want %q", tt.style, tt.name, tt.tmux, got, tt.want)
		}
	}
}

func TestDetectNotify(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want NotifyStyle
	}{
		{map[string]string{"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, NotifyOSC9},
		{map[string]string{"TERM": "xterm-kitty"}, NotifyOSC9},
		{map[string]string{"TERM": "foot"}, NotifyOSC777},
		{map[string]string{"TERM": "rxvt-unicode-256color"}, NotifyOSC777},
		{map[string]string{"TERM": "xterm-256color", "VTE_VERSION": "7600"}, NotifyOSC777},
		{map[string]string{"TERM": "linux"}, NotifyOff},
		{map[string]string{"TERM": "dumb"}, NotifyOff},
		{map[string]string{}, NotifyOff},
	}
	for _, tt := range tests {
		if got := DetectNotify(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("DetectNotify(%v) = %d, want %d", tt.env, got, tt.want)
		}
	}
}
