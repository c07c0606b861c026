package p2p

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/securechat/securechat/e2e"
)

// newFileNode is an ephemeral test node that saves files in a folder of
// the test's.
func newFileNode(t *testing.T, name string, set settings) (*testNode, string) {
	t.Helper()
	dl := filepath.Join(t.TempDir(), "downloads")
	n, err := newNode(context.Background(), Config{Ephemeral: true, ListenAddrs: loopback, Name: name, Downloads: dl}, set)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return wrap(t, n), dl
}

// writeTestFile writes size random bytes to a new file and returns its path
// and content.
func writeTestFile(t *testing.T, name string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	_, _ = rand.Read(b)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func isFileOffered(id string) func(Event) bool {
	return func(e Event) bool { o, ok := e.(FileOffered); return ok && o.FileID == id }
}

func isFileDone(id string) func(Event) bool {
	return func(e Event) bool { d, ok := e.(FileDone); return ok && d.FileID == id }
}

func isFileFailed(id string) func(Event) bool {
	return func(e Event) bool { f, ok := e.(FileFailed); return ok && f.FileID == id }
}

// transfer sends content from a to b, which accepts, and checks the file
// b saved.
func transfer(t *testing.T, a, b *testNode, path string, content []byte) string {
	t.Helper()
	_, id, err := a.SendFile(context.Background(), b.PeerID(), path)
	if err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	b.ev.wait(t, "offer", isFileOffered(id))
	if err := b.AcceptFile(id, ""); err != nil {
		t.Fatalf("AcceptFile: %v", err)
	}
	done := b.ev.wait(t, "file done (receiver)", isFileDone(id)).(FileDone)
	a.ev.wait(t, "file done (sender)", isFileDone(id))
	got, err := os.ReadFile(done.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Fatalf("%d bytes arrived as %d different bytes", len(content), len(got))
	}
	return done.Path
}

func TestFileSizes(t *testing.T) {
	a, _ := newFileNode(t, "alice", testSettings(t, "alice"))
	b, dl := newFileNode(t, "bob", testSettings(t, "bob"))
	a.connect(t, b)
	const c = e2e.FileChunkSize
	for _, size := range []int{0, 1, c - 1, c, c + 1, 3<<20 + 17} {
		path, content := writeTestFile(t, "f.bin", size)
		got := transfer(t, a, b, path, content)
		if filepath.Dir(got) != dl {
			t.Errorf("saved at %s, outside %s", got, dl)
		}
		if st, err := os.Stat(got); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("saved file mode: %v %v", st.Mode(), err)
		}
	}
	ents, _ := os.ReadDir(dl)
	if len(ents) != 6 {
		t.Errorf("%d files in downloads, want 6", len(ents))
	}
	if tr := a.Transfers(); len(tr) != 0 {
		t.Errorf("transfers left: %+v", tr)
	}
}
