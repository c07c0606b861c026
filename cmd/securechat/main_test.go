package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// binPath is the securechat binary the end-to-end tests run, built once by
// TestMain; empty if the build failed (those tests then fail).
var (
	binPath  string
	buildErr error
)

func TestMain(m *testing.M) {
	// Re-executed as a stock go-libp2p program (stockp2p_test.go)?
	if code, ok := runTestProgram(); ok {
		os.Exit(code)
	}
	dir, err := os.MkdirTemp("", "securechat-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "securechat")
	if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		binPath = ""
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Leaked goroutines of the in-process tests (runHeadless against
		// the fake node) would be bugs in the shutdown path.
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
