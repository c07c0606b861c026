//go:build unix

package files

import (
	"errors"
	"syscall"
)

// FreeSpace returns the bytes an unprivileged user may still write on the
// file system holding dir.
func FreeSpace(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil //nolint:unconvert // field types vary by OS
}

// noFollow keeps OpenFile from following a symbolic link at the last
// element of a path.
const noFollow = syscall.O_NOFOLLOW

func isQuota(err error) bool { return errors.Is(err, syscall.EDQUOT) }
