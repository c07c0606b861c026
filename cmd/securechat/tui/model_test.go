package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

func TestStartup(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.ready()
	hs.golden("startup_80x24")
}

// chat sets up a conversation with bob and carol (and a second carol) with
// messages in every delivery state and a day change.
func chat(t *testing.T, w, h int) *harness {
	t.Helper()
	hs := newHarness(t, w, h)
	hs.ready()
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "b1", Text: "hi alice, long time no see. This line is long enough to wrap around the pane.", SentAt: start})
	hs.clock = hs.clock.Add(time.Minute)
	hs.line("hello bob")
	hs.event(p2p.Delivered{PeerID: bobID, ID: "m1"})
	hs.line("are you there?")
	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", State: "offline", Trust: p2p.TrustNew})
	hs.event(p2p.SessionDown{PeerID: bobID, Reason: "cut"})
	hs.clock = hs.clock.Add(10 * time.Hour) // past midnight
	hs.line("see you tomorrow")
	hs.peerUp(carolID, "carol", p2p.TrustVerified)
	hs.peerUp(carol2, "carol", p2p.TrustPinned)
	hs.event(p2p.MessageReceived{PeerID: carolID, ID: "c1", Text: "ping"})
	hs.event(p2p.MessageReceived{PeerID: carol2, ID: "d1", Text: "I am also carol"})
	return hs
}

func TestConversationLayout(t *testing.T) {
	for _, size := range []struct{ w, h int }{{80, 24}, {60, 20}, {120, 30}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			hs := chat(t, size.w, size.h)
			hs.golden(fmt.Sprintf("conversation_%dx%d", size.w, size.h))
		})
	}
}

func TestResize(t *testing.T) {
	hs := chat(t, 120, 30)
	hs.contains("Peers 2/3 online")
	hs.send(tea.WindowSizeMsg{Width: 60, Height: 20})
	hs.lacks("Peers 2/3 online") // the peer list hides on narrow screens
	hs.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	hs.golden("conversation_80x24") // same as drawn at that size from the start
	hs.send(tea.WindowSizeMsg{Width: 10, Height: 3})
	hs.contains("Terminal")
}

func TestDeliveryStates(t *testing.T) {
	hs := chat(t, 120, 30)
	hs.contains("hello bob  ✓✓ delivered")
	hs.contains("are you there?  ✓ sent")
	hs.contains("see you tomorrow  ○ queued")
	hs.node.sendErr = errBoom
	hs.line("lost")
	hs.contains("lost  ✗ not sent")
	hs.contains("Not sent: boom")
}

func TestDeliveredBeforeSendReturns(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.event(p2p.Delivered{PeerID: bobID, ID: "m1"}) // races ahead of Send's answer
	hs.line("fast")
	hs.contains("fast  ✓✓ delivered")
}

func TestSwitching(t *testing.T) {
	hs := chat(t, 80, 24)
	if hs.m.current != bobID {
		t.Fatalf("current = %q, want bob (the first peer online)", hs.m.current)
	}
	hs.contains("1 ") // carol's unread count shows in the list
	hs.press('n', tea.ModCtrl)
	if hs.m.current != carolID {
		t.Fatalf("ctrl+n: current = %q, want carol", hs.m.current)
	}
	hs.contains("[carol~")
	hs.press('p', tea.ModCtrl)
	hs.press('p', tea.ModCtrl)
	if hs.m.current != statusConv {
		t.Fatalf("ctrl+p twice: current = %q, want status", hs.m.current)
	}
	hs.press('3', tea.ModAlt)
	if hs.m.current != carol2 {
		t.Fatalf("alt+3: current = %q, want the second carol", hs.m.current)
	}
	hs.line("/msg " + bobID[len(bobID)-6:] + " by id")
	if hs.m.current != bobID || !strings.HasSuffix(hs.node.sent[len(hs.node.sent)-1], ": by id") {
		t.Fatalf("/msg by ID suffix: current = %q, sent = %q", hs.m.current, hs.node.sent)
	}
	hs.line("/msg carol")
	hs.contains(`"carol" matches several peers`)
	hs.line("/msg nobody")
	hs.contains(`no peer matches "nobody"`)
}

