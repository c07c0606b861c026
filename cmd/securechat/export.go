package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/securechat/securechat/e2e"
	"github.com/securechat/securechat/p2p"
	"github.com/securechat/securechat/p2p/keystore"
)

// maxBackupFile bounds what import reads; e2e refuses anything over 16 MiB
// anyway, and one byte more lets it say so.
const maxBackupFile = 16<<20 + 1

// sameIdentityNote is what export and import print about running the two
// copies: both would answer as one peer ID, and peers would see it flip
// between two places.
const sameIdentityNote = "Run this identity on one machine at a time: two running copies answer as one peer ID\n" +
	"from two places and fight over every session. Stop securechat on the old machine first.\n"

// runExport writes the identity and contacts of cfg.home to cfg.file,
// sealed under a new passphrase of their own.
func runExport(ctx context.Context, cfg *config, env environment, stdout, stderr io.Writer) error {
	if err := needIdentity(cfg); err != nil {
		return err
	}
	if ok, err := keystore.Exists(cfg.file); err != nil {
		return failf("", "%v", err)
	} else if ok {
		return failf("choose another name; export never replaces a file", "%s exists", cfg.file)
	}
	h, pass, done, err := openForNewPassphrase(ctx, cfg, env,
		fmt.Sprintf("Choose a passphrase for the backup %s: it alone protects your identity in it.\n", cfg.file), stderr)
	if h == nil {
		return err
	}
	defer done()
	data, n, err := h.Export(pass)
	if err != nil {
		return failf("", "export: %v", err)
	}
	if err := keystore.WriteNew(cfg.file, data); err != nil {
		if errors.Is(err, keystore.ErrExists) {
			return failf("choose another name; export never replaces a file", "%s exists", cfg.file)
		}
		return failf("", "write %s: %v", cfg.file, err)
	}
	fmt.Fprintf(stdout, "exported to %s:\npeer ID:     %s\nfingerprint: %s\ncontacts:    %d\n%s",
		cfg.file, h.PeerID(), h.Fingerprint(), n, sameIdentityNote)
	return nil
}

// runImport restores cfg.file into cfg.home, which must hold no identity.
// The backup's passphrase (from --passphrase-file, $SECURECHAT_PASSPHRASE or
// the terminal, asked up to three times) opens it and also seals the new
// key file; `securechat passwd` changes it afterwards.
func runImport(ctx context.Context, cfg *config, env environment, stdout io.Writer) error {
	if cfg.homeErr != nil {
		return cfg.homeErr
	}
	data, err := readBackup(cfg.file)
	if err != nil {
		return err
	}
	if !isFirstRun(cfg.home) {
		return failf("import into a new --home, or move this one away first; import never replaces an identity",
			"%s already holds an identity", cfg.home)
	}
	release, err := lockHome(cfg)
	if err != nil {
		return err
	}
	defer release()
	var imp p2p.Imported
	err = unlockWithPrompt(ctx, cfg, env, false, fmt.Sprintf("Passphrase of the backup %s: ", cfg.file), func(pass []byte) error {
		var err error
		imp, err = p2p.Import(cfg.home, data, pass, pass)
		return err
	})
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, e2e.ErrBackupPassphrase):
		return failf("check the passphrase you chose at export; a backup that was edited or truncated cannot be opened",
			"wrong passphrase or damaged backup file")
	case errors.Is(err, p2p.ErrIdentityExists):
		return failf("import into a new --home, or move this one away first", "%s already holds an identity", cfg.home)
	default:
		return identityError(err)
	}
	fmt.Fprintf(stdout, "imported into %s:\npeer ID:     %s\nfingerprint: %s\ncontacts:    %d\n"+
		"The key file there is sealed under the backup's passphrase; change it with 'securechat passwd'.\n%s",
		cfg.home, imp.PeerID, imp.Fingerprint, imp.Contacts, sameIdentityNote)
	return nil
}

// readBackup reads the backup file, bounded.
func readBackup(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, failf("", "read backup: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxBackupFile))
	if err != nil {
		return nil, failf("", "read backup: %v", err)
	}
	return data, nil
}
