package tui

import (
	"strings"
	"unicode"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// NotifyStyle is the escape sequence a desktop notification is sent with
// (the --notify flag), or none.
type NotifyStyle int

const (
	// NotifyOff sends no notification.
	NotifyOff NotifyStyle = iota
	// NotifyOSC9 sends ESC ] 9 ; text BEL: iTerm2, WezTerm, kitty,
	// Ghostty and Windows Terminal show it.
	NotifyOSC9
	// NotifyOSC777 sends ESC ] 777 ; notify ; title ; body BEL: foot,
	// rxvt-unicode and VTE-based terminals show it.
	NotifyOSC777
)

// DetectNotify picks the notification sequence the terminal described by
// the environment understands: OSC 777 for foot, rxvt and VTE terminals,
// none for the Linux console and dumb terminals (which would print it),
// OSC 9 for the rest. Terminals that know neither ignore an OSC sequence.
func DetectNotify(getenv func(string) string) NotifyStyle {
	term := getenv("TERM")
	switch {
	case term == "linux", term == "dumb", term == "":
		return NotifyOff
	case strings.HasPrefix(term, "foot"), strings.HasPrefix(term, "rxvt"), getenv("VTE_VERSION") != "":
		return NotifyOSC777
	}
	return NotifyOSC9
}

// maxNotifyRunes bounds the name in a notification.
const maxNotifyRunes = 40

// notifySequence is the escape sequence that asks the terminal for a
// desktop notification of a message from name. It names the sender only,
// never the text: a notification shows on a screen others may see, and
// may be kept by the desktop. Inside tmux it is wrapped for tmux's
// passthrough (allow-passthrough on), which tmux otherwise drops.
func notifySequence(style NotifyStyle, name string, tmux bool) string {
	body := "message from " + notifyText(name)
	var seq string
	switch style {
	case NotifyOSC9:
		// The text starts with a letter: ConEmu reads "OSC 9 ; digit" as
		// a command.
		seq = ansi.Notify("securechat: " + body)
	case NotifyOSC777:
		seq = "\x1b]777;notify;securechat;" + body + "\a"
	default:
		return ""
	}
	if tmux {
		seq = "\x1bPtmux;" + strings.ReplaceAll(seq, "\x1b", "\x1b\x1b") + "\x1b\\"
	}
	return seq
}

// notifyText keeps the printable characters of an already cleaned name,
// with ";" (the field separator of OSC 777) as ",", and cuts it short: no
// byte of it can end or extend the sequence.
func notifyText(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == maxNotifyRunes {
			b.WriteRune('…')
			break
		}
		switch {
		case r == ';':
			r = ','
		case !unicode.IsPrint(r):
			continue
		}
		b.WriteRune(r)
		n++
	}
	if b.Len() == 0 {
		return "a peer"
	}
	return b.String()
}

// unfocusedArrival is what a message from peer id does while the terminal
// does not have focus: the bell (--bell) and a desktop notification
// (--notify), at most one notification per peer until the terminal has
// focus again. The terminal reports focus only when asked ([model.View]);
// one that cannot never reports losing it, and nothing is sent.
func (m *model) unfocusedArrival(id string) tea.Cmd {
	if m.focused {
		return nil
	}
	var cmds []tea.Cmd
	if m.opts.Bell {
		cmds = append(cmds, tea.Raw("\a"))
	}
	if m.opts.Notify != NotifyOff && !m.notified[id] {
		if m.notified == nil {
			m.notified = map[string]bool{}
		}
		m.notified[id] = true
		cmds = append(cmds, tea.Raw(notifySequence(m.opts.Notify, m.senderName(id), m.opts.InTmux)))
	}
	return tea.Batch(cmds...)
}
