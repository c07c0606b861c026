package p2p

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSanitize(t *testing.T) {
	t.Parallel()
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
	f.Add("plain text\n\twith tabs")
	f.Add("\u200d") // a format character: kept in texts, dropped from names
	f.Add("h\u00e9llo \u2066x\u2069 \xc2\x9b31m \x1b]0;t\x07 \xef\xbf\xbd")
	f.Fuzz(func(t *testing.T, s string) {
		// The fast path (runs of plain ASCII copied whole) must not
		// change a single result of the rune-by-rune definition.
		if got, want := SanitizeText(s), sanitizeReference(s, true); got != want {
			t.Fatalf("SanitizeText(%q) = %q, reference %q", s, got, want)
		}
		if got, want := sanitize(s, false), sanitizeReference(s, false); got != want {
			t.Fatalf("sanitize(%q, false) = %q, reference %q", s, got, want)
		}
		for _, out := range []string{SanitizeText(s), SanitizeName(s)} {
			if len(out) > len(s) {
				t.Fatalf("output of %q is longer than the input: %q", s, out)
			}
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

// sanitizeReference is sanitize as first written, one rune at a time with
// no fast path: FuzzSanitize checks that the optimised one agrees with it.
func sanitizeReference(s string, keepLines bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			i++
			continue
		}
		if r == esc {
			i += escapeLen(s[i:])
			continue
		}
		switch r {
		case 0x9b:
			i += size + csiBodyLen(s[i+size:])
			continue
		case 0x90, 0x98, 0x9d, 0x9e, 0x9f:
			i += size + stringBodyLen(s[i+size:])
			continue
		}
		i += size
		// Names also lose every format character (Cf: zero-width
		// joiners and the like, names.go); texts keep them for emoji.
		if keepLines && (r == '\n' || r == '\t') || !dropRune(r) && (keepLines || !unicode.Is(unicode.Cf, r)) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// BenchmarkSanitizeText measures a 64 KiB message: all ASCII (the fast
// path) and with a control character every 64 bytes.
func BenchmarkSanitizeText(b *testing.B) {
	plain := strings.Repeat("a", 64<<10)
	mixed := strings.Repeat(strings.Repeat("b", 63)+"\x07", 1<<10)
	for _, tc := range []struct{ name, s string }{{"plain", plain}, {"mixed", mixed}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.s)))
			for b.Loop() {
				_ = SanitizeText(tc.s)
			}
		})
		b.Run(tc.name+"/reference", func(b *testing.B) {
			b.SetBytes(int64(len(tc.s)))
			for b.Loop() {
				_ = sanitizeReference(tc.s, true)
			}
		})
	}
}
