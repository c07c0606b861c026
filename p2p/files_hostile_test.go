package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/securechat/securechat/e2e"
)

// offerAs makes a offer the file at path to b under the given name and
// SHA-256, as a hostile or broken sender could: the offer goes out as is.
func offerAs(t *testing.T, a, b *testNode, name, path string, sum [32]byte) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	o, err := e2e.NewFileOffer(name, uint64(st.Size()), sum)
	if err != nil {
		t.Fatal(err)
	}
	p := b.host.ID()
	x := &xfer{key: xferKey{peer: p, id: o.ID, out: true}, pid: b.PeerID(), offer: o, name: "x", src: path,
		state: TransferOffered, created: time.Now()}
	a.files.mu.Lock()
	a.files.xfers[x.key] = x
	a.files.queueLocked(p, ctlItem{payload: o.Encode()})
	a.files.mu.Unlock()
	a.kickPeer(p)
	return o.ID.String()
}

// checkClean checks that the download folder holds no partial file and
// nothing but the files listed, and that nothing was written beside it.
func checkClean(t *testing.T, dl string, want ...string) {
	t.Helper()
	ents, _ := os.ReadDir(dl)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, "|") != strings.Join(want, "|") {
		t.Errorf("download folder holds %q, want %q", names, want)
	}
	around, _ := os.ReadDir(filepath.Dir(dl))
	if len(around) > 1 {
		t.Errorf("beside the download folder: %v", around)
	}
}

// chatUp checks that a message still goes from a to b.
func chatUp(t *testing.T, a, b *testNode) {
	t.Helper()
	id, err := a.Send(context.Background(), b.PeerID(), "still here")
	if err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, "message", func(e Event) bool { m, ok := e.(MessageReceived); return ok && m.ID == id })
}

func TestFileHostileNames(t *testing.T) {
	a, _ := newFileNode(t, "alice", testSettings(t, "alice"))
	b, dl := newFileNode(t, "bob", testSettings(t, "bob"))
	a.connect(t, b)
	path, content := writeTestFile(t, "x", 1000)
	sum := sha256.Sum256(content)
	names := map[string]string{
		"../../x":                "_.._x",
		"/etc/passwd":            "_etc_passwd",
		"a\x1b[2Jb":              "a[2Jb",
		"nul\x00byte":            "nulbyte",
		strings.Repeat("é", 127): strings.Repeat("é", 100),
		"CON":                    "_CON",
		"..":                     "file",
	}
	var want []string
	for name, saved := range names {
		id := offerAs(t, a, b, name, path, sum)
		off := b.ev.wait(t, "offer", isFileOffered(id)).(FileOffered)
		if off.Name != saved {
			t.Errorf("offer of %q shown as %q, want %q", name, off.Name, saved)
		}
		if err := b.AcceptFile(id, ""); err != nil {
			t.Fatal(err)
		}
		done := b.ev.wait(t, "done", isFileDone(id)).(FileDone)
		if filepath.Dir(done.Path) != dl || filepath.Base(done.Path) != saved {
			t.Errorf("%q saved at %s", name, done.Path)
		}
		want = append(want, saved)
	}
	slices.Sort(want)
	checkClean(t, dl, want...)
	chatUp(t, a, b)
}

func TestFileHostileHash(t *testing.T) {
	a, _ := newFileNode(t, "alice", testSettings(t, "alice"))
	b, dl := newFileNode(t, "bob", testSettings(t, "bob"))
	a.connect(t, b)
	path, _ := writeTestFile(t, "x", 3*e2e.FileChunkSize+5)
	id := offerAs(t, a, b, "x", path, [32]byte{1})
	b.ev.wait(t, "offer", isFileOffered(id))
	if err := b.AcceptFile(id, ""); err != nil {
		t.Fatal(err)
	}
	if f := b.ev.wait(t, "failed", isFileFailed(id)).(FileFailed); f.Reason != FileReasonCorrupt {
		t.Errorf("receiver: %+v", f)
	}
	if f := a.ev.wait(t, "failed (sender)", isFileFailed(id)).(FileFailed); f.Reason != FileReasonCorrupt {
		t.Errorf("sender: %+v", f)
	}
	checkClean(t, dl)
	chatUp(t, a, b)
}

