package tui

import (
	"hash/fnv"
	"image/color"
	"strings"
	"unicode/utf8"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
)

// Styles of the interface. Colours are 256-colour palette indices; the
// program downsamples them to what the terminal supports.
var (
	styleDim       = lipgloss.NewStyle().Foreground(lipgloss.Color("244"))
	styleSystem    = lipgloss.NewStyle().Foreground(lipgloss.Color("244"))
	styleAlert     = lipgloss.NewStyle().Foreground(lipgloss.Color("196")).Bold(true)
	styleOwn       = lipgloss.NewStyle().Foreground(lipgloss.Color("252")).Bold(true)
	styleStatus    = lipgloss.NewStyle().Foreground(lipgloss.Color("252")).Background(lipgloss.Color("236"))
	styleStatusBad = lipgloss.NewStyle().Foreground(lipgloss.Color("231")).Background(lipgloss.Color("160")).Bold(true)
	styleTitle     = lipgloss.NewStyle().Foreground(lipgloss.Color("252")).Background(lipgloss.Color("238"))
	styleVerified  = lipgloss.NewStyle().Foreground(lipgloss.Color("34"))
	styleWarn      = lipgloss.NewStyle().Foreground(lipgloss.Color("214")).Bold(true)
	styleSelected  = lipgloss.NewStyle().Reverse(true)
	styleUnread    = lipgloss.NewStyle().Foreground(lipgloss.Color("231")).Background(lipgloss.Color("25"))
	styleBanner    = lipgloss.NewStyle().Foreground(lipgloss.Color("231")).Background(lipgloss.Color("88"))
)

// peerPalette holds name colours that read well on dark and light
// backgrounds. Red is left out: it is reserved for alerts.
var peerPalette = []string{"33", "37", "41", "71", "99", "135", "166", "172", "32", "36", "128", "163", "64", "105", "173", "30"}

// peerColor derives a sender's colour from its peer ID, never from its
// self-chosen name: a peer that copies someone's name does not also get their
// colour.
func peerColor(peerID string) color.Color {
	h := fnv.New32a()
	h.Write([]byte(peerID))
	return lipgloss.Color(peerPalette[h.Sum32()%uint32(len(peerPalette))])
}

// maxNameRunes caps a displayed peer name, as the interface caps names.
const maxNameRunes = 32

// cleanText makes remote text safe for the terminal with the node's own
// sanitizer ([p2p.SanitizeText]: escape sequences, control characters,
// bidirectional overrides and invalid UTF-8 removed), a second time here
// because the screen must never receive raw bytes from the network. Then
// tabs become spaces, and newlines survive only if multiline is set.
func cleanText(s string, multiline bool) string {
	s = p2p.SanitizeText(s)
	if !strings.ContainsAny(s, "\t\n") {
		return s
	}
	s = strings.ReplaceAll(s, "\t", "    ")
	if !multiline {
		s = strings.ReplaceAll(s, "\n", " ")
	}
	return s
}

// cleanName is cleanText for a one-line name, capped to [maxNameRunes].
func cleanName(s string) string {
	s = strings.TrimSpace(cleanText(s, false))
	if utf8.RuneCountInString(s) > maxNameRunes {
		s = string([]rune(s)[:maxNameRunes])
	}
	return s
}

// shortID abbreviates a libp2p peer ID for display. The head and the tail
// are both kept: every Ed25519 ID starts with "12D3KooW", so the tail is what
// tells peers apart, and /msg accepts either end.
func shortID(id string) string {
	if len(id) <= 14 {
		return id
	}
	return id[:6] + "…" + id[len(id)-6:]
}

// fpGroups writes a fingerprint as rows of 16 hex digits in groups of four,
// the way people read them aloud to each other.
func fpGroups(fp e2e.Fingerprint) []string {
	s := fp.String()
	var rows []string
	for i := 0; i < len(s); i += 16 {
		row := s[i : i+16]
		rows = append(rows, row[0:4]+" "+row[4:8]+" "+row[8:12]+" "+row[12:16])
	}
	return rows
}

// safetyRows formats a safety number as rows of four groups of five digits.
// A number that is not 60 digits long is shown as it came.
func safetyRows(s string) []string {
	var digits []rune
	for _, r := range s {
		if r >= '0' && r <= '9' {
			digits = append(digits, r)
		}
	}
	if len(digits) != 60 {
		return []string{cleanText(s, false)}
	}
	var rows []string
	for row := 0; row < 3; row++ {
		var groups []string
		for g := 0; g < 4; g++ {
			start := (row*4 + g) * 5
			groups = append(groups, string(digits[start:start+5]))
		}
		rows = append(rows, strings.Join(groups, " "))
	}
	return rows
}

// fit cuts or pads a styled string to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) > w {
		s = ansi.Truncate(s, w, "…")
	}
	if pad := w - ansi.StringWidth(s); pad > 0 {
		s += strings.Repeat(" ", pad)
	}
	return s
}
