//go:build !linux

package main

// envPassphraseFD is only used on Linux, where the process re-executes
// itself to drop the passphrase variable (scrubenv_linux.go).
const envPassphraseFD = "SECURECHAT_PASSPHRASE_FD"

// scrubPassphraseEnv does nothing here: only Linux is known to need and
// allow the re-execution; elsewhere the variable is removed from Go's
// environment when read, and the README says it may stay visible to the
// same user.
func scrubPassphraseEnv() error { return nil }

func readPipedPassphrase() (string, bool, error) { return "", false, nil }