// streamLen is the length of a whole file stream for size bytes.
func streamLen(size int) int {
	n := 1 + 57
	for i := uint64(0); i < e2e.FileChunks(uint64(size)); i++ {
		l := min(e2e.FileChunkSize, size-int(i)*e2e.FileChunkSize) + 16
		n += len(binary.AppendUvarint(nil, uint64(l))) + l
	}
	return n
}

// tamper wraps a sender's stream: edit sees each Write with the stream
// offset it starts at and returns what is written instead.
type tamper struct {
	w    io.Writer
	off  int
	edit func(off int, b []byte) []byte
}

func (t *tamper) Write(b []byte) (int, error) {
	nb := t.edit(t.off, bytes.Clone(b))
	t.off += len(b)
	if _, err := t.w.Write(nb); err != nil {
		return 0, err
	}
	return len(b), nil
}

func TestFileHostileStream(t *testing.T) {
	const size = 5*e2e.FileChunkSize + 7
	cases := map[string]func(off int, b []byte) []byte{
		// A frame follows the final chunk.
		"bytes past the end": func(off int, b []byte) []byte {
			if off+len(b) == streamLen(size) {
				b = append(b, 3, 1, 2, 3)
			}
			return b
		},
		// The first chunk's frame claims more than a chunk.
		"frame over the limit": func(off int, b []byte) []byte {
			if off == 0 {
				b = append(b[:58:58], 0xff, 0xff, 0x07)
			}
			return b
		},
		// A byte of the third chunk is changed.
		"changed chunk": func(off int, b []byte) []byte {
			if i := 58 + 2*(e2e.FileChunkSize+19) + 100 - off; i >= 0 && i < len(b) {
				b[i] ^= 1
			}
			return b
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			aset := testSettings(t, "alice")
			aset.fileTest = &fileTestHooks{sendWrap: func(w io.Writer) io.Writer { return &tamper{w: w, edit: edit} }}
			bset := testSettings(t, "bob")
			bset.fileRetry = 50 * time.Millisecond
			a, _ := newFileNode(t, "alice", aset)
			b, dl := newFileNode(t, "bob", bset)
			a.connect(t, b)
			path, _ := writeTestFile(t, "x", size)
			_, id, err := a.SendFile(context.Background(), b.PeerID(), path)
			if err != nil {
				t.Fatal(err)
			}
			b.ev.wait(t, "offer", isFileOffered(id))
			if err := b.AcceptFile(id, ""); err != nil {
				t.Fatal(err)
			}
			if f := b.ev.wait(t, "failed", isFileFailed(id)).(FileFailed); f.Reason != FileReasonCorrupt {
				t.Errorf("receiver: %+v", f)
			}
			a.ev.wait(t, "failed (sender)", isFileFailed(id))
			checkClean(t, dl)
			chatUp(t, a, b)
		})
	}
}

func TestFileOfferFlood(t *testing.T) {
	a, _ := newFileNode(t, "alice", testSettings(t, "alice"))
	b, dl := newFileNode(t, "bob", testSettings(t, "bob"))
	a.connect(t, b)
	path, content := writeTestFile(t, "x", 10)
	sum := sha256.Sum256(content)
	var ids []string
	for range maxOffersPerPeer + 4 {
		ids = append(ids, offerAs(t, a, b, "x", path, sum))
	}
	for _, id := range ids[maxOffersPerPeer:] {
		if f := b.ev.wait(t, "refused", isFileFailed(id)).(FileFailed); f.Reason != FileReasonTooMany {
			t.Errorf("offer past the bound: %+v", f)
		}
		a.ev.wait(t, "refused (sender)", isFileFailed(id))
	}
	if n := len(b.Transfers()); n != maxOffersPerPeer {
		t.Errorf("%d offers kept, want %d", n, maxOffersPerPeer)
	}
	checkClean(t, dl)
	chatUp(t, a, b)
}