func TestScrollback(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "bob", p2p.TrustVerified)
	for i := 1; i <= 60; i++ {
		hs.event(p2p.MessageReceived{PeerID: bobID, ID: fmt.Sprint(i), Text: fmt.Sprintf("message %d", i)})
	}
	hs.contains("message 60")
	hs.press(tea.KeyPgUp)
	hs.lacks("message 60")
	hs.contains("more lines below")
	hs.golden("scrolled_80x24")
	before := hs.screen()
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "61", Text: "message 61"})
	hs.contains("21 more lines below")
	if strings.Replace(hs.screen(), "21 more", "20 more", 1) != before {
		t.Errorf("a new message moved the scrolled-back view:\n%s", hs.screen())
	}
	hs.press(tea.KeyPgDown)
	hs.contains("1 more line below")
	hs.press(tea.KeyPgDown)
	hs.contains("message 61")
	hs.lacks("more lines below")
	for range 10 {
		hs.press(tea.KeyPgUp)
	}
	hs.contains("bob: message 1 ")
	hs.press(tea.KeyEscape)
	hs.contains("message 61")
}

func TestVerify(t *testing.T) {
	hs := chat(t, 80, 24)
	hs.line("/verify")
	hs.golden("verify_80x24")
	hs.typeText("x") // ignored: only y or n answer
	hs.contains("Verify bob")
	hs.typeText("y")
	if got := hs.node.verified[bobID]; !got.Equal(fp(bobID)) {
		t.Fatalf("Verify called with %v, want bob's fingerprint", got)
	}
	hs.contains("bob is now verified.")
	hs.contains("✓ bob")

	hs.line("/verify carol~" + fp(carol2).Short())
	hs.contains("Verify carol~")
	hs.typeText("n")
	hs.contains("rejected the safety number")
	if _, ok := hs.node.verified[carol2]; ok {
		t.Fatal("a rejected safety number was marked verified")
	}
}

func TestVerifySmallScreenHidesQR(t *testing.T) {
	hs := chat(t, 60, 14)
	hs.line("/verify")
	hs.contains("enlarge the terminal")
	hs.contains("12345 12345 12345 12345")
}

func TestKeyChange(t *testing.T) {
	hs := chat(t, 80, 24)
	newFP := fp("bob's new key")
	// The node refuses the session and names the new key in the peer list;
	// the alert's text is not parsed.
	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", State: "offline", Trust: p2p.TrustNew,
		KeyChanged: true, PendingFingerprint: newFP})
	hs.event(p2p.SessionDown{PeerID: bobID, Reason: "replaced"})
	hs.event(p2p.Alert{Kind: p2p.AlertKeyChanged, PeerID: bobID, Message: "peer presented another key"})
	hs.golden("keychange_80x24")
	sent := len(hs.node.sent)
	hs.line("is this you?")
	if len(hs.node.sent) != sent {
		t.Fatal("a message went to a peer whose key changed")
	}
	hs.contains("Not sent: the key of bob changed")
	if hs.m.input.Value() != "is this you?" {
		t.Errorf("refused text not kept in the input line: %q", hs.m.input.Value())
	}
	hs.m.input.Reset()
	hs.line("/trust-new-key")
	hs.golden("trustkey_80x24")
	hs.typeText("y")
	if got := hs.node.trusted[bobID]; !got.Equal(newFP) {
		t.Fatalf("TrustNewKey called with %v, want the new key", got)
	}
	hs.lacks("⚠") // banner and status bar
	hs.lacks("[bob: blocked]")
	hs.line("is this you?")
	if len(hs.node.sent) != sent+1 {
		t.Fatal("sending stays blocked after /trust-new-key")
	}
}

func TestKeyChangeFromSession(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "bob", p2p.TrustVerified)
	hs.event(p2p.SessionUp{PeerID: bobID, Fingerprint: fp("other"), Name: "bob", Trust: p2p.TrustVerified})
	hs.contains("KEY CHANGED bob")
	hs.lacks("✓ bob")
}

