package tui

import (
	"strings"
	"testing"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// TestSplitMessage: the parts join back to the text, none is over the
// limit, each is valid UTF-8, and a line break near the end of a part is
// where it is cut.
func TestSplitMessage(t *testing.T) {
	for _, text := range []string{
		strings.Repeat("é", 100),
		strings.Repeat("line of text\n", 40),
		strings.Repeat("x", 99) + "\n" + strings.Repeat("日本", 60),
		strings.Repeat("\xff", 250), // not UTF-8: still cut, still whole
	} {
		parts := splitMessage(text, 64)
		if strings.Join(parts, "") != text {
			t.Fatalf("parts of %q do not join back", text)
		}
		for _, p := range parts {
			if len(p) > 64 || p == "" {
				t.Errorf("part %q: %d bytes", p, len(p))
			}
			if utf8.ValidString(text) && !utf8.ValidString(p) {
				t.Errorf("part %q is not valid UTF-8", p)
			}
		}
	}
	if parts := splitMessage(strings.Repeat("line of text\n", 40), 64); !strings.HasSuffix(parts[0], "\n") {
		t.Errorf("first part %q not cut at a line break", parts[0])
	}
}

// TestPasteOverLimitIsSplit: a paste over 64 KiB is not thrown away: after
// the confirmation it goes as several messages, in order, that join back
// to the paste.
func TestPasteOverLimitIsSplit(t *testing.T) {
	hs := chat(t, 80, 24)
	before := len(hs.node.sent)
	paste := strings.Repeat(strings.Repeat("z", 99)+"\n", 1500) // about 146 KiB
	hs.send(tea.PasteMsg{Content: paste})
	hs.typeText("y")
	sent := hs.node.sent[before:]
	if len(sent) != 3 {
		t.Fatalf("sent %d messages, want 3", len(sent))
	}
	var joined strings.Builder
	for _, s := range sent {
		text, ok := strings.CutPrefix(s, bobID+": ")
		if !ok || len(text) > p2p.MaxMessageText {
			t.Fatalf("message of %d bytes to %q", len(text), s[:20])
		}
		joined.WriteString(text)
	}
	if joined.String() != strings.TrimSuffix(paste, "\n") {
		t.Errorf("the messages do not join back to the paste")
	}
	said := false
	for _, l := range hs.m.convs[bobID].lines {
		said = said || strings.Contains(l.text, "goes as 3 messages")
	}
	if !said {
		t.Errorf("the conversation does not say the paste was split")
	}
}
