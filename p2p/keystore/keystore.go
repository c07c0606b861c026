// Package keystore reads and writes the node's encrypted key file: the
// libp2p host key, the RSA identity and the storage key, sealed by
// [e2e.KeyFile.Seal] under the user's passphrase.
//
// The file is written once, atomically and never over an existing one, with
// mode 0600 in a directory created 0700. It is refused on load if group or
// others may read or write it: a key file others can read is a key file others
// can copy and attack offline.
package keystore

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/securechat/securechat/e2e"
)

// FileMode is the mode of a key file: owner read and write only.
const FileMode fs.FileMode = 0o600

// DirMode is the mode of a directory Create makes for a key file.
const DirMode fs.FileMode = 0o700

// maxFileSize bounds what Load reads. Real key files are about 4 KiB; e2e
// refuses anything over 64 KiB anyway, and reading one byte more lets it say
// so.
const maxFileSize = 64<<10 + 1

// ErrExists is returned by [Create] when the key file is already there.
var ErrExists = errors.New("keystore: key file already exists")

// tempPattern names Create's temporary files, "." + base + ".tmp-*" beside
// the key file, so a leftover from a crash is recognisable and never mistaken
// for the key file itself.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// Load reads and decrypts the key file at path. It refuses a file whose mode
// grants anything beyond 0600, naming the fix, and it never writes to the
// file. A wrong passphrase or a damaged file returns an error wrapping
// [e2e.ErrPassphrase].
func Load(path string, passphrase []byte) (*e2e.KeyFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open key file: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so the mode checked is the mode of
	// the bytes read.
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if err := checkMode(path, fi.Mode()); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize))
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	kf, err := e2e.OpenKeyFile(data, passphrase)
	if err != nil {
		return nil, fmt.Errorf("unlock key file %s: %w", path, err)
	}
	return kf, nil
}

// checkMode refuses a key file mode beyond 0600.
func checkMode(path string, mode fs.FileMode) error { return CheckMode("key file", path, mode) }

// CheckMode refuses permission bits beyond 0600 on a secret file (what names
// it in the error: "key file", "passphrase file"), naming the fix. Windows
// has no such bits (os reports 0666 for every writable file), so the check
// is Unix-only.
func CheckMode(what, path string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if perm := mode.Perm(); perm&^FileMode != 0 {
		return fmt.Errorf("%s %s has mode %04o, which lets others read or change it; run: chmod 600 %s",
			what, path, perm, path)
	}
	return nil
}

// Create seals kf under passphrase and writes it to path. It refuses to
// replace an existing file ([ErrExists]). The directory is created with mode
// 0700 if missing. The write is atomic: the sealed bytes go to a temporary
// file (mode 0600) in the same directory, which is synced and then linked into
// place, so a crash leaves either no key file or a whole one, never a torn
// one. Leftover temporary files from an earlier crash are removed.
func Create(path string, passphrase []byte, kf *e2e.KeyFile) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, DirMode); err != nil {
		return fmt.Errorf("create key directory: %w", err)
	}
	if err := refuseExisting(path); err != nil {
		return err
	}
	data, err := kf.Seal(passphrase)
	if err != nil {
		return fmt.Errorf("seal key file: %w", err)
	}
	removeStaleTemps(path)
	return installNew(path, data)
}

// refuseExisting returns [ErrExists] if path exists.
func refuseExisting(path string) error {
	if ok, err := Exists(path); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	return nil
}

// installNew writes data to a temporary file beside path and links it into
// place, failing if path exists, then syncs the directory.
func installNew(path string, data []byte) error {
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	defer os.Remove(tmp) // after a successful link this removes the second name only
	if err := commit(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data to a fresh temporary file beside path, with mode
// 0600, and syncs it. It returns the temporary file's name.
func writeTemp(path string, data []byte) (string, error) {
	// CreateTemp opens with O_EXCL and mode 0600, so no other process can
	// have the file open or read it before the secrets are in it.
	f, err := os.CreateTemp(filepath.Dir(path), tempPattern(path))
	if err != nil {
		return "", fmt.Errorf("create temporary key file: %w", err)
	}
	name := f.Name()
	err = f.Chmod(FileMode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("write temporary key file: %w", err)
	}
	return name, nil
}

// commit gives tmp the name path without ever replacing an existing path. A
// hard link fails if path exists, atomically, where a rename would silently
// replace a key file created since Create checked. File systems without hard
// links fall back to a rename after a fresh check.
func commit(tmp, path string) error {
	err := os.Link(tmp, path)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, path)
	}
	if err := refuseExisting(path); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("install key file: %w", err)
	}
	return nil
}

// syncDir makes the new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync key directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("sync key directory: %w", err)
	}
	return nil
}

// removeStaleTemps deletes temporary files an interrupted Create left beside
// path. Errors are ignored: a leftover is harmless, the key file never
// depends on it.
func removeStaleTemps(path string) {
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), tempPattern(path)))
	for _, m := range matches {
		os.Remove(m)
	}
}

// Exists reports whether a file (of any kind) exists at path.
func Exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("check key file: %w", err)
	}
}

// GenerateHostKey returns a fresh libp2p Ed25519 host key in libp2p's
// marshalled form, as [e2e.KeyFile.HostKey] holds it.
func GenerateHostKey() ([]byte, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate host key: %w", err)
	}
	b, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("marshal host key: %w", err)
	}
	return b, nil
}
