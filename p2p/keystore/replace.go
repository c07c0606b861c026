package keystore

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/securechat/securechat/e2e"
)

// beforeRename runs in Replace after the new file tmp is written and synced
// and before it is renamed into place. Tests set it to look at the disk as a
// crash at that point would leave it, and to fail the rename.
var beforeRename = func(tmp string) error { return nil }

// Replace seals kf under passphrase and puts it at path in place of the key
// file there, which must exist (it is what `securechat passwd` rewrites).
// The sealed bytes go to a temporary file (mode 0600) beside path, which is
// synced, renamed over path, and the directory synced: a crash before the
// rename leaves the old file whole, after it the new one, never a mix. The
// old file's mode is not carried over: the new file is 0600.
func Replace(path string, passphrase []byte, kf *e2e.KeyFile) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("replace key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("key file %s is not a regular file", path)
	}
	data, err := kf.Seal(passphrase)
	if err != nil {
		return fmt.Errorf("seal key file: %w", err)
	}
	removeStaleTemps(path)
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := beforeRename(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install key file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install key file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

// WriteNew writes data to path, which must not exist ([ErrExists]), with
// mode 0600, atomically as [Create] does: a crash leaves no file or a whole
// one. The directory must exist. It is for files as secret as the key file,
// such as an identity backup.
func WriteNew(path string, data []byte) error {
	if err := refuseExisting(path); err != nil {
		return err
	}
	return installNew(path, data)
}
