package p2p

import (
	"testing"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantText string
		wantName string
	}{
		{"plain", "hello, wörld 😀", "hello, wörld 😀", "hello, wörld 😀"},
		{"newline and tab", "a\nb\tc", "a\nb\tc", "abc"},
		{"carriage return", "a\rb", "ab", "ab"},
		{"C0 controls", "a\x00b\x07c\x08d\x1fe", "abcde", "abcde"},
		{"DEL", "a\x7fb", "ab", "ab"},
		{"C1 controls", "a\u0085b\u0090c\u009cd", "abd", "abd"},
		{"8-bit CSI", "a\u009b2Jb", "ab", "ab"},
		{"8-bit OSC", "a\u009d0;title\u0007b", "ab", "ab"},
		{"CSI clear screen", "a\x1b[2Jb", "ab", "ab"},
		{"CSI colour", "\x1b[31;1mred\x1b[0m", "red", "red"},
		{"CSI private", "a\x1b[?25lb", "ab", "ab"},
		{"OSC title BEL", "a\x1b]0;pwned\x07b", "ab", "ab"},
		{"OSC title ST", "a\x1b]0;pwned\x1b\\b", "ab", "ab"},
		{"OSC 52 clipboard unterminated", "a\x1b]52;c;ZXZpbA==", "a", "a"},
		{"DCS", "a\x1bPq#0;2;0;0;0\x1b\\b", "ab", "ab"},
		{"two-byte escape", "a\x1bcb", "ab", "ab"},
		{"charset escape", "a\x1b(Bb", "ab", "ab"},
		{"lone ESC at end", "ab\x1b", "ab", "ab"},
		{"bidi override", "a\u202eevil\u202cb", "aevilb", "aevilb"},
		{"bidi embeddings", "\u202a\u202b\u202dx", "x", "x"},
		{"bidi isolates", "\u2066a\u2067b\u2068c\u2069", "abc", "abc"},
		{"bidi marks", "a\u200eb\u200fc\u061cd", "abcd", "abcd"},
		{"invalid UTF-8", "a\xffb\xc3c\xed\xa0\x80d", "abcd", "abcd"},
		{"name trimmed", "  bob \n", "  bob \n", "bob"},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SanitizeText(tt.in); got != tt.wantText {
				t.Errorf("SanitizeText(%q) = %q, want %q", tt.in, got, tt.wantText)
			}
			if got := SanitizeName(tt.in); got != tt.wantName {
				t.Errorf("SanitizeName(%q) = %q, want %q", tt.in, got, tt.wantName)
			}
		})
	}
}

func FuzzSanitize(f *testing.F) {
	f.Add("a\x1b[2Jb\u202e\xff")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{SanitizeText(s), SanitizeName(s)} {
			if !utf8.ValidString(out) {
				t.Fatalf("invalid UTF-8 out of %q", s)
			}
			for _, r := range out {
				if r != '\n' && r != '\t' && dropRune(r) || r == esc {
					t.Fatalf("control %U left in output of %q", r, s)
				}
			}
		}
	})
}
