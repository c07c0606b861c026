package tui

import (
	"strings"
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
