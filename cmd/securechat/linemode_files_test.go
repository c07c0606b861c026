package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securechat/securechat/p2p"
)

// lineOfferID is the file ID of the offers in these tests.
const lineOfferID = "3f2a9c1d5e6f708192a3b4c5d6e7f809"

// TestLineModeFiles: offers print with the sender's trust and the
// sanitized name; /accept, /reject, /cancel and /send call the node; done
// and failed transfers print their end; /files lists the node's list.
func TestLineModeFiles(t *testing.T) {
	n := newFakeNode()
	n.peers = twoPeers()[:1] // alice, a new key
	home := t.TempDir()
	h := startLineModeWith(t, n, slog.New(slog.DiscardHandler), &config{name: "me", home: home})
	h.expect("Type /help")

	n.events <- p2p.FileOffered{Peer: fakePeerA, FileID: lineOfferID, Name: "a\x1b[2Jb\x00.txt", Size: 1536}
	h.expect("!!! file offer from alice (" + fakeFPA.Short() + ") [NEW KEY, NOT VERIFIED: /verify before you open it]: \"ab.txt\", 1.5 KiB")
	h.expect("/accept 3f2a9c1d saves it in your downloads, /reject 3f2a9c1d refuses it")
	if strings.Contains(h.out.String(), "\x1b") || strings.Contains(h.out.String(), "\x00") {
		t.Fatal("the raw name reached the terminal")
	}
	n.events <- p2p.FileOffered{Peer: fakePeerA, FileID: "4444" + lineOfferID[4:], Name: "two.txt", Size: 2}
	h.expect(`"two.txt", 2 B`)
	h.typeLine("/accept")
	h.expect(`accepted "two.txt" (2 B) from alice`)
	h.typeLine("/reject 3F2A")
	h.expect(`refused "ab.txt" from alice`)
	n.events <- p2p.FileFailed{Peer: fakePeerA, FileID: lineOfferID, Reason: p2p.FileReasonRejected}
	h.typeLine("/reject")
	h.expect("/reject: no file offer awaits an answer")
	if strings.Contains(h.out.String(), "declined") {
		t.Error("the node's FileFailed after /reject printed again")
	}
	n.mu.Lock()
	accepted, rejected := n.files.accepted, n.files.rejected
	n.mu.Unlock()
	if !slices.Equal(accepted, []string{"4444" + lineOfferID[4:]}) || !slices.Equal(rejected, []string{lineOfferID}) {
		t.Fatalf("accepted %q, rejected %q", accepted, rejected)
	}

	n.events <- p2p.FileDone{Peer: fakePeerA, FileID: "4444" + lineOfferID[4:], Path: "/dl/two\x1b[31m.txt"}
	h.expect(`received "two.txt" (2 B) from alice (` + fakeFPA.Short() + "); its SHA-256 matches. Saved as /dl/two.txt")

	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte("notes"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.typeLine("/send " + path)
	h.expect(`offered "notes.txt" (5 B) to alice (` + fakeFPA.Short() + ") [f11e0001]")
	n.events <- p2p.FileProgress{Peer: fakePeerA, FileID: fakeFileID(1), Bytes: 2, Size: 5, Outgoing: true, Waiting: p2p.WaitingDirect}
	h.expect(`↑ "notes.txt" to alice (` + fakeFPA.Short() + "): 40% (2 B of 5 B), waiting for a direct connection")
	h.typeLine("/cancel")
	h.expect(`cancelled "notes.txt"`)
	h.typeLine("/send " + filepath.Dir(path))
	h.expect("not a regular file")
	h.typeLine("/send /nonexistent/x")
	h.expect("not sent: x: no such file")

	// A line too long for a message goes as a paste file.
	long := strings.Repeat("z", p2p.MaxMessageText+10)
	h.typeLine(long)
	h.expect("the text (64.0 KiB) is over the 64 KiB of a message: offered it to alice")
	n.mu.Lock()
	sent, contents := n.files.sent, n.files.contents
	n.mu.Unlock()
	if len(sent) != 2 || !strings.HasPrefix(sent[1], fakePeerA+": "+filepath.Join(home, "pastes", "paste-")) || contents[1] != long {
		t.Fatalf("the long line went as %q", sent)
	}
	pasteFile := strings.TrimPrefix(sent[1], fakePeerA+": ")
	n.events <- p2p.FileFailed{Peer: fakePeerA, FileID: fakeFileID(2), Outgoing: true, Reason: p2p.FileReasonRejected}
	h.expect("declined")
	deadline := time.Now().Add(5 * time.Second)
	for _, err := os.Stat(pasteFile); err == nil && time.Now().Before(deadline); _, err = os.Stat(pasteFile) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(pasteFile); !os.IsNotExist(err) {
		t.Errorf("the paste file outlived its transfer: %v", err)
	}

	n.mu.Lock()
	n.files.transfers = []p2p.Transfer{{ID: lineOfferID, Peer: fakePeerA, Name: "kept.bin", Size: 2 << 20, Bytes: 1 << 20,
		State: p2p.TransferAccepted, Waiting: p2p.WaitingPeer}}
	n.mu.Unlock()
	h.typeLine("/files")
	h.expect(`3f2a9c1d ↓ "kept.bin" from alice (` + fakeFPA.Short() + ")  1.0 MiB of 2.0 MiB  accepted, waiting for the peer")
	h.typeLine("/help")
	h.expect("/send PATH")
}

// TestLineModeProgressPacing: progress prints at 10% steps, at most every
// two seconds, and when the wait changes; a wait prints once.
func TestLineModeProgressPacing(t *testing.T) {
	n := newFakeNode()
	n.peers = twoPeers()
	out := &syncBuffer{}
	lm := &lineMode{node: n, out: out}
	clock := time.Date(2024, 3, 9, 14, 5, 0, 0, time.UTC)
	lm.files.now = func() time.Time { return clock }
	lm.event(p2p.FileOffered{Peer: fakePeerA, FileID: lineOfferID, Name: "big.iso", Size: 100 << 20})
	progress := func(bytes int64, waiting string) {
		lm.event(p2p.FileProgress{Peer: fakePeerA, FileID: lineOfferID, Bytes: bytes, Size: 100 << 20, Waiting: waiting})
	}
	lines := func() int { return strings.Count(out.String(), "↓") }
	for i := int64(0); i <= 50; i++ { // 5 s at 10 reports a second, 1 MiB each
		progress(i<<20, "")
		clock = clock.Add(100 * time.Millisecond)
	}
	if got := lines(); got != 3 {
		t.Errorf("%d progress lines over 5 s and 50%%, want 3 (the start, then one at most every 2 s):\n%s", got, out)
	}
	if !strings.Contains(out.String(), "MiB/s") || !strings.Contains(out.String(), "left") {
		t.Errorf("no rate or time left:\n%s", out)
	}
	before := lines()
	progress(50<<20, p2p.WaitingPeer)
	progress(50<<20, p2p.WaitingPeer)
	clock = clock.Add(time.Minute)
	progress(50<<20, p2p.WaitingPeer)
	if got := lines() - before; got != 1 || !strings.Contains(out.String(), "50% (50.0 MiB of 100 MiB), waiting for the peer") {
		t.Errorf("a wait printed %d lines, want 1:\n%s", got, out)
	}
	progress(51<<20, "") // it goes on: said at once
	if got := lines() - before; got != 2 {
		t.Errorf("going on after a wait printed %d lines, want 1 more:\n%s", got-1, out)
	}
}
