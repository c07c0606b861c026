package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
)

// suggestion is the line under the input while a command is typed: the
// commands that start with what is typed so far, or, once one is named,
// how it is used. Tab completes; this only shows. It is "" when the input
// is not a command (a plain message, or "//" for a leading slash).
func (m *model) suggestion() string {
	v := m.input.Value()
	if m.modal != nil || !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.Contains(v, "\n") {
		return ""
	}
	if s := m.pathSuggestion(v); s != "" {
		return s
	}
	name, _, typingArgs := strings.Cut(v[1:], " ")
	name = strings.ToLower(name)
	var matches []int
	for i, c := range commandHelp {
		if c.name == name || !typingArgs && strings.HasPrefix(c.name, name) {
			matches = append(matches, i)
		}
	}
	switch {
	case len(matches) == 0 && typingArgs:
		return "" // an unknown command: Enter says so
	case len(matches) == 0:
		return "no command starts with /" + cleanName(name) + " · /help lists them"
	case len(matches) == 1:
		c := commandHelp[matches[0]]
		return strings.TrimSpace("/"+c.name+" "+c.args) + " — " + c.help
	}
	names := make([]string, len(matches))
	for i, j := range matches {
		names[i] = "/" + commandHelp[j].name
	}
	return strings.Join(names, "  ") + "  · Tab completes"
}

// suggestRows is how many rows the suggestion line takes: 1 or 0.
func (m *model) suggestRows() int {
	if m.suggestion() == "" {
		return 0
	}
	return 1
}

// renderSuggestion draws the suggestion line.
func (m *model) renderSuggestion(w int) string {
	return styleDim.Render(fit(" "+m.suggestion(), w))
}

// maxPathCandidates bounds the directory entries one Tab offers.
const maxPathCandidates = 500

// pathsMsg carries the candidates of a path completion into Update.
type pathsMsg struct {
	line string // the input line when Tab was pressed
	comp completion
}

// completePath lists, outside Update (a directory may sit on a slow
// disk), the entries that complete the path argument arg of the input line
// v, whose part before arg is prefix.
func (m *model) completePath(v, prefix, arg string) tea.Cmd {
	return func() tea.Msg {
		c := completion{prefix: prefix, items: pathCandidates(arg), paths: true}
		return pathsMsg{line: v, comp: c}
	}
}

// applyPaths puts a path completion into the input line, if it is still
// the line Tab was pressed on: the candidates' common start first, when
// that is longer than what is typed, then each candidate in turn.
func (m *model) applyPaths(msg pathsMsg) {
	if m.input.Value() != msg.line || len(msg.comp.items) == 0 {
		return
	}
	c := msg.comp
	if len(c.items) == 1 {
		// The one candidate: the next Tab lists what is in it, if it is a
		// directory.
		m.input.SetValue(c.prefix + c.items[0])
		m.input.CursorEnd()
		return
	}
	m.comp = &c
	if common := commonPrefix(c.items); len(c.prefix+common) > len(msg.line) {
		c.shown = c.prefix + common
		m.input.SetValue(c.shown)
		m.input.CursorEnd()
		return
	}
	m.applyCompletion()
}

// pathCandidates lists the paths that complete arg: the entries of the
// directory it names whose names start with its last element, written as
// arg writes the directory, a directory with a "/" after it. A leading
// "~" stands for the user's home directory. Hidden entries are offered
// only once a "." is typed.
func pathCandidates(arg string) []string {
	if arg == "~" {
		return []string{"~/"}
	}
	dirPart, base := "", arg
	if i := strings.LastIndexByte(arg, '/'); i >= 0 {
		dirPart, base = arg[:i+1], arg[i+1:]
	}
	dir := expandHome(dirPart)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var items []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, base) || strings.HasPrefix(name, ".") && !strings.HasPrefix(base, ".") {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&os.ModeSymlink != 0 {
			if fi, err := os.Stat(filepath.Join(dir, name)); err == nil {
				isDir = fi.IsDir()
			}
		}
		if isDir {
			name += "/"
		}
		items = append(items, dirPart+name)
		if len(items) == maxPathCandidates {
			break
		}
	}
	return items
}

// expandHome replaces a leading "~" or "~/" of path with the user's home
// directory; other paths are returned as they are.
func expandHome(path string) string {
	if path != "~" && !strings.HasPrefix(path, "~/") {
		return path
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return path
	}
	return filepath.Join(home, path[1:])
}

// commonPrefix is the longest start that all of items share, cut at a
// character boundary.
func commonPrefix(items []string) string {
	if len(items) == 0 {
		return ""
	}
	p := items[0]
	for _, s := range items[1:] {
		n := 0
		for n < len(p) && n < len(s) && p[n] == s[n] {
			n++
		}
		p = p[:n]
	}
	for len(p) > 0 && !utf8.ValidString(p) {
		p = p[:len(p)-1]
	}
	return p
}

// pathSuggestion lists the candidates of a path completion under the
// input, by their last element, while Tab cycles through them.
func (m *model) pathSuggestion(v string) string {
	c := m.comp
	if c == nil || !c.paths || v != c.shown || len(c.items) < 2 {
		return ""
	}
	names := make([]string, len(c.items))
	for i, it := range c.items {
		trimmed := strings.TrimSuffix(it, "/")
		names[i] = cleanText(it[strings.LastIndexByte(trimmed, '/')+1:], false)
	}
	return fmt.Sprintf("%d matches: %s · Tab cycles", len(names), strings.Join(names, "  "))
}
