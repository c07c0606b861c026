package files

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	"github.com/securechat/securechat/e2e"
)

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func TestPartialResumeAndFinish(t *testing.T) {
	dir := t.TempDir()
	content := randomBytes(t, 3*e2e.FileChunkSize+10)
	sum := sha256.Sum256(content)
	path := PartialPath(dir, "k")
	p, err := OpenPartial(path, int64(len(content)), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write(content[:e2e.FileChunkSize]); err != nil {
		t.Fatal(err)
	}
	at, check, err := p.Checkpoint()
	if err != nil || at != e2e.FileChunkSize {
		t.Fatal(at, err)
	}
	// A chunk and a half more, then a stop: the half chunk is dropped.
	if _, err := p.Write(content[e2e.FileChunkSize : 5*e2e.FileChunkSize/2]); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("partial file: %v %v", st, err)
	}
	p, err = OpenPartial(path, int64(len(content)), at, check)
	if err != nil {
		t.Fatal(err)
	}
	if p.Chunks() != 2 || p.Len() != 2*e2e.FileChunkSize {
		t.Fatalf("resumed with %d chunks, %d bytes", p.Chunks(), p.Len())
	}
	if _, err := p.Write(content[p.Len():]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Write([]byte{0}); err == nil {
		t.Fatal("write past the size accepted")
	}
	// The name is taken: the file gets the next free one.
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := p.Finish(sum, "f.bin", "")
	if err != nil || got != filepath.Join(dir, "f (1).bin") {
		t.Fatalf("Finish: %s %v", got, err)
	}
	if b, _ := os.ReadFile(got); !bytes.Equal(b, content) {
		t.Fatal("finished file differs")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f.bin")); string(b) != "mine" {
		t.Fatal("existing file overwritten")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("partial file left")
	}
}

func TestPartialResumeCheck(t *testing.T) {
	dir := t.TempDir()
	content := randomBytes(t, 4*e2e.FileChunkSize)
	path := PartialPath(dir, "k")
	p, err := OpenPartial(path, int64(len(content)), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Write(content[:2*e2e.FileChunkSize])
	at, check, _ := p.Checkpoint()
	_ = p.Close()
	// A kept byte changed on disk: the checkpoint does not match, so the
	// file starts over.
	f, _ := os.OpenFile(path, os.O_RDWR, 0)
	_, _ = f.WriteAt([]byte{content[10] ^ 1}, 10)
	_ = f.Close()
	p, err = OpenPartial(path, int64(len(content)), at, check)
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 0 {
		t.Fatalf("a changed partial file kept %d bytes", p.Len())
	}
	// A whole file with the wrong SHA-256 is removed.
	_, _ = p.Write(content)
	if _, err := p.Finish([32]byte{}, "x", ""); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Finish: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left behind: %v", ents)
	}
	// A symbolic link in place of the partial file is not followed.
	target := filepath.Join(t.TempDir(), "target")
	_ = os.WriteFile(target, nil, 0o600)
	if err := os.Symlink(target, path); err != nil {
		t.Skip(err)
	}
	if _, err := OpenPartial(path, 10, 0, nil); err == nil && runtime.GOOS != "windows" {
		t.Fatal("opened through a symbolic link")
	}
}

// TestPartialFileSizeLimit writes past RLIMIT_FSIZE in a child process (the
// limit is the process's): the write fails as ErrNoSpace.
func TestPartialFileSizeLimit(t *testing.T) {
	if dir := os.Getenv("FILES_RLIMIT_DIR"); dir != "" {
		lim := syscall.Rlimit{Cur: 100 << 10, Max: 100 << 10}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Skip(err)
		}
		p, err := OpenPartial(PartialPath(dir, "k"), 1<<20, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		content := randomBytes(t, 1<<20)
		_, err = p.Write(content)
		if !errors.Is(err, ErrNoSpace) {
			t.Fatalf("write past the limit: %v", err)
		}
		// The write was short: the hash (taken while writing) covers
		// only what the file holds.
		at, check, err := p.Checkpoint()
		if err != nil || at != 100<<10 {
			t.Fatalf("checkpoint after a short write: %d %v", at, err)
		}
		h := sha256.New()
		h.Write(content[:at])
		want, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
		if !bytes.Equal(check, want) {
			t.Fatal("the hash after a short write is not the file's")
		}
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("RLIMIT_FSIZE test on Linux only")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPartialFileSizeLimit$")
	cmd.Env = append(os.Environ(), "FILES_RLIMIT_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
