package tui

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/securechat/securechat/p2p"
)

// offerID is the file ID of the offers in these tests.
const offerID = "3f2a9c1d5e6f708192a3b4c5d6e7f809"

// offer delivers an offer from peer of name and size.
func (hs *harness) offer(peer, id, name string, size int64) {
	hs.t.Helper()
	hs.event(p2p.FileOffered{Peer: peer, FileID: id, Name: name, Size: size, SHA256: strings.Repeat("ab", 32)})
}

// said fails unless a line of conversation id holds s.
func (hs *harness) said(id, s string) {
	hs.t.Helper()
	for _, l := range hs.m.conv(id).lines {
		if strings.Contains(l.text, s) {
			return
		}
	}
	var texts []string
	for _, l := range hs.m.conv(id).lines {
		texts = append(texts, l.text)
	}
	hs.t.Errorf("conversation %q has no line with %q:\n%s", shortID(id), s, strings.Join(texts, "\n"))
}

// TestFileOfferShown: an offer names the sender with its trust (loud when
// the key is new), the sanitized file name and its size in human units,
// and how to answer; the raw escape never reaches the terminal.
func TestFileOfferShown(t *testing.T) {
	hs := newHarness(t, 120, 30)
	hs.ready()
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.offer(bobID, offerID, "a\x1b[2Jb\x00.txt", 1536)
	hs.said(bobID, `bob (NEW KEY, NOT VERIFIED: /verify before you open it) offers you a file: "ab.txt", 1.5 KiB.`)
	hs.said(bobID, "/accept 3f2a9c1d saves it in your downloads, /reject 3f2a9c1d refuses it")
	hs.contains(`"ab.txt", 1.5 KiB`)
	if raw := hs.m.View().Content; strings.Contains(raw, "\x1b[2J") || strings.Contains(raw, "\x00") {
		t.Errorf("the raw name reached the terminal")
	}
	if l := hs.m.convs[bobID].lines; l[len(l)-1].kind != lineAlert {
		t.Errorf("an offer from a new key is a %v line, want an alert", l[len(l)-1].kind)
	}
	hs.contains("1 file offer: Ctrl+O") // the status bar

	hs.peerUp(carolID, "carol", p2p.TrustVerified)
	hs.offer(carolID, "77"+offerID[2:], "report.pdf", 12_900_000)
	hs.said(carolID, `carol (verified) offers you a file: "report.pdf", 12.3 MiB.`)
	hs.said(bobID, "carol offers a file (Ctrl+O shows it).")
	n := len(hs.m.conv(bobID).lines)
	hs.offer(carolID, "78"+offerID[2:], "again.pdf", 1)
	if len(hs.m.conv(bobID).lines) != n {
		t.Errorf("a second offer in a row noted again in the current conversation")
	}
	if l := hs.m.convs[carolID].lines; l[len(l)-1].kind != lineSystem {
		t.Errorf("an offer from a verified key is a %v line, want a quiet one", l[len(l)-1].kind)
	}
	// A long name keeps its end, the extension.
	hs.offer(carolID, "88"+offerID[2:], strings.Repeat("n", 150)+".tar.gz", 0)
	hs.contains("4 file offers: Ctrl+O")
	hs.said(carolID, strings.Repeat("n", 40)+"…"+strings.Repeat("n", 12)+`.tar.gz", 0 B.`)
}

