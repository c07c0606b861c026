package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
	"github.com/securechat/securechat/p2p/mdns"
)

// logFileName is the line interface's log, in the home directory: logs must
// never scribble over the conversation on the terminal.
const logFileName = "securechat.log"

// closeTimeout bounds Node.Close so that quit and end of input exit within
// the 5 s docs/INTERFACE.md promises, whatever the network is doing.
const closeTimeout = 2500 * time.Millisecond

// run executes the command cfg describes. It returns nil on a clean quit,
// including one asked for by SIGINT or SIGTERM (ctx cancelled).
func run(ctx context.Context, cfg *config, env environment, stdin io.Reader, stdout, stderr io.Writer) error {
	// go-libp2p's own log lines follow the node's logger (the log file,
	// stderr in headless mode, or nowhere), never straight to the terminal.
	// It must come before the first node starts.
	p2p.RouteLibraryLogs()
	switch cfg.command {
	case cmdVersion:
		fmt.Fprintf(stdout, "securechat %s\n", version())
		return nil
	case cmdPasswd:
		return runPasswd(ctx, cfg, env, stdout, stderr)
	case cmdExport:
		return runExport(ctx, cfg, env, stdout, stderr)
	case cmdImport:
		return runImport(ctx, cfg, env, stdout)
	}
	if !cfg.ephemeral {
		// One process per home, for the node's whole life (lock.go).
		release, err := lockHome(cfg)
		if err != nil {
			return err
		}
		defer release()
	}
	switch cfg.command {
	case cmdID:
		return runID(ctx, cfg, env, stdout, stderr)
	case cmdInvite:
		return runInvite(ctx, cfg, env, stdout, stderr)
	case cmdDoctor:
		return runDoctor(ctx, cfg, env, stdout, stderr)
	}

	var logger *slog.Logger
	held := &heldWriter{w: stderr, held: !cfg.debug}
	if cfg.headless {
		logger = newLogger(held, cfg.debug)
	} else {
		// The line interface owns the terminal: log to a file, or nowhere
		// with --ephemeral, which promises to write nothing to disk.
		logger = slog.New(slog.DiscardHandler)
		if !cfg.ephemeral {
			if err := makeHome(cfg); err != nil {
				return err
			}
			f, err := os.OpenFile(filepath.Join(cfg.home, logFileName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
			if err != nil {
				return failf("", "open log file: %v", err)
			}
			defer f.Close()
			logger = newLogger(f, cfg.debug)
		}
	}

	if cfg.mdns {
		// zeroconf, under mDNS, logs with the standard logger: into
		// ours, never onto the terminal or the headless output.
		mdns.RouteStdLog(logger)
	}
	n, err := startNode(ctx, cfg, env, logger)
	held.release(err == nil)
	if err != nil {
		return err
	}
	if n == nil {
		return nil // interrupted while starting: a clean quit
	}
	if cfg.headless {
		return runHeadless(ctx, n, cfg, stdin, stdout, logger)
	}
	if in, out, ok := terminal(stdin, stdout); ok {
		return runTUI(ctx, n, cfg, in, out, logger)
	}
	return runLineMode(ctx, n, cfg, stdin, stdout, logger)
}

// makeHome creates the home directory, 0700: it holds the encrypted keys
// and the contact store, which are nobody else's business even encrypted.
func makeHome(cfg *config) error {
	if cfg.homeErr != nil {
		return cfg.homeErr
	}
	if err := os.MkdirAll(cfg.home, 0o700); err != nil {
		return failf("pass --home DIR or set "+envHome, "create home directory: %v", err)
	}
	return nil
}

// startNode gets the passphrase and starts the node. It returns a nil node
// and nil error if ctx was cancelled (SIGINT) while starting.
func startNode(ctx context.Context, cfg *config, env environment, logger *slog.Logger) (*p2p.Node, error) {
	pc := p2p.Config{
		Ephemeral:   cfg.ephemeral,
		ListenAddrs: cfg.listen,
		DefaultName: cfg.name,
		MDNS:        cfg.mdns,
		Logger:      logger,
		MaxSessions: cfg.maxSessions,

		Relays:           cfg.relays,
		ServeRelay:       cfg.serveRelay,
		HolePunchPrivate: cfg.holePunchPriv,
		Downloads:        cfg.downloads,
		MaxFileSize:      cfg.maxFileSize,
	}
	if cfg.nameSet {
		// Given explicitly, the name replaces the one saved in the home;
		// otherwise the saved one wins over the OS user name.
		pc.Name = cfg.name
	}
	if cfg.ephemeral {
		// Not needed, but read once and dropped all the same, so the secret
		// never lingers in our environment.
		env.LookupEnvOnce(envPassphrase)
	} else {
		firstRun := isFirstRun(cfg.home)
		if err := makeHome(cfg); err != nil {
			return nil, err
		}
		pc.Home = cfg.home
		// New does not keep the passphrase; neither does unlockWith,
		// which asks again after a wrong one on a terminal.
		var n *p2p.Node
		err := unlockWith(ctx, cfg, env, firstRun, func(pass []byte) error {
			pc.Passphrase = pass
			var err error
			n, err = p2p.New(ctx, pc)
			return err
		})
		pc.Passphrase = nil
		return n, startFailure(ctx, err)
	}

	n, err := p2p.New(ctx, pc)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, startError(err)
	}
	return n, nil
}

// startFailure is startError, or nil if ctx was cancelled (SIGINT) while
// starting.
func startFailure(ctx context.Context, err error) error {
	var ee *exitError
	switch {
	case err == nil || ctx.Err() != nil:
		return nil
	case errors.As(err, &ee):
		return err // the passphrase prompt's own, already worded
	}
	return startError(err)
}

// startError words a failure of p2p.New for the user, with a hint where one
// helps.
func startError(err error) error {
	switch {
	case isPassphraseError(err):
		return failf("check the passphrase; a key file that was edited or truncated cannot be opened",
			"wrong passphrase or damaged key file")
	case errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use"):
		return failf("choose another port with --listen, or port 0 for any free one", "port in use: %v", err)
	case errors.Is(err, os.ErrPermission):
		return failf("check the permissions of the home directory", "start: %v", err)
	}
	return failf("", "start: %v", err)
}

// isPassphraseError reports whether err means the key file could not be
// opened with the passphrase. The key file is authenticated as a whole, so a
// wrong passphrase and a tampered file are one and the same error.
func isPassphraseError(err error) bool {
	return errors.Is(err, e2e.ErrPassphrase)
}

// shutdown ends an interface the same way in every mode: stop reading input
// and dials, close the node (bounded), give the event pump a second to drain
// what the node raised while closing, and let dials in flight answer. All of
// it stays within the 5 s docs/INTERFACE.md promises.
//
// It returns an error only if closing the node panicked.
func shutdown[T any](cancel context.CancelFunc, n chatNode, pumpDone <-chan T, dials *dialer, log *slog.Logger) error {
	cancel()
	err := closeNode(n, closeTimeout, log)
	select {
	case <-pumpDone:
	case <-time.After(time.Second):
	}
	dials.wait(500 * time.Millisecond)
	return err
}

// closeNode closes n, giving up after timeout so the process can still exit
// on time if the network stalls the close. A panic in Close is no trace on
// the terminal: its stack goes to log and it comes back as an error, so the
// process ends with exit 1 and one line.
func closeNode(n interface{ Close() error }, timeout time.Duration, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				logPanic(log, "closing the node", r, debug.Stack())
				done <- fmt.Errorf("internal error while closing: %v", r)
			}
		}()
		n.Close()
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return nil
	}
}

// newLogger logs text to w, at WARN, or DEBUG with SECURECHAT_DEBUG=1.
func newLogger(w io.Writer, debugOn bool) *slog.Logger {
	level := slog.LevelWarn
	if debugOn {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// maxHeldLog bounds the start-up logs kept back by [heldWriter].
const maxHeldLog = 64 << 10

// heldWriter keeps log output back while the node starts. A failed start
// must print exactly one line naming the cause, and libp2p logs its own
// account of the same failure (several lines for one busy port); those are
// dropped. Once the node is up, what was held is written out and later
// output passes straight through. SECURECHAT_DEBUG=1 holds nothing.
type heldWriter struct {
	mu   sync.Mutex
	w    io.Writer
	held bool
	buf  []byte
}

func (h *heldWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held {
		if len(h.buf)+len(p) <= maxHeldLog {
			h.buf = append(h.buf, p...)
		}
		return len(p), nil
	}
	return h.w.Write(p)
}

// release stops holding; keep says whether to write out what was held.
func (h *heldWriter) release(keep bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if keep && len(h.buf) > 0 {
		h.w.Write(h.buf)
	}
	h.buf, h.held = nil, false
}
