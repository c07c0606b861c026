package keystore

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"go.uber.org/goleak"

	"github.com/securechat/securechat/e2e"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var testPass = []byte("keystore test passphrase")

var testID struct {
	once sync.Once
	id   *e2e.Identity
	err  error
}

// testKeyFile returns a key file with a fresh host key and an RSA identity
// generated once per test binary (generation takes about a second).
func testKeyFile(t *testing.T) *e2e.KeyFile {
	t.Helper()
	testID.once.Do(func() { testID.id, testID.err = e2e.GenerateIdentity() })
	if testID.err != nil {
		t.Fatal(testID.err)
	}
	hk, err := GenerateHostKey()
	if err != nil {
		t.Fatal(err)
	}
	kf := &e2e.KeyFile{HostKey: hk, Identity: testID.id}
	kf.StorageKey[0] = 1
	return kf
}

// created makes a key file in a fresh directory and returns its path.
func created(t *testing.T) (string, *e2e.KeyFile) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "home", "keys")
	kf := testKeyFile(t)
	if err := Create(path, testPass, kf); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return path, kf
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// onlyFile checks that path is all its directory holds: no temporary file
// is left beside it.
func onlyFile(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(path) {
		names := make([]string, len(entries))
		for i, e := range entries {
			names[i] = e.Name()
		}
		t.Errorf("directory holds %q, want only %s", names, filepath.Base(path))
	}
}

func TestCreateLoadRoundTrip(t *testing.T) {
	path, kf := created(t)
	got, err := Load(path, testPass)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !bytes.Equal(got.HostKey, kf.HostKey) || got.StorageKey != kf.StorageKey ||
		!got.Identity.Public().Equal(kf.Identity.Public()) {
		t.Fatal("loaded key file differs")
	}
	if ok, err := Exists(path); !ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	if ok, err := Exists(path + ".nope"); ok || err != nil {
		t.Fatalf("Exists(missing) = %v, %v", ok, err)
	}
	onlyFile(t, path) // no temporary files
}

func TestCreateModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	path, _ := created(t)
	if m := mode(t, path); m != 0o600 {
		t.Errorf("key file mode %04o, want 0600", m)
	}
	if m := mode(t, filepath.Dir(path)); m != 0o700 {
		t.Errorf("key directory mode %04o, want 0700", m)
	}
}

func TestCreateRefusesToOverwrite(t *testing.T) {
	path, _ := created(t)
	before, _ := os.ReadFile(path)
	err := Create(path, []byte("other"), testKeyFile(t))
	if !errors.Is(err, ErrExists) {
		t.Fatalf("got %v, want ErrExists", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("existing key file changed")
	}
	// A link race (the file appears between the check and the commit) is
	// refused too.
	tmp, err := writeTemp(path, []byte("new"))
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp)
	if err := commit(tmp, path); !errors.Is(err, ErrExists) {
		t.Fatalf("commit over an existing file: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("existing key file changed by commit")
	}
}

func TestLoadRefusesLooseModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	path, _ := created(t)
	for _, m := range []fs.FileMode{0o644, 0o640, 0o604, 0o660, 0o700, 0o666} {
		if err := os.Chmod(path, m); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path, testPass)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: got %v, want an error naming chmod 600", m, err)
		}
		if errors.Is(err, e2e.ErrPassphrase) {
			t.Errorf("mode %04o: reported as a passphrase error", m)
		}
		if got := mode(t, path); got != m {
			t.Errorf("Load changed the mode to %04o", got)
		}
	}
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, testPass); err != nil {
		t.Fatalf("mode 0400 refused: %v", err)
	}
}

func TestLoadWrongPassphrase(t *testing.T) {
	path, _ := created(t)
	before, _ := os.ReadFile(path)
	_, err := Load(path, []byte("wrong"))
	if !errors.Is(err, e2e.ErrPassphrase) {
		t.Fatalf("got %v, want ErrPassphrase", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("Load changed the file")
	}
}

func TestLoadDamagedFile(t *testing.T) {
	path, _ := created(t)
	orig, _ := os.ReadFile(path)
	tests := map[string][]byte{
		"truncated in header":     orig[:40],
		"truncated in ciphertext": orig[:len(orig)-1],
		"tampered byte":           append(append(bytes.Clone(orig[:200]), orig[200]^0x04), orig[201:]...),
		"empty":                   {},
		"oversized":               make([]byte, 1<<20),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, testPass)
			if !errors.Is(err, e2e.ErrPassphrase) {
				t.Fatalf("got %v, want ErrPassphrase", err)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
				t.Fatal("Load changed the file")
			}
		})
	}
}

// TestCrashBeforeCommit simulates a crash after the temporary file was
// written but before it was linked into place.
func TestCrashBeforeCommit(t *testing.T) {
	path, kf := created(t)
	orig, _ := os.ReadFile(path)
	// A crashed second Create left a whole temporary file behind.
	tmp, err := writeTemp(path, []byte("half-written key file"))
	if err != nil {
		t.Fatal(err)
	}
	if m := mode(t, tmp); runtime.GOOS != "windows" && m != 0o600 {
		t.Fatalf("temporary file mode %04o", m)
	}
	got, err := Load(path, testPass)
	if err != nil || !got.Identity.Public().Equal(kf.Identity.Public()) {
		t.Fatalf("Load after crash: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, orig) {
		t.Fatal("key file changed")
	}

	// A crash during the very first Create leaves no key file, only the
	// temporary one; the next Create ignores it, succeeds and cleans up.
	fresh := filepath.Join(t.TempDir(), "keys")
	if _, err := writeTemp(fresh, []byte("torn")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := Exists(fresh); ok {
		t.Fatal("temporary file counts as the key file")
	}
	if _, err := Load(fresh, testPass); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load without key file: %v", err)
	}
	if err := Create(fresh, testPass, kf); err != nil {
		t.Fatalf("Create after crash: %v", err)
	}
	onlyFile(t, fresh)
}

func TestCreateRefusesBadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys")
	if err := Create(path, nil, testKeyFile(t)); err == nil {
		t.Fatal("empty passphrase accepted")
	}
	if ok, _ := Exists(path); ok {
		t.Fatal("a failed Create left a file")
	}
}

func TestGenerateHostKey(t *testing.T) {
	b, err := GenerateHostKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if k.Type() != crypto.Ed25519 {
		t.Fatalf("host key type %v, want Ed25519", k.Type())
	}
	b2, _ := GenerateHostKey()
	if bytes.Equal(b, b2) {
		t.Fatal("two host keys are equal")
	}
}