func TestPaste(t *testing.T) {
	hs := newHarness(t, 60, 24) // no peer list: rows end with the text
	hs.peerUp(bobID, "bob", p2p.TrustNew)

	hs.send(tea.PasteMsg{Content: "one line"})
	if hs.m.input.Value() != "one line" || len(hs.node.sent) != 0 {
		t.Fatalf("one-line paste: input %q, sent %q", hs.m.input.Value(), hs.node.sent)
	}
	hs.m.input.Reset()

	hs.send(tea.PasteMsg{Content: "a\r\nb\nc\n"})
	if want := bobID + ": a\nb\nc"; len(hs.node.sent) != 1 || hs.node.sent[0] != want {
		t.Fatalf("three-line paste sent %q, want one message %q", hs.node.sent, want)
	}
	hs.contains("alice: a\n      b\n      c  ✓ sent")

	long := strings.Repeat("x\n", 25)
	hs.send(tea.PasteMsg{Content: long})
	hs.contains("Send this 25-line paste to bob")
	hs.typeText("n")
	if len(hs.node.sent) != 1 {
		t.Fatal("a declined paste was sent")
	}
	hs.send(tea.PasteMsg{Content: long})
	hs.typeText("y")
	if len(hs.node.sent) != 2 || strings.Count(hs.node.sent[1], "\n") != 24 {
		t.Fatalf("confirmed paste: sent %q", hs.node.sent)
	}
}

func TestCompletionAndHistory(t *testing.T) {
	hs := chat(t, 80, 24)
	tests := []struct{ typed, tabs, want string }{
		{"/ve", "\t", "/verify "},
		{"/c", "\t", "/connect "},
		{"/c", "\t\t", "/cancel "},
		{"/c", "\t\t\t", "/clear "},
		{"/c", "\t\t\t\t", "/connect "},
		{"/msg b", "\t", "/msg bob "},
		{"/msg carol", "\t", "/msg carol~" + fp(carolID).Short() + " "},
		{"/block z", "\t", "/block z"},
		{"plain", "\t", "plain"},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.typed+tt.tabs, "\t", "⇥"), func(t *testing.T) {
			hs.m.input.Reset()
			hs.typeText(tt.typed)
			for range tt.tabs {
				hs.press(tea.KeyTab)
			}
			if got := hs.m.input.Value(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	hs.m.input.Reset()
	hs.line("first")
	hs.line("second")
	hs.typeText("draft")
	hs.press(tea.KeyUp)
	hs.press(tea.KeyUp)
	if got := hs.m.input.Value(); got != "first" {
		t.Errorf("up twice: %q, want first", got)
	}
	hs.press(tea.KeyDown)
	hs.press(tea.KeyDown)
	if got := hs.m.input.Value(); got != "draft" {
		t.Errorf("down back: %q, want the draft", got)
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		line, want string
	}{
		{"/help", "/trust-new-key [PEER]"},
		{"/peers", "carol~"},
		{"/block", "y: block · n: cancel"},
		{"/forget", "y: forget · n: cancel"},
		{"/nick zed", "You are now zed; peers online see it now"},
		{"/nick", "Usage: /nick NAME"},
		{"/label", "Usage: /label PEER [NAME]"},
		{"/unblock", "is not blocked"},
		{"/connect /ip4/1.2.3.4", "Not a multiaddr ending in /p2p/"},
		{"/connect nonsense", "Not a multiaddr"},
		{"/connect /ip4/10.0.0.2/tcp/4001/p2p/" + bobID, "-- Connected to bob (direct)."},
		{"/trust-new-key", "has not changed"},
		{"/bogus", "Unknown command /bogus"},
		{"//not a command", "alice: /not a command"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			hs := chat(t, 120, 40)
			hs.line(tt.line)
			hs.contains(tt.want)
		})
	}
}

func TestConnectFailure(t *testing.T) {
	hs := newHarness(t, 120, 24)
	addr := "/ip4/10.0.0.2/tcp/4001/p2p/" + bobID
	hs.node.connectErr = fmt.Errorf("%w: %s: no session", p2p.ErrDialFailed, addr)
	hs.line("/connect " + addr)
	hs.contains("Connecting to 12D3Ko…bBBBBB at /ip4/10.0.0.2/tcp/4001 …")
	hs.contains("Connect to 12D3Ko…bBBBBB failed: no session")
	hs.event(p2p.DialFailed{Addr: "/ip4/10.0.0.3/tcp/1", Err: "refused"})
	hs.contains("Dial to /ip4/10.0.0.3/tcp/1 failed: refused")
}

func TestMyIDClearQuit(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.ready()
	hs.line("/myid all")
	hs.golden("myid_80x24")
	hs.press(tea.KeyEnter) // closes the window
	hs.contains("/ip4/192.168.1.10/udp/4001/quic-")
	hs.line("/clear")
	hs.lacks("quic-v1")
	hs.line("/quit")
	if !hs.quit {
		t.Fatal("/quit did not quit")
	}
}

func TestCtrlCQuits(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.press('c', tea.ModCtrl)
	if !hs.quit {
		t.Fatal("ctrl+c did not quit")
	}
}

func TestBellWhileUnfocused(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "1", Text: "focused"})
	hs.send(tea.BlurMsg{})
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "2", Text: "away"})
	hs.send(tea.FocusMsg{})
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "3", Text: "back"})
	if hs.bells != 1 {
		t.Fatalf("bells = %d, want 1", hs.bells)
	}
}

