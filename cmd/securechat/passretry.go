package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/securechat/securechat/e2e"
)

// maxTries is how often the terminal asks for a passphrase before giving up:
// a wrong one, or a new one that was mistyped or not confirmed.
const maxTries = 3

// weakPassphraseRunes is the length under which a new passphrase is called
// weak: it is warned about and must be confirmed once more, never refused.
// Anyone holding a copy of the key file (or a backup) can guess offline, at
// argon2id's cost per guess; under ten characters that is within reach.
const weakPassphraseRunes = 10

// errEmptyPassphrase is an empty answer on the terminal.
var errEmptyPassphrase = failf("", "empty passphrase")

// retryable reports whether asking again could help: the passphrase was
// wrong (or the file damaged, which looks the same), or empty.
func retryable(err error) bool {
	return errors.Is(err, e2e.ErrPassphrase) || errors.Is(err, e2e.ErrBackupPassphrase) || err == errEmptyPassphrase
}

// unlockWith gets the passphrase as getPassphrase does and calls try
// with it, zeroing it afterwards. A passphrase from --passphrase-file or
// $SECURECHAT_PASSPHRASE is tried once: nobody is there to retype it. On the
// terminal a wrong one is asked again, up to maxTries times in all; on first
// run the passphrase is chosen (chooseNew) and tried once. The error is
// try's last one, or the prompt's.
func unlockWith(ctx context.Context, cfg *config, env environment, firstRun bool, try func(pass []byte) error) error {
	return unlockWithPrompt(ctx, cfg, env, firstRun, fmt.Sprintf("Passphrase for %s: ", cfg.home), try)
}

// unlockWithPrompt is unlockWith asking with prompt on the terminal.
func unlockWithPrompt(ctx context.Context, cfg *config, env environment, firstRun bool, prompt string, try func(pass []byte) error) error {
	p, ok, err := fixedPassphrase(cfg, env)
	if err != nil {
		return err
	}
	if ok {
		defer clear(p)
		return try(p)
	}
	tty, err := openPrompter()
	if err != nil {
		return failf(passphraseHint, "no passphrase: %v", err)
	}
	defer tty.Close()
	if firstRun {
		p, err := chooseNew(ctx, tty, fmt.Sprintf("New identity in %s.\n", cfg.home))
		if err != nil {
			return err
		}
		defer clear(p)
		return try(p)
	}
	return retryOnTTY(ctx, tty, prompt, try)
}

// retryOnTTY asks with prompt and calls try, again after a retryable
// failure, up to maxTries times.
func retryOnTTY(ctx context.Context, tty prompter, prompt string, try func(pass []byte) error) error {
	note := ""
	for i := 1; ; i++ {
		p, err := tty.ReadSecret(ctx, note+prompt)
		if err != nil {
			return err
		}
		if len(p) == 0 {
			err = errEmptyPassphrase
		} else {
			err = try(p)
		}
		clear(p)
		if err == nil || ctx.Err() != nil || !retryable(err) || i == maxTries {
			return err
		}
		note = fmt.Sprintf("Wrong passphrase; try again (%d of %d).\n", i+1, maxTries)
		if err == errEmptyPassphrase {
			note = fmt.Sprintf("The passphrase is empty; try again (%d of %d).\n", i+1, maxTries)
		}
	}
}

// chooseNew has a new passphrase chosen on the terminal: typed twice, and a
// weak one (under weakPassphraseRunes characters) typed a third time after a
// warning, to keep it. A mismatch, an empty one or a weak one not confirmed
// starts over, up to maxTries times. intro is shown before the first prompt.
// The caller must zero the result.
func chooseNew(ctx context.Context, tty prompter, intro string) ([]byte, error) {
	note := intro
	var last error
	for range maxTries {
		p, err := tty.ReadSecret(ctx, note+"Choose a passphrase: ")
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			last = failf("an empty passphrase would leave the key file unprotected", "empty passphrase")
			note = "The passphrase must not be empty: it is all that protects the keys.\n"
			continue
		}
		same, err := readSame(ctx, tty, "Repeat the passphrase: ", p)
		if err != nil {
			clear(p)
			return nil, err
		}
		if !same {
			clear(p)
			last = failf("", "the passphrases do not match")
			note = "The passphrases do not match; start again.\n"
			continue
		}
		if n := utf8.RuneCount(p); n < weakPassphraseRunes {
			same, err := readSame(ctx, tty, weakWarning(n)+"Type it once more to keep it anyway, or press Enter to choose another: ", p)
			if err != nil {
				clear(p)
				return nil, err
			}
			if !same {
				clear(p)
				last = failf("", "weak passphrase not confirmed")
				note = ""
				continue
			}
		}
		return p, nil
	}
	return nil, last
}

// readSame asks with prompt and reports whether the answer is p.
func readSame(ctx context.Context, tty prompter, prompt string, p []byte) (bool, error) {
	again, err := tty.ReadSecret(ctx, prompt)
	defer clear(again)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(p, again) == 1, nil
}

// weakWarning is the warning for a new passphrase of n characters.
func weakWarning(n int) string {
	return fmt.Sprintf("Warning: this passphrase has only %d characters. Anyone who gets a copy of the key file\n"+
		"can try passphrases offline, and a short one falls quickly; %d or more characters (a few words)\n"+
		"are far safer.\n", n, weakPassphraseRunes)
}

// newPassphrase gets a new passphrase for passwd or export: from
// --new-passphrase-file (a weak one is warned about on warn, since nobody is
// there to confirm it), else chosen on the terminal (chooseNew). The caller
// must zero the result.
func newPassphrase(ctx context.Context, cfg *config, intro string, warn io.Writer) ([]byte, error) {
	if cfg.newPassphrase != "" {
		p, err := readPassphraseFile(cfg.newPassphrase)
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, failf("put the passphrase on the first line of the file", "empty passphrase in %s", cfg.newPassphrase)
		}
		if n := utf8.RuneCount(p); n < weakPassphraseRunes {
			fmt.Fprintf(warn, "securechat: warning: the new passphrase has only %d characters; %d or more are far safer against offline guessing\n",
				n, weakPassphraseRunes)
		}
		return p, nil
	}
	tty, err := openPrompter()
	if err != nil {
		return nil, failf("pass --new-passphrase-file FILE, or run on a terminal", "no new passphrase: %v", err)
	}
	defer tty.Close()
	return chooseNew(ctx, tty, intro)
}
