package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// This test holds the import policy of STYLE.md, the way Go's own
// go/build/deps_test.go holds the standard library's: it asks `go list`
// what each package imports and fails on anything the table forbids. It
// lives in e2e but checks the whole module, so one test holds the one table.

// listedPackage is one line of `go list` output.
type listedPackage struct {
	path     string
	standard bool
	imports  []string
}

// The policy fails closed: every way it could find nothing to check (no go
// command, no module, a renamed module, a package pattern that matches
// nothing, output it cannot read) is a test failure, never a skip, so the
// test cannot switch itself off and pass. The module path is asked of
// `go list -m`, not written here, so a rename moves the policy with it.

// goCmd runs the go command at the module root and returns its output.
func goCmd(t *testing.T, args ...string) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		// go test puts its own GOROOT/bin first on the PATH of the test,
		// so this is a broken toolchain, not a missing optional tool.
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := strings.TrimSpace(string(gomod))
	if root == "" || root == "/dev/null" || root == "NUL" {
		t.Fatalf("go env GOMOD = %q: not in a module", root)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Dir(root)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// modulePath is this module's path, from go.mod.
func modulePath(t *testing.T) string {
	t.Helper()
	mod := strings.TrimSpace(goCmd(t, "list", "-m", "-f", "{{.Path}}"))
	if mod == "" || strings.ContainsAny(mod, " \n") {
		t.Fatalf("go list -m = %q, want one module path", mod)
	}
	return mod
}

// goList runs `go list` at the module root. With deps it lists every
// package the patterns need, standard library included. A line it cannot
// read fails the test.
func goList(t *testing.T, deps bool, patterns ...string) []listedPackage {
	t.Helper()
	args := []string{"list", "-e", "-f", "{{.ImportPath}}\t{{.Standard}}\t{{join .Imports \" \"}}"}
	if deps {
		args = append(args, "-deps")
	}
	var pkgs []listedPackage
	for _, line := range strings.Split(strings.TrimSpace(goCmd(t, append(args, patterns...)...)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[0] == "" {
			t.Fatalf("go list: cannot read line %q", line)
		}
		pkgs = append(pkgs, listedPackage{path: f[0], standard: f[1] == "true", imports: strings.Fields(f[2])})
	}
	return pkgs
}

func hasPrefixPath(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func matchesAny(path string, prefixes []string) bool {
	for _, p := range prefixes {
		if hasPrefixPath(path, p) {
			return true
		}
	}
	return false
}

// fataler is the part of testing.TB that own needs, so that its failure
// can itself be tested.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

// own returns the packages of module under dir, and fails if there are
// none: a policy over no packages holds nothing.
func own(t fataler, pkgs []listedPackage, module, dir string) []listedPackage {
	t.Helper()
	var out []listedPackage
	for _, p := range pkgs {
		if hasPrefixPath(p.path, module+"/"+dir) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Fatalf("go list found no packages of %s under %s/: the policy would check nothing", module, dir)
	}
	return out
}

func TestImportPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	module := modulePath(t)

	t.Run("e2e", func(t *testing.T) {
		// Bytes in, bytes out: no files, network, logging or contexts, so
		// the package is tested with bytes alone and can leak nothing
		// through a side channel of its own making.
		forbidden := []string{"os", "net", "log", "context", "syscall", "io/ioutil", "unsafe"}
		// Transitively only the standard library and x/crypto (x/sys comes
		// in through x/crypto's CPU feature detection).
		allowed := []string{module + "/e2e", "golang.org/x/crypto", "golang.org/x/sys"}
		for _, p := range own(t, goList(t, false, "./e2e/..."), module, "e2e") {
			for _, imp := range p.imports {
				if matchesAny(imp, forbidden) {
					t.Errorf("%s imports %s", p.path, imp)
				}
			}
		}
		for _, p := range goList(t, true, "./e2e/...") {
			if !p.standard && !matchesAny(p.path, allowed) {
				t.Errorf("e2e depends on %s; only the standard library and golang.org/x/crypto are allowed", p.path)
			}
		}
	})

	t.Run("p2p", func(t *testing.T) {
		all := goList(t, true, "./p2p/...")
		mine := own(t, all, module, "p2p")
		// No UI anywhere below p2p, not even through a dependency: the node
		// must run headless and under test.
		ui := []string{"charm.land", "github.com/charmbracelet", module + "/cmd"}
		for _, p := range all {
			if matchesAny(p.path, ui) {
				t.Errorf("p2p depends on %s", p.path)
			}
		}
		// Flags belong to the command. Dependencies (zap, cpuid) import
		// "flag" for their own reasons, so only p2p's own packages are held
		// to it.
		for _, p := range mine {
			for _, imp := range p.imports {
				if imp == "flag" {
					t.Errorf("%s imports flag", p.path)
				}
			}
		}
	})

	t.Run("cmd", func(t *testing.T) {
		pkgs := own(t, goList(t, false, "./cmd/..."), module, "cmd")
		// The command goes through p2p for every stream, so the framing,
		// deadlines and the end-to-end layer cannot be bypassed.
		forbidden := []string{"github.com/libp2p/go-libp2p/core/network"}
		for _, p := range pkgs {
			for _, imp := range p.imports {
				if matchesAny(imp, forbidden) {
					t.Errorf("%s imports %s directly; go through p2p", p.path, imp)
				}
			}
		}
	})
}

// fatalRecorder records a Fatalf instead of ending the test.
type fatalRecorder struct{ msg string }

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
}

// TestImportPolicyFailsClosed: the policy over a renamed module, or a
// pattern that matched nothing, fails instead of checking nothing.
func TestImportPolicyFailsClosed(t *testing.T) {
	pkgs := []listedPackage{{path: "example.com/old/e2e"}, {path: "example.com/old/p2p/store"}}
	for name, tc := range map[string]struct {
		pkgs        []listedPackage
		module, dir string
	}{
		"renamed module":  {pkgs, "example.com/new", "e2e"},
		"no packages":     {nil, "example.com/old", "p2p"},
		"no such dir":     {pkgs, "example.com/old", "cmd"},
		"prefix, not dir": {[]listedPackage{{path: "example.com/old/e2extra"}}, "example.com/old", "e2e"},
	} {
		var r fatalRecorder
		own(&r, tc.pkgs, tc.module, tc.dir)
		if r.msg == "" {
			t.Errorf("%s: own found nothing and did not fail", name)
		}
	}
	var r fatalRecorder
	if got := own(&r, pkgs, "example.com/old", "p2p"); len(got) != 1 || r.msg != "" {
		t.Errorf("matching packages: got %v, failure %q", got, r.msg)
	}
}
