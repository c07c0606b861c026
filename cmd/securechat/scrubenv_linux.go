package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// envPassphraseFD names the descriptor on which a re-executed securechat
// finds the passphrase that came in $SECURECHAT_PASSPHRASE. It is not a
// secret: it holds a number.
const envPassphraseFD = "SECURECHAT_PASSPHRASE_FD"

// maxPipedPassphrase is what one pipe buffer holds for sure (Linux's
// default pipe capacity is 64 KiB), so writing it before exec cannot block.
const maxPipedPassphrase = 64 << 10

// scrubPassphraseEnv keeps $SECURECHAT_PASSPHRASE out of
// /proc/<pid>/environ for the life of the process. os.Unsetenv is not
// enough: it changes Go's copy of the environment, while the kernel shows
// the block the process was started with. So, when the variable is set, the
// process writes its value into a pipe and executes itself again (same pid,
// same arguments) with the variable removed and the pipe's read end named
// by $SECURECHAT_PASSPHRASE_FD; the new image reads the passphrase from the
// pipe once ([osEnv.LookupEnvOnce]) and closes it.
//
// It returns only if there is nothing to do or the re-execution failed; in
// the second case the variable is still removed from Go's environment and
// the caller says so on stderr.
func scrubPassphraseEnv() error {
	v, ok := os.LookupEnv(envPassphrase)
	if !ok {
		return nil
	}
	if len(v) > maxPipedPassphrase {
		return fmt.Errorf("%s is longer than %d bytes", envPassphrase, maxPipedPassphrase)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var p [2]int
	// No O_CLOEXEC on purpose: the read end must survive the exec.
	if err := syscall.Pipe(p[:]); err != nil {
		return err
	}
	syscall.CloseOnExec(p[1])
	buf := []byte(v)
	_, werr := syscall.Write(p[1], buf)
	clear(buf)
	syscall.Close(p[1])
	if werr != nil {
		syscall.Close(p[0])
		return werr
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if hasKey(kv, envPassphrase) || hasKey(kv, envPassphraseFD) {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, envPassphraseFD+"="+strconv.Itoa(p[0]))
	err = syscall.Exec(exe, os.Args, env)
	// Still here: the exec failed.
	syscall.Close(p[0])
	return err
}

// readPipedPassphrase returns the passphrase a previous image of this
// process left on the descriptor named by $SECURECHAT_PASSPHRASE_FD, and
// closes it. ok is false when the variable is absent.
func readPipedPassphrase() (v string, ok bool, err error) {
	s, set := os.LookupEnv(envPassphraseFD)
	if !set {
		return "", false, nil
	}
	os.Unsetenv(envPassphraseFD)
	fd, err := strconv.Atoi(s)
	if err != nil || fd < 3 {
		return "", true, errors.New("bad " + envPassphraseFD)
	}
	f := os.NewFile(uintptr(fd), "passphrase")
	defer f.Close()
	buf := make([]byte, maxPipedPassphrase+1)
	defer clear(buf)
	n := 0
	for n < len(buf) {
		m, rerr := f.Read(buf[n:])
		n += m
		if rerr != nil {
			break
		}
	}
	if n > maxPipedPassphrase {
		return "", true, errors.New("passphrase pipe holds too much")
	}
	return string(buf[:n]), true, nil
}

// hasKey reports whether kv is the environment entry for key.
func hasKey(kv, key string) bool {
	return len(kv) > len(key) && kv[len(key)] == '=' && kv[:len(key)] == key
}
