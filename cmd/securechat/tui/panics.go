package tui

import (
	"fmt"
	"runtime/debug"

	tea "charm.land/bubbletea/v2"
)

// Bubble Tea catches a panic itself and prints its stack on the terminal.
// The interface catches its own first: the stack goes to Options.Log (the
// log file), the program quits, and Run returns one internal error, so the
// process ends with exit 1 and one line.

// panicMsg carries a panic in a command back into Update.
type panicMsg struct {
	r     any
	stack []byte
}

// crash logs a panic and quits.
func (m *model) crash(where string, r any, stack []byte) tea.Cmd {
	if m.opts.Log != nil {
		m.opts.Log.Error("terminal ui: "+where+" panicked", "panic", fmt.Sprint(r), "stack", string(stack))
	}
	if m.err == nil {
		m.err = fmt.Errorf("internal error: %v", r)
	}
	m.quitting = true
	return tea.Quit
}

// guard wraps a command so that a panic in it comes back as a panicMsg;
// the commands of a batch are wrapped as the batch runs.
func guard(cmd tea.Cmd) tea.Cmd {
	if cmd == nil {
		return nil
	}
	return func() (msg tea.Msg) {
		defer func() {
			if r := recover(); r != nil {
				msg = panicMsg{r, debug.Stack()}
			}
		}()
		msg = cmd()
		if b, ok := msg.(tea.BatchMsg); ok {
			for i := range b {
				b[i] = guard(b[i])
			}
		}
		return msg
	}
}
