package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/securechat/securechat/p2p"
)

// Exit statuses, as docs/INTERFACE.md fixes them.
const (
	exitOK    = 0
	exitFail  = 1 // any failure to start other than a usage error
	exitUsage = 2 // unknown flag, malformed multiaddr, --connect without /p2p/, ...
)

func main() {
	// Before anything else: a passphrase in the environment must not stay
	// readable in /proc/<pid>/environ (scrubenv_linux.go). On success this
	// does not return; the new image finds the passphrase on a pipe.
	if err := scrubPassphraseEnv(); err != nil {
		fmt.Fprintf(os.Stderr, "securechat: warning: %s stays readable in /proc/%d/environ: %s\n",
			envPassphrase, os.Getpid(), oneLine(err.Error()))
	}
	os.Exit(mainExit(os.Args[1:], osEnv{}, os.Stdin, os.Stdout, os.Stderr))
}

// mainExit is main without os.Exit, so tests can drive it: it parses args,
// runs the command and turns the outcome into an exit status, printing any
// error once on stderr.
func mainExit(args []string, env environment, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		// The last line of defence: no Go panic trace ever reaches a user.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "securechat: error: internal error: %s\n", oneLine(fmt.Sprint(r)))
			code = exitFail
		}
	}()

	cfg, err := parseArgs(args, env)
	if err != nil {
		if errors.Is(err, errHelp) {
			fmt.Fprint(stdout, usageText)
			return exitOK
		}
		return report(stderr, err)
	}

	// SIGINT and SIGTERM cancel the context; every mode treats that as a
	// clean quit and returns nil, hence exit status 0.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	return report(stderr, run(ctx, cfg, env, stdin, stdout, stderr))
}

// exitError is an error that knows its exit status and may carry a hint
// for the user.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf returns a usage error (exit status 2).
func usageErrorf(hint, format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...), hint: hint}
}

// failf returns a start failure (exit status 1) with an optional hint.
func failf(hint, format string, args ...any) error {
	return &exitError{code: exitFail, err: fmt.Errorf(format, args...), hint: hint}
}

// report prints err (if any) once on stderr, with its hint, and returns the
// exit status for it.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	code, hint := exitFail, ""
	var ee *exitError
	if errors.As(err, &ee) {
		code, hint = ee.code, ee.hint
	}
	fmt.Fprintf(stderr, "securechat: error: %s\n", oneLine(err.Error()))
	if hint != "" {
		fmt.Fprintf(stderr, "securechat: hint: %s\n", oneLine(hint))
	}
	return code
}

// oneLine folds a possibly multi-line message (libp2p joins errors with
// newlines) into a single line, so every failure is exactly one line, and
// strips it of escape sequences and control characters
// ([p2p.SanitizeName]): error texts carry remote bytes (go-multistream
// quotes up to 1 KiB of a listener's unauthenticated reply in its dial
// errors), and every error the command shows passes through here.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", "")
	s = strings.ReplaceAll(s, "\n", "; ")
	s = strings.ReplaceAll(s, "\t", " ")
	return strings.Join(strings.Fields(p2p.SanitizeName(s)), " ")
}

// environment is the slice of the process environment the command reads;
// tests substitute a map.
type environment interface {
	Getenv(key string) string
	// LookupEnvOnce returns the variable and removes it from the
	// environment, so a secret does not leak to anything started later.
	LookupEnvOnce(key string) (string, bool)
}

// osEnv is the real process environment.
type osEnv struct{}

func (osEnv) Getenv(key string) string { return os.Getenv(key) }

func (osEnv) LookupEnvOnce(key string) (string, bool) {
	if key == envPassphrase {
		// A passphrase handed over by scrubPassphraseEnv's re-execution.
		if v, ok, err := readPipedPassphrase(); ok {
			if err != nil {
				return "", true // an empty passphrase is refused with a clear error
			}
			return v, true
		}
	}
	v, ok := os.LookupEnv(key)
	os.Unsetenv(key)
	return v, ok
}
