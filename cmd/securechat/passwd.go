package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/securechat/securechat/p2p"
)

// checkIdentityFlags refuses flag combinations passwd, export and import
// cannot honour. seen holds the flags given.
func checkIdentityFlags(cfg *config, seen map[string]bool) error {
	if seen["new-passphrase-file"] {
		if cfg.newPassphrase == "" {
			return usageErrorf("", "--new-passphrase-file: empty file name")
		}
		if cfg.command != cmdPasswd && cfg.command != cmdExport {
			return usageErrorf("", "--new-passphrase-file is for passwd and export only")
		}
	}
	switch cfg.command {
	case cmdPasswd, cmdExport, cmdImport:
		if cfg.ephemeral {
			return usageErrorf("", "%s works on the identity in --home; --ephemeral has none", cfg.command)
		}
	}
	return nil
}

// runPasswd changes the passphrase of the identity in cfg.home: it unlocks
// the key file with the current passphrase (asked up to three times on a
// terminal), has a new one chosen, and rewrites the key file atomically under
// it. The store needs nothing: its key is inside the key file. A node
// running on the home holds the lock, so passwd is refused then.
func runPasswd(ctx context.Context, cfg *config, env environment, stdout, stderr io.Writer) error {
	if err := needIdentity(cfg); err != nil {
		return err
	}
	h, pass, done, err := openForNewPassphrase(ctx, cfg, env, fmt.Sprintf("Choose the new passphrase for %s.\n", cfg.home), stderr)
	if h == nil {
		return err
	}
	defer done()
	if err := h.ChangePassphrase(pass); err != nil {
		return failf("the key file is unchanged; the old passphrase still opens it", "change passphrase: %v", err)
	}
	fmt.Fprintf(stdout, "passphrase changed for %s (peer ID %s)\n", cfg.home, h.PeerID())
	return nil
}

// needIdentity refuses a home with no identity before anything is asked.
func needIdentity(cfg *config) error {
	if cfg.homeErr != nil {
		return cfg.homeErr
	}
	if isFirstRun(cfg.home) {
		return failf("run securechat once to create one, or import a backup with 'securechat import FILE'",
			"no identity in %s", cfg.home)
	}
	return nil
}

// openHome unlocks the identity in cfg.home. It returns a nil identity and
// a nil error if ctx was cancelled (SIGINT) while asking.
func openHome(ctx context.Context, cfg *config, env environment) (*p2p.HomeIdentity, error) {
	var h *p2p.HomeIdentity
	err := unlockWith(ctx, cfg, env, false, func(pass []byte) error {
		var err error
		h, err = p2p.OpenHome(cfg.home, pass)
		return err
	})
	if err != nil {
		return nil, quitOr(ctx, identityError(err))
	}
	return h, nil
}

// openForNewPassphrase is the start of passwd and export: it locks
// cfg.home, unlocks the identity in it and has a new passphrase chosen,
// with intro shown first. done clears the passphrase, closes the identity
// and releases the lock. It returns a nil identity when it fails, with a nil
// error if ctx was cancelled (SIGINT) while asking; nothing is held then.
func openForNewPassphrase(ctx context.Context, cfg *config, env environment, intro string,
	stderr io.Writer) (h *p2p.HomeIdentity, pass []byte, done func(), err error) {
	release, err := lockHome(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err = openHome(ctx, cfg, env)
	if h == nil {
		release()
		return nil, nil, nil, err
	}
	pass, err = newPassphrase(ctx, cfg, intro, stderr)
	if err != nil {
		h.Close()
		release()
		return nil, nil, nil, quitOr(ctx, err)
	}
	return h, pass, func() {
		clear(pass)
		h.Close()
		release()
	}, nil
}

// quitOr is nil if ctx was cancelled (SIGINT or SIGTERM, a clean quit), else
// err.
func quitOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// identityError words a failure to unlock or restore an identity.
func identityError(err error) error {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return err
	case isPassphraseError(err):
		return failf("check the passphrase; a key file that was edited or truncated cannot be opened",
			"wrong passphrase or damaged key file")
	case errors.Is(err, p2p.ErrNoIdentity):
		return failf("run securechat once to create one, or import a backup", "%v", err)
	}
	return failf("", "%v", err)
}
