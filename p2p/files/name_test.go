package files

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"report.pdf":                      "report.pdf",
		"../../x":                         "_.._x",
		"/etc/passwd":                     "_etc_passwd",
		`C:\Windows\win.ini`:              "C__Windows_win.ini",
		"a\x1b[2Jb":                       "a[2Jb",
		"nul\x00byte":                     "nulbyte",
		"CON":                             "_CON",
		"con.txt":                         "_con.txt",
		"LPT9 .log":                       "_LPT9 .log",
		"console":                         "console",
		"..":                              FallbackName,
		".hidden":                         "hidden",
		"trailing. ":                      "trailing",
		"\u202eexe.txt":                   "exe.txt",
		"zero\u200bwidth":                 "zerowidth",
		"tab\there":                       "tab here",
		"":                                FallbackName,
		"\x01\x02":                        FallbackName,
		"ok\xffname":                      "okname",
		strings.Repeat("a", 300):          strings.Repeat("a", MaxNameBytes),
		strings.Repeat("a", 300) + ".tar": strings.Repeat("a", MaxNameBytes-4) + ".tar",
		strings.Repeat("é", 150):          strings.Repeat("é", MaxNameBytes/2),
	} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNumbered(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int
		want string
	}{
		{"a.txt", 0, "a.txt"},
		{"a.txt", 1, "a (1).txt"},
		{"a", 12, "a (12)"},
		{"archive.tar.gz", 2, "archive.tar (2).gz"},
		{strings.Repeat("b", MaxNameBytes), 3, strings.Repeat("b", MaxNameBytes-4) + " (3)"},
	} {
		if got := Numbered(c.name, c.n); got != c.want || len(got) > MaxNameBytes {
			t.Errorf("Numbered(%q, %d) = %q, want %q", c.name, c.n, got, c.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1": 1, "4096": 4096, "4GiB": 4 << 30, "512 MiB": 512 << 20, "10k": 10 << 10, "2TB": 2 << 40, "7b": 7,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1.5GiB", "GiB", "9999999999999999999", "9000000TiB", "4 GB extra", "0x10"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}

// FuzzSanitizeName checks the promises of SanitizeName on any input: a
// non-empty name of valid UTF-8, at most MaxNameBytes, with no separator,
// control or format character, not starting or ending with a dot or
// space, never a reserved device name, and stable.
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{"../../x", "/etc/passwd", "a\x1b[2Jb", "CON", "\u202e", ". .", strings.Repeat("é", 150)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s := SanitizeName(in)
		if s == "" || len(s) > MaxNameBytes || !utf8.ValidString(s) {
			t.Fatalf("SanitizeName(%q) = %q", in, s)
		}
		if strings.ContainsAny(s, `/\:*?"<>|`) || strings.Trim(s, ". ") != s {
			t.Fatalf("SanitizeName(%q) = %q", in, s)
		}
		for _, r := range s {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("SanitizeName(%q) = %q holds %U", in, s, r)
			}
		}
		stem, _, _ := strings.Cut(s, ".")
		if reserved[strings.ToLower(strings.TrimRight(stem, " "))] {
			t.Fatalf("SanitizeName(%q) = %q is reserved", in, s)
		}
		if again := SanitizeName(s); again != s {
			t.Fatalf("SanitizeName not stable: %q -> %q -> %q", in, s, again)
		}
	})
}