func TestHostileText(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "bob\x1b[2J\x1b]0;pwned\x07", p2p.TrustNew)
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "1", Text: "red \x1b[31malert\x1b[0m \u202eevil\u202c\x00 done"})
	out := hs.m.View().Content
	for _, bad := range []string{"\x1b[2J", "\x1b]0;", "\x07", "\u202e", "\x00"} {
		if strings.Contains(out, bad) {
			t.Errorf("screen carries %q from a peer", bad)
		}
	}
	hs.contains("bob: red alert evil done")
}

func TestEventsClosedQuits(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.send(eventsClosedMsg{})
	if !hs.quit {
		t.Fatal("the UI stayed up after the node closed its events")
	}
}

func TestAlerts(t *testing.T) {
	hs := chat(t, 120, 40)
	hs.event(p2p.Alert{Kind: p2p.AlertBadFrame, PeerID: bobID, Message: "frame too large"})
	hs.contains("!! Security alert (bad_frame): frame too large")
	hs.event(p2p.Alert{Kind: p2p.AlertHandshakeFailed, Message: "from 10.0.0.9"})
	hs.event(p2p.Alert{Kind: p2p.AlertHandshakeFailed, PeerID: "12D3KooWStrangerStrangerStrangerStrangerStrangeXYZ", Message: "bad signature"})
	// A stranger's failed handshakes go to the status conversation, not
	// the open one; the status bar counts them.
	hs.lacks("handshake_failed")
	hs.contains("2 failed handshakes")
	hs.press('0', tea.ModAlt)
	hs.contains("!! Security alert (handshake_failed): from 10.0.0.9")
	hs.contains("(handshake_failed): 12D3Ko…ngeXYZ: bad signature")
	if len(hs.m.order) != 3 {
		t.Errorf("a stranger's alert added it to the peer list: %q", hs.m.order)
	}
}

func TestBlock(t *testing.T) {
	hs := newHarness(t, 80, 24)
	bn := hs.node
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.line("/block bob")
	hs.contains("Block bob (")
	hs.typeText("n")
	if len(bn.blocked) != 0 {
		t.Fatalf("blocked %q after n", bn.blocked)
	}
	hs.line("/block bob")
	hs.typeText("y")
	if len(bn.blocked) != 1 || bn.blocked[0] != bobID {
		t.Fatalf("blocked %q, want bob", bn.blocked)
	}
	hs.contains("Blocked bob.")
	hs.contains(fp(bobID).Short() + " blocked")
	hs.line("still there?")
	hs.contains("Not sent: you blocked bob.")
	if len(hs.node.sent) != 0 {
		t.Fatal("sent to a blocked peer")
	}
}

func TestLongInputScrolls(t *testing.T) {
	hs := newHarness(t, 60, 20)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.typeText(strings.Repeat("x", 100) + "END")
	hs.contains("xEND")
	hs.press(tea.KeyEnter)
	if len(hs.node.sent) != 1 || !strings.HasSuffix(hs.node.sent[0], "xEND") {
		t.Fatalf("sent %q", hs.node.sent)
	}
}