// TestFileCancel ends a transfer from either side at each point.
func TestFileCancel(t *testing.T) {
	bset := testSettings(t, "bob")
	bset.fileTest = &fileTestHooks{recvDelay: 5 * time.Millisecond}
	a, _ := newFileNode(t, "alice", testSettings(t, "alice"))
	b, dl := newFileNode(t, "bob", bset)
	a.connect(t, b)
	path, _ := writeTestFile(t, "x", 40*e2e.FileChunkSize)
	type step struct {
		name    string
		accept  bool
		sender  bool // the sender ends it
		mid     bool // once data flows
		reasonA string
		reasonB string
	}
	for _, s := range []step{
		{"receiver rejects the offer", false, false, false, FileReasonRejected, FileReasonRejected},
		{"sender cancels the offer", false, true, false, FileReasonCancelled, FileReasonCancelled},
		{"receiver cancels mid-way", true, false, true, FileReasonCancelled, FileReasonCancelled},
		{"sender cancels mid-way", true, true, true, FileReasonCancelled, FileReasonCancelled},
	} {
		_, id, err := a.SendFile(context.Background(), b.PeerID(), path)
		if err != nil {
			t.Fatal(err)
		}
		b.ev.wait(t, "offer", isFileOffered(id))
		if s.accept {
			if err := b.AcceptFile(id, ""); err != nil {
				t.Fatal(err)
			}
		}
		if s.mid {
			a.ev.wait(t, "data flows", func(e Event) bool { p, ok := e.(FileProgress); return ok && p.FileID == id && p.Bytes > 0 })
		}
		ender := b
		if s.sender {
			ender = a
		}
		if err := ender.RejectFile(id); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if f := a.ev.wait(t, s.name, isFileFailed(id)).(FileFailed); f.Reason != s.reasonA {
			t.Errorf("%s: sender %+v", s.name, f)
		}
		if f := b.ev.wait(t, s.name, isFileFailed(id)).(FileFailed); f.Reason != s.reasonB {
			t.Errorf("%s: receiver %+v", s.name, f)
		}
		if err := b.AcceptFile(id, ""); err != ErrUnknownFile {
			t.Errorf("%s: accept after the end: %v", s.name, err)
		}
		eventually(t, "no partial file", func() bool { ents, _ := os.ReadDir(dl); return len(ents) == 0 })
	}
	if n := len(a.Transfers()) + len(b.Transfers()); n != 0 {
		t.Errorf("%d transfers left", n)
	}
	chatUp(t, a, b)
}

// noSpace fails every write once limit bytes were written, as a full disk
// does.
type noSpace struct {
	w     io.Writer
	mu    sync.Mutex
	n     int
	limit int
}

func (d *noSpace) Write(b []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n+len(b) > d.limit {
		return 0, &os.PathError{Op: "write", Path: "partial", Err: syscall.ENOSPC}
	}
	d.n += len(b)
	return d.w.Write(b)
}

func TestFileDiskFull(t *testing.T) {
	bset := testSettings(t, "bob")
	bset.fileTest = &fileTestHooks{sinkWrap: func(w io.Writer) io.Writer { return &noSpace{w: w, limit: 1 << 20} }}
	a, _ := newFileNode(t, "alice", testSettings(t, "alice"))
	b, dl := newFileNode(t, "bob", bset)
	a.connect(t, b)
	path, _ := writeTestFile(t, "x", 3<<20)
	_, id, err := a.SendFile(context.Background(), b.PeerID(), path)
	if err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, "offer", isFileOffered(id))
	if err := b.AcceptFile(id, ""); err != nil {
		t.Fatal(err)
	}
	if f := b.ev.wait(t, "failed", isFileFailed(id)).(FileFailed); f.Reason != FileReasonNoSpace {
		t.Errorf("receiver: %+v", f)
	}
	if f := a.ev.wait(t, "failed (sender)", isFileFailed(id)).(FileFailed); f.Reason != FileReasonFailed {
		t.Errorf("sender: %+v", f)
	}
	checkClean(t, dl)
	chatUp(t, a, b)
}
