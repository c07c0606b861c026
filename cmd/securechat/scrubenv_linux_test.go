package main

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// TestPassphraseNotInProcEnviron: a passphrase given in
// $SECURECHAT_PASSPHRASE is not readable in /proc/<pid>/environ while the
// node runs (os.Unsetenv alone leaves it there), and the node still unlocks
// with it, on first start and on the next.
func TestPassphraseNotInProcEnviron(t *testing.T) {
	needBinary(t)
	home := t.TempDir()
	const secret = "uniq-5ecret-in-env-7f3a"
	for _, run := range []string{"first start", "restart"} {
		t.Run(run, func(t *testing.T) {
			p := startHeadless(t, "envcheck", binEnv(t, envPassphrase+"="+secret), "--home", home)
			environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(environ, []byte(secret)) || bytes.Contains(environ, []byte(envPassphrase+"=")) {
				t.Errorf("the passphrase is readable in /proc/<pid>/environ")
			}
			p.quit()
		})
	}
	// The restart above unlocked the key file written by the first start,
	// so the piped passphrase is the real one; a wrong one still fails.
	if _, stderr, code := runBinary(t, binEnv(t, envPassphrase+"=wrong"), "--headless", "--no-mdns", "--home", home); code != exitFail {
		t.Errorf("wrong passphrase through the pipe: exit %d: %s", code, stderr)
	}
}
