package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/securechat/securechat/p2p/keystore"
)

// maxPassphraseLine bounds the first line of --passphrase-file, so pointing
// the flag at a huge file cannot eat memory.
const maxPassphraseLine = 64 << 10

// passphraseHint names the three places a passphrase can come from.
const passphraseHint = "pass --passphrase-file FILE, set " + envPassphrase + ", or run on a terminal"

// errNoTerminal means no terminal could be opened to ask on.
var errNoTerminal = errors.New("no terminal to ask for the passphrase")

// A prompter asks for a secret without echoing it. The real one is the
// controlling terminal; tests use a fake.
type prompter interface {
	ReadSecret(ctx context.Context, prompt string) ([]byte, error)
	Close() error
}

// openPrompter opens the prompter; a variable so tests can replace it.
var openPrompter = openTTY

// fixedPassphrase returns the passphrase from --passphrase-file or
// $SECURECHAT_PASSPHRASE, the sources nobody can retype; ok is false if
// neither was given, and the terminal must be asked.
func fixedPassphrase(cfg *config, env environment) (p []byte, ok bool, err error) {
	switch v, inEnv := env.LookupEnvOnce(envPassphrase); {
	case cfg.passphraseFile != "":
		if p, err = readPassphraseFile(cfg.passphraseFile); err != nil {
			return nil, false, err
		}
		if len(p) == 0 {
			return nil, false, failf("put the passphrase on the first line of the file", "empty passphrase in %s", cfg.passphraseFile)
		}
	case inEnv:
		// A Go string cannot be wiped; the copy we hand on can.
		p = []byte(v)
		if len(p) == 0 {
			return nil, false, failf(passphraseHint, "empty passphrase in %s", envPassphrase)
		}
	default:
		return nil, false, nil
	}
	return p, true, nil
}

// readPassphraseFile returns the first line of name, without its line
// ending. It reads into one buffer of its own, which it wipes, so that no
// copy of the secret is left behind in a reader's internals.
func readPassphraseFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, failf(passphraseHint, "read passphrase file: %v", err)
	}
	defer f.Close()
	// The key file's mode check (p2p/keystore), on the file read: a
	// passphrase others can read is as good as a key file others can read.
	// Pipes (--passphrase-file <(...)) have no such bits to speak of.
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		if err := keystore.CheckMode("passphrase file", name, fi.Mode()); err != nil {
			return nil, failf("", "%v", err)
		}
	}
	buf := make([]byte, maxPassphraseLine+2) // room for the longest line and "\r\n"
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, failf(passphraseHint, "read passphrase file: %v", err)
	}
	line := buf[:n]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > maxPassphraseLine {
		return nil, failf("", "read passphrase file: first line longer than %d bytes", maxPassphraseLine)
	}
	return bytes.Clone(line), nil
}

// ttyPrompter is the controlling terminal, opened as /dev/tty so that a
// passphrase can be asked even when stdin and stdout are pipes (headless).
type ttyPrompter struct{ f *os.File }

func openTTY() (prompter, error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, errNoTerminal
	}
	if !term.IsTerminal(int(f.Fd())) {
		f.Close()
		return nil, errNoTerminal
	}
	return &ttyPrompter{f: f}, nil
}

// ReadSecret prompts and reads a line without echo. SIGINT is caught by the
// command (it means a clean quit), so it cannot interrupt the read itself:
// instead a cancelled ctx restores the terminal's echo and returns at once,
// leaving the blocked read to die with the process.
func (t *ttyPrompter) ReadSecret(ctx context.Context, prompt string) ([]byte, error) {
	fd := int(t.f.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return nil, failf(passphraseHint, "no passphrase: %v", err)
	}
	fmt.Fprint(t.f, prompt)
	type result struct {
		p   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := term.ReadPassword(fd)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		fmt.Fprintln(t.f)
		if r.err != nil {
			return nil, failf(passphraseHint, "read passphrase from terminal: %v", r.err)
		}
		return r.p, nil
	case <-ctx.Done():
		term.Restore(fd, state)
		fmt.Fprintln(t.f)
		return nil, ctx.Err()
	}
}

func (t *ttyPrompter) Close() error { return t.f.Close() }

// isFirstRun reports whether home holds no identity yet, so the passphrase
// must be chosen (and asked twice) rather than entered. The key file layout
// belongs to p2p; an absent or empty directory (our own log aside) is the
// one sign we can rely on without knowing it.
// The lock file (lock.go) is ours too.
func isFirstRun(home string) bool {
	entries, err := os.ReadDir(home)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	for _, e := range entries {
		if e.Name() != logFileName && e.Name() != lockFileName {
			return false
		}
	}
	return true
}
