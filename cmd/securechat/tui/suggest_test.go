package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// lastRow is the bottom row of the screen.
func (hs *harness) lastRow() string {
	rows := strings.Split(strings.TrimSuffix(hs.screen(), "\n"), "\n")
	return rows[len(rows)-1]
}

// TestSlashSuggestsCommands checks the line under the input while a
// command is typed: every command after "/", fewer as letters follow,
// the usage of the one named, nothing for a message.
func TestSlashSuggestsCommands(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.typeText("/")
	for _, c := range commandHelp {
		if !strings.Contains(hs.m.suggestion(), "/"+c.name) {
			t.Errorf("after / the suggestions %q lack /%s", hs.m.suggestion(), c.name)
		}
	}
	if !strings.HasPrefix(hs.lastRow(), " /help  /peers") {
		t.Errorf("after / the last row is %q, want the commands", hs.lastRow())
	}
	// The golden screen shows one command's usage: the list of them grows.
	hs.typeText("ve")
	hs.golden("suggest_80x24")
	if rows := strings.Count(hs.screen(), "\n"); rows != 24 {
		t.Errorf("the screen has %d rows with the suggestion line, want 24", rows)
	}
	if c := hs.m.View().Cursor; c == nil || c.Y != 22 {
		t.Errorf("cursor %+v, want it on the input line, row 22", c)
	}

	for _, tt := range []struct{ typed, want string }{
		{"/ver", "/verify [PEER] — compare the safety number"},
		{"/VER", "/verify [PEER] — compare the safety number"},
		{"/m", "/msg  /myid  /mailbox  · Tab completes"},
		{"/msg ", "/msg NAME-OR-ID [TEXT] — switch to a conversation"},
		{"/msg bob hel", "/msg NAME-OR-ID [TEXT] — switch to a conversation"},
		{"/zz\x1b[31m", "no command starts with /zz[31m · /help lists them"},
	} {
		hs.m.input.SetValue(tt.typed)
		hs.send(tea.KeyPressMsg{Code: tea.KeyEnd})
		if got := hs.lastRow(); !strings.Contains(got, tt.want) {
			t.Errorf("typed %q: suggestion %q, want %q", tt.typed, got, tt.want)
		}
	}

	for _, typed := range []string{"hello", "//not a command", "/unknown arg", ""} {
		hs.m.input.SetValue(typed)
		hs.send(tea.KeyPressMsg{Code: tea.KeyEnd})
		if hs.m.suggestion() != "" || !strings.HasPrefix(hs.lastRow(), "[bob]") {
			t.Errorf("typed %q: suggestion %q; want none, the input line last", typed, hs.m.suggestion())
		}
	}

	// Tab still completes, and Enter runs the command and clears the line.
	hs.m.input.SetValue("")
	hs.typeText("/pe")
	hs.press(tea.KeyTab)
	if got := hs.m.input.Value(); got != "/peers " {
		t.Errorf("Tab completed to %q", got)
	}
	hs.press(tea.KeyEnter)
	if hs.m.suggestion() != "" {
		t.Errorf("after Enter the suggestion %q stays", hs.m.suggestion())
	}
}
