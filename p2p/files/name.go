package files

import (
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameBytes bounds a sanitized name: at most 200 bytes of UTF-8, " (n)"
// suffix included.
const MaxNameBytes = 200

// FallbackName replaces a name that sanitizing leaves empty.
const FallbackName = "file"

// reserved are names Windows gives to devices, in any case and with any
// extension ("con.txt" too); a file carrying one is unsafe to copy there.
var reserved = map[string]bool{
	"con": true, "prn": true, "aux": true, "nul": true, "clock$": true, "conin$": true, "conout$": true,
	"com1": true, "com2": true, "com3": true, "com4": true, "com5": true, "com6": true, "com7": true, "com8": true, "com9": true,
	"lpt1": true, "lpt2": true, "lpt3": true, "lpt4": true, "lpt5": true, "lpt6": true, "lpt7": true, "lpt8": true, "lpt9": true,
}

// SanitizeName turns a peer's claimed file name into one that is safe both
// in a terminal and as the last element of a path in the download folder:
//
//   - invalid UTF-8, control characters (C0, DEL, C1: escape sequences)
//     and format characters (bidi controls, zero-width characters) are
//     dropped, and every kind of blank (tab, newline) is a plain space;
//   - path separators and the characters Windows forbids (/ \ : * ? " < >
//     |) become "_", so the name never leaves its folder;
//   - leading and trailing dots and spaces go: no hidden file, no "." or
//     "..", and no trailing dot Windows would drop;
//   - a reserved device name (CON, NUL, COM1, ...; also "con.txt") gets a
//     leading "_";
//   - the name is cut to [MaxNameBytes] bytes at a character boundary,
//     keeping a short extension;
//   - an empty result is [FallbackName].
func SanitizeName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == utf8.RuneError:
			continue
		case unicode.IsSpace(r):
			b.WriteByte(' ') // one plain space for every kind of blank
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r):
			continue
		case strings.ContainsRune(`/\:*?"<>|`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), ". ")
	if s == "" {
		return FallbackName
	}
	stem := s
	if i := strings.IndexByte(s, '.'); i > 0 {
		stem = s[:i]
	}
	if reserved[strings.ToLower(strings.TrimRight(stem, " "))] {
		s = "_" + s
	}
	return cut(s, MaxNameBytes)
}

// cut shortens s to at most max bytes at a character boundary, keeping its
// extension when that is short (up to 16 bytes).
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	ext := filepath.Ext(s)
	if len(ext) > 16 || len(ext) == len(s) {
		ext = ""
	}
	stem := s[:len(s)-len(ext)]
	room := max - len(ext)
	stem = stem[:room]
	for !utf8.ValidString(stem) {
		stem = stem[:len(stem)-1]
	}
	stem = strings.TrimRight(stem, ". ")
	if stem == "" {
		return FallbackName + ext
	}
	return stem + ext
}

// Numbered returns name with a " (n)" suffix before its extension ("a
// (2).txt"), cut so that the result stays within [MaxNameBytes]; n 0 is
// name itself.
func Numbered(name string, n int) string {
	if n == 0 {
		return name
	}
	suffix := " (" + strconv.Itoa(n) + ")"
	ext := filepath.Ext(name)
	if len(ext) > 16 || len(ext) == len(name) {
		ext = ""
	}
	stem := strings.TrimSuffix(name, ext)
	return cut(stem, MaxNameBytes-len(suffix)-len(ext)) + suffix + ext
}