func TestHistory(t *testing.T) {
	hs := newHarness(t, 80, 24)
	week := start.AddDate(0, 0, -7)
	hs.node.history = map[string][]p2p.HistoryEntry{bobID: {
		{ID: "old1", Text: "from last week", SentAt: week, State: p2p.StateDelivered},
		{ID: "old2", FromMe: true, Text: "see you", SentAt: week.Add(time.Minute), State: p2p.StateDelivered},
		{ID: "old3", FromMe: true, Text: "still waiting", SentAt: week.Add(2 * time.Minute), State: p2p.StateQueued},
		// Stored before its event reaches the UI: shown once only.
		{ID: "b1", Text: "just now", SentAt: start, State: p2p.StateDelivered},
	}}
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.event(p2p.MessageReceived{PeerID: bobID, ID: "b1", Text: "just now", SentAt: start})
	hs.event(p2p.Delivered{PeerID: bobID, ID: "old3"})
	hs.contains("──── Saturday 2 March 2024 ────")
	hs.contains("14:05 -- Earlier messages (4, from the history):")
	hs.contains("14:05 bob: from last week")
	hs.contains("14:06 alice: see you  ✓✓ delivered")
	hs.contains("14:07 alice: still waiting  ✓✓ delivered")
	hs.contains("──── Saturday 9 March 2024 ────")
	if n := strings.Count(hs.screen(), "just now"); n != 1 {
		t.Errorf("a message stored and then received shows %d times:\n%s", n, hs.screen())
	}
	if hs.m.conv(bobID).unread != 0 {
		t.Error("history counted as unread")
	}

	// A conversation opened later keeps what this run showed after the
	// history: entries from the first one on screen on are not repeated.
	hs.node.history[carolID] = []p2p.HistoryEntry{
		{ID: "c0", Text: "older", SentAt: start.Add(-time.Hour)},
		{ID: "c1", Text: "ping", SentAt: start},
		{ID: "c2", Text: "pong", SentAt: start},
	}
	hs.event(p2p.MessageReceived{PeerID: carolID, ID: "c1", Text: "ping", SentAt: start})
	c := hs.m.conv(carolID)
	var ids []string
	for _, l := range c.lines {
		ids = append(ids, l.id)
	}
	if got := strings.Join(ids, ","); got != ",c0,c1" {
		t.Errorf("carol's lines have IDs %q, want the header, c0, c1", got)
	}
}

func TestKeyChangeAtStart(t *testing.T) {
	// A key change from an earlier run: the node's peer list names the
	// new key, and no alert comes.
	newFP := fp("new")
	hs := &harness{t: t, node: newFakeNode(), clock: start}
	hs.node.setPeer(p2p.PeerInfo{PeerID: bobID, Fingerprint: fp(bobID), Name: "bob", State: "offline",
		Trust: p2p.TrustVerified, KeyChanged: true, PendingFingerprint: newFP})
	hs.m = newModel(context.Background(), hs.node, nil, Options{Name: "alice"}, func() time.Time { return hs.clock }, time.UTC)
	hs.run(hs.m.Init())
	hs.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	hs.contains("⚠ KEY CHANGED bob: old " + fp(bobID).Short() + " → new " + newFP.Short())
	hs.contains("○! bob") // offline, and not shown as verified
	hs.line("/trust-new-key bob")
	hs.contains(newFP.String()[:4] + " " + newFP.String()[4:8])
	hs.typeText("y")
	if got := hs.node.trusted[bobID]; !got.Equal(newFP) {
		t.Fatalf("TrustNewKey called with %v, want the pending key", got)
	}
	hs.lacks("⚠")
}

// TestHostileDialErrors: dial errors, connect failures and alerts quote
// remote bytes (go-multistream puts a listener's reply into its error);
// they reach the screen without escapes, control characters or bidi
// overrides, and so does an address copied from somewhere hostile.
func TestHostileDialErrors(t *testing.T) {
	const evil = "\x1b]0;pwned\x07\x1b[2J\x1b[31mALERT\x1b[0m \u009b2J\u009d0;pwned8\u009c \u202eevil\u202c\a done"
	hs := newHarness(t, 200, 40)
	hs.event(p2p.DialFailed{Addr: "/ip4/10.0.0.3/tcp/1", Err: "unrecognized response: " + evil})
	hs.node.connectErr = fmt.Errorf("%w: got %s", p2p.ErrDialFailed, evil)
	hs.line("/connect /ip4/10.0.0.2/tcp/4001/p2p/" + bobID)
	hs.event(p2p.Alert{Kind: p2p.AlertBadFrame, PeerID: bobID, Message: evil})
	hs.m.submit("/connect /ip4/10.0.0.5" + evil) // pasted: the input line keeps ESC out, not all

	out := hs.m.View().Content
	for _, bad := range []string{"\x1b]", "\x1b[2J", "\x07", "\u009b", "\u009d", "\u202e", "pwned"} {
		if strings.Contains(out, bad) {
			t.Errorf("screen carries %q from a peer", bad)
		}
	}
	// Dial failures show DescribeDialError's one line; for an error it does
	// not recognise, that is the peer's text, cleaned and cut short.
	hs.contains("Dial to /ip4/10.0.0.3/tcp/1 failed: " + p2p.DescribeDialError(errors.New("unrecognized response: "+evil)))
	hs.contains("failed: " + p2p.DescribeDialError(hs.node.connectErr))
	hs.contains("Not a multiaddr ending in /p2p/<peer-id>: /ip4/10.0.0.5ALERT  evil done")
}

