package p2p

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Remote strings (names, message texts) reach a terminal. A peer must not be
// able to move the cursor, rewrite the screen, set the window title, hide
// text or make it read backwards, so everything that a terminal or a bidi
// algorithm interprets is removed before the text leaves the node:
//
//   - invalid UTF-8, dropped byte by byte rather than replaced by U+FFFD:
//     the output is then always a subsequence of the input's own runes,
//     never longer and never holding a character the sender did not send
//     (a replacement would triple a run of bad bytes). The chat payload
//     parser refuses invalid UTF-8 already, so a visible marker would have
//     nothing to show for remote text. This is the one rule for every
//     screen: the terminal UI cleans with these functions too;
//   - C0 controls U+0000-U+001F and DEL U+007F (message texts keep \n and
//     \t, names keep nothing);
//   - C1 controls U+0080-U+009F, which include the 8-bit CSI (U+009B) and
//     OSC (U+009D) introducers;
//   - whole escape sequences: ESC followed by CSI "[" parameters and a final
//     byte, OSC "]" or DCS/SOS/PM/APC strings up to BEL or ST, or a single
//     character for the two-byte forms, so no leftover "[2J" reaches the
//     screen;
//   - bidi embeddings and overrides U+202A-U+202E, isolates U+2066-U+2069,
//     and the marks U+200E, U+200F, U+061C, which can reorder what a
//     reader sees;
//   - in names only, every other format character (category Cf: zero-width
//     spaces and joiners, U+2060, U+FEFF, the soft hyphen U+00AD...),
//     which would let "Bob" and an invisible variant of it look the same
//     (names.go). Texts keep them: emoji sequences need U+200D.

// SanitizeText cleans a remote message text for display; newlines and tabs
// stay.
func SanitizeText(s string) string { return sanitize(s, true) }

// SanitizeName cleans a remote name for display, on one line, trimmed of
// surrounding spaces.
func SanitizeName(s string) string { return strings.TrimSpace(sanitize(s, false)) }

const esc = 0x1b

func sanitize(s string, keepLines bool) string {
	// Nearly every text is printable ASCII, kept byte for byte: scan runs of
	// it and copy them whole, and return s itself when nothing changes.
	i := plainLen(s, keepLines)
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for i < len(s) {
		if n := plainLen(s[i:], keepLines); n > 0 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			i++ // invalid byte: dropped
			continue
		}
		if r == esc {
			i += escapeLen(s[i:])
			continue
		}
		// The 8-bit introducers of CSI, OSC and the string controls
		// start sequences just like ESC [ and ESC ]: drop the whole
		// sequence, not only the introducer.
		switch r {
		case 0x9b:
			i += size + csiBodyLen(s[i+size:])
			continue
		case 0x90, 0x98, 0x9d, 0x9e, 0x9f:
			i += size + stringBodyLen(s[i+size:])
			continue
		}
		if !dropRune(r) && (keepLines || !unicode.Is(unicode.Cf, r)) {
			// A rune that decoded is valid UTF-8, so its bytes are
			// its one encoding.
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// plainLen returns the length of the prefix of s that sanitize keeps as it
// is without decoding: printable ASCII, and \n and \t if keepLines.
func plainLen(s string, keepLines bool) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f || keepLines && (c == '\n' || c == '\t') {
			continue
		}
		return i
	}
	return len(s)
}

// dropRune reports whether r is a control or bidi formatting character.
func dropRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// escapeLen returns the length of the escape sequence at the start of s,
// which begins with ESC.
func escapeLen(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		return 2 + csiBodyLen(s[2:])
	case ']', 'P', 'X', '^', '_':
		return 2 + stringBodyLen(s[2:])
	}
	// Two-byte sequences (ESC c, ESC 7, ...) and charset selections
	// (ESC ( B): intermediate bytes 0x20-0x2f, then one final byte.
	n := 1
	for n < len(s) && s[n] >= 0x20 && s[n] <= 0x2f {
		n++
	}
	if n < len(s) && s[n] >= 0x30 && s[n] <= 0x7e {
		n++
	}
	return n
}

// csiBodyLen returns the length of a CSI sequence's parameters, intermediates
// and final byte. A sequence broken by anything else ends there, and the
// breaking character is judged on its own.
func csiBodyLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x30 && c <= 0x3f, c >= 0x20 && c <= 0x2f:
			continue
		case c >= 0x40 && c <= 0x7e:
			return i + 1
		default:
			return i
		}
	}
	return len(s)
}

// stringBodyLen returns the length of an OSC/DCS/SOS/PM/APC string up to and
// including its terminator: BEL, ESC \ or the 8-bit ST (U+009C). An
// unterminated string runs to the end: a terminal would swallow it too.
func stringBodyLen(s string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == 0x07:
			return i + 1
		case s[i] == esc:
			if i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
			return i // a new sequence starts; let the caller handle it
		case s[i] == 0xc2 && i+1 < len(s) && s[i+1] == 0x9c:
			return i + 2
		}
	}
	return len(s)
}
