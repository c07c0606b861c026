package tui

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// storedChat is n stored messages with bob, "message 001" the oldest, one
// a minute, with Seqs 1..n and IDs h1..hn.
func storedChat(n int) []p2p.HistoryEntry {
	es := make([]p2p.HistoryEntry, n)
	for i := range es {
		es[i] = p2p.HistoryEntry{ID: fmt.Sprintf("h%d", i+1), Seq: uint64(i + 1), FromMe: i%3 == 0,
			Text: fmt.Sprintf("message %03d", i+1), SentAt: start.Add(time.Duration(i-n) * time.Minute), State: p2p.StateDelivered}
	}
	return es
}

var messageNumber = regexp.MustCompile(`message (\d{3})`)

// shownNumbers lists the message numbers on the screen, top to bottom.
func shownNumbers(screen string) []int {
	var ns []int
	for _, m := range messageNumber.FindAllStringSubmatch(screen, -1) {
		n, _ := strconv.Atoi(m[1])
		ns = append(ns, n)
	}
	return ns
}

// TestScrollbackLoadsOlderHistory scrolls back through 120 stored
// messages, of which the conversation opens with the last 50: PgUp at the
// top reads the page before, until the first message, each once and in
// order.
func TestScrollbackLoadsOlderHistory(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.node.history = map[string][]p2p.HistoryEntry{bobID: storedChat(120)}
	hs.peerUp(bobID, "bob", p2p.TrustVerified)
	hs.contains("message 120")
	if got := len(hs.m.conv(bobID).lines); got > historyShown+2 {
		t.Fatalf("the conversation opened with %d lines, want the last %d messages", got, historyShown)
	}

	lowest := 121
	for press := 0; lowest > 1; press++ {
		if press == 40 {
			t.Fatalf("40 PgUps did not reach message 001; lowest shown %d:\n%s", lowest, hs.screen())
		}
		hs.press(tea.KeyPgUp)
		ns := shownNumbers(hs.screen())
		for i := 1; i < len(ns); i++ {
			if ns[i] != ns[i-1]+1 {
				t.Fatalf("after %d PgUps the screen shows messages %v, not consecutive:\n%s", press+1, ns, hs.screen())
			}
		}
		if len(ns) > 0 {
			lowest = min(lowest, ns[0])
		}
	}
	hs.contains("Earlier messages (120, from the history):")
	if n := strings.Count(hs.screen(), "Earlier messages"); n != 1 {
		t.Errorf("%d history headers on screen, want 1:\n%s", n, hs.screen())
	}
	hs.golden("history_top_80x24")

	// Every message once, in order, and no more pages asked for once the
	// node had no more.
	var ids []string
	for _, l := range hs.m.conv(bobID).lines {
		if l.id != "" {
			ids = append(ids, l.id)
		}
	}
	var want []string
	for i := 1; i <= 120; i++ {
		want = append(want, fmt.Sprintf("h%d", i))
	}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("conversation lines %v\nwant %v", ids, want)
	}
	pages := hs.node.pages
	hs.press(tea.KeyPgUp)
	hs.press(tea.KeyPgUp)
	if hs.node.pages != pages {
		t.Errorf("PgUp at the start of the history asked for %d more pages", hs.node.pages-pages)
	}
	if pages != 2 {
		t.Errorf("%d pages read for 120 messages after the first 50, want 2", pages)
	}

	// Back down: Esc shows the newest again.
	hs.press(tea.KeyEscape)
	hs.contains("message 120")
}

// TestScrollbackSkipsShownLines checks that a page holding a message this
// run already shows does not show it twice, and that a conversation whose
// history fits on the first load asks for no page.
func TestScrollbackSkipsShownLines(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.node.history = map[string][]p2p.HistoryEntry{bobID: storedChat(60)}
	hs.peerUp(bobID, "bob", p2p.TrustVerified)
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "h5", Text: "message 005", SentAt: start})
	for range 20 {
		hs.press(tea.KeyPgUp)
	}
	n := 0
	for _, l := range hs.m.conv(bobID).lines {
		if l.id == "h5" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("message h5 shows %d times, want once", n)
	}
	hs.contains("Earlier messages (59, from the history):")

	short := newHarness(t, 80, 24)
	short.node.history = map[string][]p2p.HistoryEntry{bobID: storedChat(10)}
	short.peerUp(bobID, "bob", p2p.TrustVerified)
	for range 5 {
		short.press(tea.KeyPgUp)
	}
	if short.node.pages != 0 {
		t.Errorf("a history of 10 asked for %d older pages", short.node.pages)
	}
	short.contains("message 001")
}
