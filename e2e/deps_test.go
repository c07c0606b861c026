package e2e

import (
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

// goList runs `go list` at the module root. With deps it lists every
// package the patterns need, standard library included.
func goList(t *testing.T, deps bool, patterns ...string) []listedPackage {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	args := []string{"list", "-e", "-f", "{{.ImportPath}}\t{{.Standard}}\t{{join .Imports \" \"}}"}
	if deps {
		args = append(args, "-deps")
	}
	cmd := exec.Command("go", append(args, patterns...)...)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v", strings.Join(cmd.Args[1:], " "), err)
	}
	var pkgs []listedPackage
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		pkgs = append(pkgs, listedPackage{path: f[0], standard: f[1] == "true", imports: strings.Fields(f[2])})
	}
	return pkgs
}

const module = "github.com/securechat/securechat"

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

// own returns the packages of this module under dir.
func own(pkgs []listedPackage, dir string) []listedPackage {
	var out []listedPackage
	for _, p := range pkgs {
		if hasPrefixPath(p.path, module+"/"+dir) {
			out = append(out, p)
		}
	}
	return out
}

func TestImportPolicy(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not on PATH")
	}
	if testing.Short() {
		t.Skip("runs go list over the module")
	}

	t.Run("e2e", func(t *testing.T) {
		// Bytes in, bytes out: no files, network, logging or contexts, so
		// the package is tested with bytes alone and can leak nothing
		// through a side channel of its own making.
		forbidden := []string{"os", "net", "log", "context", "syscall", "io/ioutil", "unsafe"}
		// Transitively only the standard library and x/crypto (x/sys comes
		// in through x/crypto's CPU feature detection).
		allowed := []string{module + "/e2e", "golang.org/x/crypto", "golang.org/x/sys"}
		direct := own(goList(t, false, "./e2e/..."), "e2e")
		if len(direct) == 0 {
			t.Fatal("go list found no e2e packages")
		}
		for _, p := range direct {
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
		if len(own(all, "p2p")) == 0 {
			t.Skip("no p2p packages yet")
		}
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
		for _, p := range own(all, "p2p") {
			for _, imp := range p.imports {
				if imp == "flag" {
					t.Errorf("%s imports flag", p.path)
				}
			}
		}
	})

	t.Run("cmd", func(t *testing.T) {
		pkgs := own(goList(t, false, "./cmd/..."), "cmd")
		if len(pkgs) == 0 {
			t.Skip("no cmd packages yet")
		}
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
