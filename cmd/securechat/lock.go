package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockFileName is the lock file in the home directory. Whoever holds the
// lock on it owns the home: a node for its whole life, or passwd, export and
// import while they work. It holds the owner's process ID, for the message
// the next one gets.
const lockFileName = "securechat.lock"

// lockHome creates the home if need be and takes the lock on its lock file,
// without waiting. A home already locked by another process is refused with
// exit status 1. The lock is held until release is called or the process
// exits, whichever comes first (the kernel drops it with the descriptor).
func lockHome(cfg *config) (release func(), err error) {
	if err := makeHome(cfg); err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.home, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, failf("check the permissions of the home directory", "open lock file: %v", err)
	}
	locked, err := tryLock(f)
	if err != nil {
		f.Close()
		return nil, failf("", "lock %s: %v", path, err)
	}
	if !locked {
		owner := readLockOwner(f)
		f.Close()
		return nil, failf("stop the other one first, or give this one another --home",
			"another securechat%s is using %s", owner, cfg.home)
	}
	// Best effort: the PID only words the next one's error.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

// readLockOwner returns " (process N)" from the lock file, or "" if it holds
// no process ID.
func readLockOwner(f *os.File) string {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return ""
	}
	return fmt.Sprintf(" (process %d)", pid)
}
