package keystore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

var newPass = []byte("a new and longer passphrase")

func TestReplace(t *testing.T) {
	path, kf := created(t)
	if runtime.GOOS != "windows" {
		// A loose mode is not carried over.
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := Replace(path, newPass, kf); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	if m := mode(t, path); runtime.GOOS != "windows" && m != FileMode {
		t.Errorf("mode %04o after Replace, want 0600", m)
	}
	got, err := Load(path, newPass)
	if err != nil {
		t.Fatalf("Load with the new passphrase: %v", err)
	}
	if !bytes.Equal(got.HostKey, kf.HostKey) || got.StorageKey != kf.StorageKey ||
		!got.Identity.Public().Equal(kf.Identity.Public()) {
		t.Error("secrets changed by Replace")
	}
	if _, err := Load(path, testPass); err == nil {
		t.Error("the old passphrase still opens the key file")
	}
	onlyFile(t, path)
	if err := Replace(filepath.Join(t.TempDir(), "missing"), newPass, kf); err == nil {
		t.Error("Replace created a key file that did not exist")
	}
}

// TestReplaceCrashBeforeRename stands for a crash after the new file was
// written and before the rename: the disk as it is then must still hold the
// old key file, whole, under the old passphrase.
func TestReplaceCrashBeforeRename(t *testing.T) {
	path, kf := created(t)
	orig, _ := os.ReadFile(path)
	crash := errors.New("simulated crash")
	var sawTemp bool
	beforeRename = func(tmp string) error {
		sawTemp = true
		if _, err := Load(path, testPass); err != nil {
			t.Errorf("old key file at the crash point: %v", err)
		}
		if !strings.HasPrefix(filepath.Base(tmp), "."+filepath.Base(path)+".tmp-") {
			t.Errorf("temporary file %s", tmp)
		}
		return crash
	}
	t.Cleanup(func() { beforeRename = func(string) error { return nil } })
	if err := Replace(path, newPass, kf); !errors.Is(err, crash) {
		t.Fatalf("Replace: %v, want the simulated crash", err)
	}
	if !sawTemp {
		t.Fatal("the hook did not run")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, orig) {
		t.Fatal("key file changed")
	}
	if _, err := Load(path, testPass); err != nil {
		t.Fatalf("old passphrase after the crash: %v", err)
	}
	if _, err := Load(path, newPass); err == nil {
		t.Fatal("new passphrase opens the key file after a crash before the rename")
	}
}

func TestWriteNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backup")
	if err := WriteNew(path, []byte("sealed")); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, path); runtime.GOOS != "windows" && m != FileMode {
		t.Errorf("mode %04o, want 0600", m)
	}
	if err := WriteNew(path, []byte("other")); !errors.Is(err, ErrExists) {
		t.Errorf("second WriteNew: %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "sealed" {
		t.Errorf("file holds %q", b)
	}
	onlyFile(t, path)
}

func TestCheckMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits on Windows")
	}
	if err := CheckMode("passphrase file", "p", 0o600); err != nil {
		t.Error(err)
	}
	err := CheckMode("passphrase file", "p", 0o644)
	if err == nil || !strings.Contains(err.Error(), "passphrase file p has mode 0644") || !strings.Contains(err.Error(), "chmod 600 p") {
		t.Errorf("0644: %v", err)
	}
}