// TestFileAnswers: /accept, /reject and /cancel call the node with the
// transfer they name, by ID prefix or by default the latest here.
func TestFileAnswers(t *testing.T) {
	hs := newHarness(t, 100, 30)
	hs.peerUp(bobID, "bob", p2p.TrustPinned)
	hs.offer(bobID, offerID, "one.txt", 10)
	hs.offer(bobID, "4444"+offerID[4:], "two.txt", 20)
	hs.line("/accept")
	if !slices.Equal(hs.node.files.accepted, []string{"4444" + offerID[4:]}) {
		t.Fatalf("/accept accepted %q, want the latest offer", hs.node.files.accepted)
	}
	hs.said(bobID, `Accepted "two.txt" (20 B)`)
	hs.line("/reject 3F2A")
	if !slices.Equal(hs.node.files.rejected, []string{offerID}) {
		t.Fatalf("/reject 3F2A rejected %q", hs.node.files.rejected)
	}
	hs.said(bobID, `Refused "one.txt" from bob.`)
	n := len(hs.m.conv(bobID).lines)
	hs.event(p2p.FileFailed{Peer: bobID, FileID: offerID, Reason: p2p.FileReasonRejected})
	if len(hs.m.conv(bobID).lines) != n {
		t.Errorf("the node's FileFailed after /reject said it again")
	}
	// A refusal from the other side.
	path := filepath.Join(t.TempDir(), "mine.txt")
	if err := os.WriteFile(path, []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	hs.line("/send " + path)
	hs.event(p2p.FileFailed{Peer: bobID, FileID: fakeFileID(1), Outgoing: true, Reason: p2p.FileReasonRejected})
	hs.said(bobID, `bob declined "mine.txt".`)
	hs.line("/reject")
	hs.said(bobID, "No file offer awaiting an answer.")
	hs.line("/accept zz")
	hs.said(bobID, "/accept zz: no transfer has that ID")

	// The accepted transfer is under way: /cancel stops it.
	hs.event(p2p.FileProgress{Peer: bobID, FileID: "4444" + offerID[4:], Bytes: 5, Size: 20})
	hs.line("/cancel")
	if !slices.Equal(hs.node.files.rejected, []string{offerID, "4444" + offerID[4:]}) {
		t.Fatalf("/cancel cancelled %q", hs.node.files.rejected)
	}
	hs.said(bobID, `Cancelled "two.txt" from bob.`)

	hs.node.files.fileErr = p2p.ErrUnknownFile
	hs.offer(bobID, "5555"+offerID[4:], "three.txt", 1)
	hs.line("/accept 5555")
	hs.said(bobID, `/accept "three.txt" failed: no such transfer`)
}

// TestOfferModal: Ctrl+O shows the latest offer in full; y accepts, n
// refuses, Esc leaves it for later.
func TestOfferModal(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	hs.offer(bobID, offerID, "photo.jpg", 3<<20)
	hs.m.show(statusConv)
	hs.press('o', tea.ModCtrl)
	hs.golden("offer_modal_80x24")
	hs.press(tea.KeyEscape)
	if hs.m.modal != nil || len(hs.node.files.accepted)+len(hs.node.files.rejected) != 0 {
		t.Fatalf("Esc answered the offer: %+v", hs.node.files)
	}
	hs.press('o', tea.ModCtrl)
	hs.typeText("y")
	if !slices.Equal(hs.node.files.accepted, []string{offerID}) {
		t.Fatalf("y accepted %q", hs.node.files.accepted)
	}
	hs.offer(bobID, "99"+offerID[2:], "other.jpg", 1)
	hs.press('o', tea.ModCtrl)
	hs.typeText("n")
	if !slices.Equal(hs.node.files.rejected, []string{"99" + offerID[2:]}) {
		t.Fatalf("n rejected %q", hs.node.files.rejected)
	}
	hs.press('o', tea.ModCtrl)
	hs.contains("No file offer awaits an answer.")
}

// TestTransferProgress: a bar per active transfer with its bytes, rate
// and time left, or why it waits; then the done and failed lines.
func TestTransferProgress(t *testing.T) {
	hs := newHarness(t, 100, 24)
	hs.ready()
	hs.peerUp(bobID, "bob", p2p.TrustVerified)
	hs.offer(bobID, offerID, "movie.mkv", 100<<20)
	hs.line("/accept")
	in := func(bytes int64, waiting string) {
		hs.event(p2p.FileProgress{Peer: bobID, FileID: offerID, Bytes: bytes, Size: 100 << 20, Waiting: waiting})
	}
	in(0, "")
	hs.clock = hs.clock.Add(time.Second)
	in(10<<20, "")
	hs.clock = hs.clock.Add(time.Second)
	in(20<<20, "")
	hs.contains("↓ movie.mkv ← bob")
	hs.contains("20% 20.0 MiB/100 MiB · 10.0 MiB/s · 0:08 left")

	// An outgoing transfer waits for a direct connection.
	dir := t.TempDir()
	path := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(path, []byte("some notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	hs.line("/send " + path)
	if !slices.Equal(hs.node.files.sentFiles, []string{bobID + ": " + path}) {
		t.Fatalf("/send sent %q", hs.node.files.sentFiles)
	}
	hs.said(bobID, `Offered "notes.txt" (10 B) to bob [f11e0001]`)
	hs.contains("0% 0 B/10 B · waiting for bob to accept")
	out := fakeFileID(1)
	hs.event(p2p.FileProgress{Peer: bobID, FileID: out, Bytes: 4, Size: 10, Outgoing: true, Waiting: p2p.WaitingDirect})
	hs.contains("↑ notes.txt → bob")
	hs.contains("40% 4 B/10 B · waiting for a direct connection")
	hs.golden("transfers_100x24")

	hs.event(p2p.FileDone{Peer: bobID, FileID: offerID, SHA256: strings.Repeat("ab", 32), Path: "/home/a/downloads/movie\x1b[31m.mkv"})
	hs.said(bobID, `Received "movie.mkv" (100 MiB) from bob; its SHA-256 matches. Saved as /home/a/downloads/movie.mkv`)
	hs.lacks("↓ movie.mkv")
	hs.event(p2p.FileFailed{Peer: bobID, FileID: out, Outgoing: true, Reason: p2p.FileReasonNoSpace})
	hs.said(bobID, `The transfer of "notes.txt" to bob failed: the disk is full.`)
	hs.lacks("↑ notes.txt")
	if n := hs.m.transferRows(); n != 0 {
		t.Errorf("%d transfer rows after every transfer ended", n)
	}

	hs.line("/send " + filepath.Join(dir, "missing"))
	hs.said(bobID, "Not sent: missing: no such file")
	hs.line("/send " + dir)
	hs.said(bobID, "not a regular file")
}

// TestSendPathCompletion: Tab completes /send's path from the directory
// it names, "~" being the home, first to the candidates' common start,
// then through each; hidden files only once a "." is typed.
func TestSendPathCompletion(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"notes.txt", "notes-old.txt", ".hidden", "other"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "nothing"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", dir)
	hs := newHarness(t, 100, 24)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	tab := func(typed string, tabs int) string {
		t.Helper()
		hs.m.input.Reset()
		hs.typeText(typed)
		for range tabs {
			hs.press(tea.KeyTab)
		}
		return hs.m.input.Value()
	}
	for _, tt := range []struct {
		typed string
		tabs  int
		want  string
	}{
		{"/send " + dir + "/no", 1, "/send " + dir + "/not"},
		{"/send " + dir + "/no", 2, "/send " + dir + "/notes-old.txt"},
		{"/send " + dir + "/no", 3, "/send " + dir + "/notes.txt"},
		{"/send " + dir + "/no", 4, "/send " + dir + "/nothing/"},
		{"/send " + dir + "/ot", 1, "/send " + dir + "/other"},
		{"/send " + dir + "/.h", 1, "/send " + dir + "/.hidden"},
		{"/send ~/noth", 1, "/send ~/nothing/"},
		{"/send ~", 1, "/send ~/"},
		{"/send ~/zz", 1, "/send ~/zz"},
		{"/SEND ~/ot", 1, "/SEND ~/other"},
	} {
		if got := tab(tt.typed, tt.tabs); got != tt.want {
			t.Errorf("%q and %d Tab: %q, want %q", tt.typed, tt.tabs, got, tt.want)
		}
	}
	// Cycling lists the candidates under the input.
	tab("/send ~/no", 2)
	if s := hs.m.suggestion(); s != "3 matches: notes-old.txt  notes.txt  nothing/ · Tab cycles" {
		t.Errorf("suggestion %q", s)
	}
	if got := tab("/send ~/", 1); got != "/send ~/notes-old.txt" {
		t.Errorf("Tab in the home: %q; want the first visible entry", got)
	}
	// The completed path sends.
	tab("/send ~/ot", 1)
	hs.press(tea.KeyEnter)
	if want := bobID + ": " + filepath.Join(dir, "other"); !slices.Equal(hs.node.files.sentFiles, []string{want}) {
		t.Errorf("sent %q, want %q", hs.node.files.sentFiles, want)
	}
}

// TestLongPasteSentAsFile: a paste over 64 KiB is not lost: after asking,
// it is written to a 0600 paste file and offered; the file goes once the
// transfer ends.
func TestLongPasteSentAsFile(t *testing.T) {
	hs := newHarness(t, 100, 24)
	hs.peerUp(bobID, "bob", p2p.TrustNew)
	dir := filepath.Join(t.TempDir(), "pastes")
	hs.m.opts.PasteDir = dir
	paste := strings.Repeat(strings.Repeat("z", 99)+"\n", 700) // about 68 KiB
	hs.send(tea.PasteMsg{Content: paste})
	hs.contains("This paste (68.4 KiB) is over the 64 KiB of a message. Send it to bob")
	hs.typeText("y")
	if len(hs.node.sent) != 0 {
		t.Fatalf("the paste went as messages: %d", len(hs.node.sent))
	}
	path := filepath.Join(dir, "paste-20240309-140500.txt")
	if !slices.Equal(hs.node.files.sentFiles, []string{bobID + ": " + path}) {
		t.Fatalf("sent files %q, want %s", hs.node.files.sentFiles, path)
	}
	if got := hs.node.files.pasted[0]; got != strings.TrimSuffix(paste, "\n") {
		t.Errorf("the paste file holds %d bytes, want the paste's %d", len(got), len(paste)-1)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("paste file: %v %v", fi, err)
	}
	hs.said(bobID, "The paste (68.4 KiB) is over the 64 KiB of a message: offered it to bob as the file paste-20240309-140500.txt instead")
	hs.event(p2p.FileDone{Peer: bobID, FileID: fakeFileID(1), Outgoing: true})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the paste file is still there after the transfer: %v", err)
	}

	// One line over the limit, typed or pasted, goes the same way.
	hs.send(tea.PasteMsg{Content: strings.Repeat("y", p2p.MaxMessageText+1)})
	hs.typeText("y")
	if len(hs.node.files.sentFiles) != 2 || len(hs.node.sent) != 0 {
		t.Fatalf("a long line: files %q, messages %d", hs.node.files.sentFiles, len(hs.node.sent))
	}
	hs.node.files.fileErr = errBoom
	hs.send(tea.PasteMsg{Content: paste})
	hs.typeText("y")
	hs.said(bobID, "The paste (68.4 KiB) was not sent: boom")
	if n, _ := os.ReadDir(dir); len(n) != 1 { // the second paste, still under way
		t.Errorf("paste folder holds %d files, want the failed paste removed", len(n))
	}
}

// TestFilesList: /files lists the node's transfers; after a restart an
// offer that still awaits an answer is shown again.
func TestFilesList(t *testing.T) {
	hs := newHarness(t, 120, 30)
	hs.peerUp(bobID, "bob", p2p.TrustPinned)
	hs.line("/files")
	hs.said(bobID, "No file transfers.")
	hs.node.files.transfers = []p2p.Transfer{
		{ID: offerID, Peer: bobID, Name: "kept\x1b[2J.bin", Size: 2 << 20, State: p2p.TransferOffered},
		{ID: fakeFileID(7), Peer: bobID, Name: "up.iso", Size: 4 << 30, Bytes: 1 << 30, Outgoing: true,
			State: p2p.TransferAccepted, Waiting: p2p.WaitingPeer},
	}
	hs.line("/files")
	hs.contains(`3f2a9c1d ↓ "kept.bin" from bob  0 B of 2.0 MiB  offered`)
	hs.contains(`f11e0007 ↑ "up.iso" to bob  1.0 GiB of 4.0 GiB  accepted, waiting for the peer`)
	hs.said(bobID, `offers you a file: "kept.bin", 2.0 MiB.`) // shown again
	hs.contains("25% 1.0 GiB/4.0 GiB · waiting for the peer")
	hs.line("/accept")
	if !slices.Equal(hs.node.files.accepted, []string{offerID}) {
		t.Errorf("accepted %q", hs.node.files.accepted)
	}
}