// TestHandshakeFailureFlood: 2000 failed handshakes from strangers leave
// the open conversation as it was; the status conversation gets the first
// few and one summary when the minute is over, the status bar the count.
func TestHandshakeFailureFlood(t *testing.T) {
	hs := chat(t, 120, 40)
	hs.press('1', tea.ModAlt) // bob's conversation
	before := hs.screen()
	hs.contains("hi alice, long time no see")
	statusLines, bobLines := len(hs.m.convs[statusConv].lines), len(hs.m.convs[bobID].lines)
	for i := range 2000 {
		id := fmt.Sprintf("12D3KooWStranger%036d", i%700)
		hs.event(p2p.Alert{Kind: p2p.AlertHandshakeFailed, PeerID: id, Message: "end-to-end handshake failed"})
	}
	hs.contains("2000 failed handshakes")
	if got := strings.ReplaceAll(hs.screen(), "2000 failed handshakes │ ", ""); got != before {
		t.Errorf("the open conversation changed:\n--- before:\n%s--- after:\n%s", before, got)
	}
	if n := len(hs.m.convs[bobID].lines); n != bobLines {
		t.Errorf("bob's conversation has %d lines after the flood, %d before", n, bobLines)
	}
	hs.clock = hs.clock.Add(time.Minute)
	hs.event(p2p.PeerFound{PeerID: carolID, Via: "mdns"}) // any event sums up the minute
	added := hs.m.convs[statusConv].lines[statusLines:]
	var texts []string
	for _, l := range added {
		texts = append(texts, l.text)
	}
	if len(added) != 5 { // 3 failures, the summary, the PeerFound
		t.Fatalf("status conversation got %d lines:\n%s", len(added), strings.Join(texts, "\n"))
	}
	if !strings.Contains(texts[3], "1997 more handshake failures from 700 peers in the last minute") {
		t.Errorf("summary %q", texts[3])
	}
}

// TestPanicLoggedNotShown: a panic in a command (here the node's Peers)
// quits the interface with one internal error for Run to return, and its
// stack goes to the log, not to the terminal, where Bubble Tea would have
// printed it.
func TestPanicLoggedNotShown(t *testing.T) {
	var log strings.Builder
	hs := newHarness(t, 80, 24)
	hs.m.opts.Log = slog.New(slog.NewTextHandler(&log, nil))
	hs.node.panicPeers = true
	hs.peerUp(bobID, "bob", p2p.TrustNew) // refreshes the peers in a command
	if !hs.quit || hs.m.err == nil || hs.m.err.Error() != "internal error: injected panic in Peers" {
		t.Fatalf("quit %v, err %v", hs.quit, hs.m.err)
	}
	if l := log.String(); !strings.Contains(l, "command panicked") || !strings.Contains(l, "goroutine") {
		t.Errorf("the log lacks the stack:\n%s", l)
	}
}

// TestLookAlikeNamesShowFingerprints: a peer whose name only looks like
// another's (a Greek capital Beta, a zero-width space) is told apart by
// its fingerprint, as an equal name is.
func TestLookAlikeNamesShowFingerprints(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "Bob", p2p.TrustNew)
	hs.peerUp(carolID, "\u0392ob\u200b", p2p.TrustNew)
	if got := hs.m.senderName(bobID); got != "Bob~"+fp(bobID).String()[:p2p.MinFingerprintPrefix] {
		t.Fatalf("senderName = %q, want the name with 16 hex digits of the fingerprint", got)
	}
}
