package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// headlessDoc is the user-facing contract of the JSON Lines API.
const headlessDoc = "../../docs/HEADLESS.md"

// emittedNames reads the command's own source and returns every headless
// error code and event name it can print: the string results of errorCode,
// the code* constants, literal codes handed to a fail method, every literal
// given to a field named Event or as the first element of an unkeyed
// *Event struct literal, and every literal assigned to a variable named
// event. It reads the source rather than a
// hand-kept list, so a new code cannot be added without the docs test
// seeing it.
func emittedNames(t *testing.T) (codes, events []string) {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	add := func(list *[]string, lit ast.Expr) {
		if bl, ok := lit.(*ast.BasicLit); ok && bl.Kind == token.STRING {
			if s, err := strconv.Unquote(bl.Value); err == nil && s != "" && !slices.Contains(*list, s) {
				*list = append(*list, s)
			}
		}
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Name.Name == "errorCode" && n.Body != nil {
					ast.Inspect(n.Body, func(m ast.Node) bool {
						if r, ok := m.(*ast.ReturnStmt); ok && len(r.Results) == 1 {
							add(&codes, r.Results[0])
						}
						return true
					})
				}
			case *ast.ValueSpec:
				for i, id := range n.Names {
					if strings.HasPrefix(id.Name, "code") && i < len(n.Values) {
						add(&codes, n.Values[i])
					}
				}
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "fail" && len(n.Args) >= 2 {
					add(&codes, n.Args[1])
				}
			case *ast.KeyValueExpr:
				if id, ok := n.Key.(*ast.Ident); ok && id.Name == "Event" {
					add(&events, n.Value)
				}
			case *ast.CompositeLit:
				if id, ok := n.Type.(*ast.Ident); ok && strings.HasSuffix(id.Name, "Event") && len(n.Elts) > 0 {
					if _, keyed := n.Elts[0].(*ast.KeyValueExpr); !keyed {
						add(&events, n.Elts[0])
					}
				}
			case *ast.AssignStmt:
				for i, lhs := range n.Lhs {
					if id, ok := lhs.(*ast.Ident); ok && id.Name == "event" && i < len(n.Rhs) {
						add(&events, n.Rhs[i])
					}
				}
			}
			return true
		})
	}
	slices.Sort(codes)
	slices.Sort(events)
	return codes, events
}

// TestHeadlessDocComplete: docs/HEADLESS.md names every error code and
// every event the binary can print, each as `name` in backquotes.
func TestHeadlessDocComplete(t *testing.T) {
	doc, err := os.ReadFile(headlessDoc)
	if err != nil {
		t.Fatal(err)
	}
	codes, events := emittedNames(t)
	if len(codes) < 10 || len(events) < 10 {
		// The source reader found too little: the test must not pass
		// vacuously after a refactor.
		t.Fatalf("found only %d codes and %d events in the source: %v %v", len(codes), len(events), codes, events)
	}
	for _, c := range codes {
		if !strings.Contains(string(doc), "`"+c+"`") {
			t.Errorf("error code %q is not in %s", c, headlessDoc)
		}
	}
	for _, e := range events {
		if !strings.Contains(string(doc), "`"+e+"`") {
			t.Errorf("event %q is not in %s", e, headlessDoc)
		}
	}
}
