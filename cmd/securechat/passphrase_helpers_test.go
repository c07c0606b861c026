package main

import (
	"context"
	"fmt"
)

// The one-shot passphrase path the command used before it asked again
// after a wrong passphrase (passretry.go's unlockWith). The tests keep it
// to check fixedPassphrase and a single terminal prompt on their own.

// getPassphrase finds the identity passphrase, in this order:
// --passphrase-file (its first line, line ending stripped), else
// $SECURECHAT_PASSPHRASE (removed from the environment once read), else the
// terminal (chosen on first run: asked twice, so a typo does not lock the
// user out, and confirmed once more if weak; see chooseNew). It asks once:
// unlockWith asks again after a wrong one.
//
// An empty passphrase is refused with exit status 1, not 2: it is not a
// malformed command line but a bad secret, like a wrong one.
//
// The caller must zero the result when done with it.
func getPassphrase(ctx context.Context, cfg *config, env environment, firstRun bool) ([]byte, error) {
	p, ok, err := fixedPassphrase(cfg, env)
	if err != nil || ok {
		return p, err
	}
	return askPassphrase(ctx, cfg, firstRun)
}

// askPassphrase asks on the terminal, once; on first run the passphrase is
// chosen (chooseNew).
func askPassphrase(ctx context.Context, cfg *config, firstRun bool) ([]byte, error) {
	tty, err := openPrompter()
	if err != nil {
		return nil, failf(passphraseHint, "no passphrase: %v", err)
	}
	defer tty.Close()
	if firstRun {
		return chooseNew(ctx, tty, fmt.Sprintf("New identity in %s.\n", cfg.home))
	}
	p, err := tty.ReadSecret(ctx, fmt.Sprintf("Passphrase for %s: ", cfg.home))
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errEmptyPassphrase
	}
	return p, nil
}
