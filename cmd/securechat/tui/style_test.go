package tui

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

func TestCleanText(t *testing.T) {
	tests := []struct {
		name, in  string
		multiline bool
		want      string
	}{
		{"plain", "hello", false, "hello"},
		{"csi", "a\x1b[31mred\x1b[0mb", false, "aredb"},
		{"osc title", "x\x1b]0;pwned\x07y", false, "xy"},
		{"bell and nul", "a\x07b\x00c", false, "abc"},
		{"bidi override", "abc\u202eevil\u202c", false, "abcevil"},
		{"newline single", "a\nb", false, "a b"},
		{"newline multi", "a\nb", true, "a\nb"},
		{"tab", "a\tb", false, "a    b"},
		{"c1 control", "a\u0085b", false, "ab"},
		{"8-bit csi ends at its final byte", "a\u009bb", false, "a"},
		{"invalid utf8 dropped, as the node does", "a\xffb", false, "ab"},
		{"8-bit csi sequence", "a\u009b2Jb", false, "ab"},
		{"osc unterminated", "a\x1b]52;c;ZXZpbA==", false, "a"},
		{"bidi isolate", "a\u2066b", false, "ab"},
		{"tab multiline", "a\tb\nc", true, "a    b\nc"},
		{"emoji kept", "hi 👋", false, "hi 👋"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cleanText(tt.in, tt.multiline); got != tt.want {
				t.Errorf("cleanText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCleanNameCaps(t *testing.T) {
	if got := cleanName(strings.Repeat("é", 40)); len([]rune(got)) != maxNameRunes {
		t.Errorf("name not capped: %d runes", len([]rune(got)))
	}
}

func TestPeerColorFollowsID(t *testing.T) {
	if peerColor(bobID) != peerColor(bobID) {
		t.Fatal("colour not stable")
	}
	// Over a handful of IDs the colour must vary: it is not a constant.
	seen := map[any]bool{}
	for _, id := range []string{bobID, carolID, carol2, selfID, "a", "b", "c", "d"} {
		seen[peerColor(id)] = true
	}
	if len(seen) < 3 {
		t.Errorf("only %d colours for 8 IDs", len(seen))
	}
}

func TestSameNameDifferentColourAndLabel(t *testing.T) {
	hs := newHarness(t, 120, 30)
	hs.peerUp(carolID, "carol", p2p.TrustNew)
	hs.peerUp(carol2, "carol", p2p.TrustNew)
	a, b := hs.m.senderName(carolID), hs.m.senderName(carol2)
	if a == b || !strings.HasPrefix(a, "carol~") || !strings.HasPrefix(b, "carol~") {
		t.Errorf("colliding names shown as %q and %q", a, b)
	}
}

func TestSafetyRows(t *testing.T) {
	got := safetyRows("12345 67890 " + strings.Repeat("0", 50))
	if len(got) != 3 || got[0] != "12345 67890 00000 00000" {
		t.Errorf("safetyRows = %q", got)
	}
	if got := safetyRows("short"); len(got) != 1 || got[0] != "short" {
		t.Errorf("odd safety number = %q", got)
	}
}

func TestShortID(t *testing.T) {
	if got := shortID(bobID); got != "12D3Ko…bBBBBB" {
		t.Errorf("shortID = %q", got)
	}
	if got := shortID("short"); got != "short" {
		t.Errorf("shortID(short) = %q", got)
	}
}

func TestSentNote(t *testing.T) {
	hs := newHarness(t, 80, 24)
	at := start // 14:05 on Saturday 9 March 2024
	tests := []struct {
		name   string
		sentAt time.Time
		want   string
	}{
		{"unknown", time.Time{}, ""},
		{"same minute", at.Add(-30 * time.Second), ""},
		{"rounded down", at.Add(-time.Minute), ""},
		{"queued", at.Add(-time.Hour), "  (sent 13:05)"},
		{"yesterday", at.Add(-24 * time.Hour), "  (sent Fri 8 Mar 14:05)"},
		{"last year", at.AddDate(-1, 0, 0), "  (sent 9 Mar 2023 14:05)"},
		{"clock ahead", at.Add(time.Hour), "  (the sender's clock says 15:05)"},
		{"nonsense", time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), "  (the sender's clock is wrong)"},
		{"far future", time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), "  (the sender's clock is wrong)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hs.m.sentNote(line{kind: lineIn, at: at, sentAt: tt.sentAt}); got != tt.want {
				t.Errorf("sentNote = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	hs := chat(t, 80, 24)
	tests := []struct {
		arg, want, err string
	}{
		{bobID, bobID, ""},
		{"bob", bobID, ""},
		{"BOB", bobID, ""},
		{"bo", bobID, ""},
		{"bBBBBB", bobID, ""},
		{"12D3KooWCarol", carolID, ""},
		{fp(carol2).String()[:16], carol2, ""},
		{"carol~" + fp(carolID).Short(), carolID, ""},
		{"carol~" + fp(carolID).String()[:8], "", "at least 16 hex digits"},
		{fp(carol2).String()[:10], "", "at least 16 hex digits"},
		{"12D3Ko…CCCCC", carolID, ""},
		{"carol", "", "several"},
		{"12D3", "", "several"},
		{"zed", "", "no peer"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			p, err := hs.m.resolve(tt.arg)
			switch {
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("err = %v, want %q", err, tt.err)
			case tt.err == "" && (err != nil || p.id != tt.want):
				t.Errorf("got %v, %v; want %s", p, err, tt.want)
			}
		})
	}
}

// TestRunEndsWhenEventsClose runs the real program on pipes: closing the
// node's event channel ends Run without error.
func TestRunEndsWhenEventsClose(t *testing.T) {
	inR, inW := io.Pipe()
	defer inW.Close()
	events := make(chan p2p.Event)
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), newFakeNode(), events, Options{Name: "alice", In: inR, Out: &bytes.Buffer{}})
	}()
	events <- p2p.Ready{PeerID: selfID, Name: "alice"}
	close(events)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the events closed")
	}
}

// TestRunEndsWithContext checks that cancelling ctx ends Run cleanly.
func TestRunEndsWithContext(t *testing.T) {
	inR, inW := io.Pipe()
	defer inW.Close()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan p2p.Event)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, newFakeNode(), events, Options{In: inR, Out: &bytes.Buffer{}})
	}()
	events <- p2p.Ready{PeerID: selfID} // the program is up
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx was cancelled")
	}
}
