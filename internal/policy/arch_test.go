package policy_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Policies are written against the policy contract only: they must not reach
// into the gateway's runtime, front ends, admin API or store internals, nor
// into an HTTP server library (they run unchanged on both front ends).
func TestPoliciesDependOnTheContractOnly(t *testing.T) {
	forbidden := []string{
		"github.com/tollgate-dev/tollgate/internal/runtime",
		"github.com/tollgate-dev/tollgate/internal/server",
		"github.com/tollgate-dev/tollgate/internal/admin",
		"github.com/tollgate-dev/tollgate/internal/app",
		"github.com/tollgate-dev/tollgate/internal/store",
		"github.com/tollgate-dev/tollgate/internal/credentials",
		"github.com/valyala/fasthttp",
	}
	files, err := filepath.Glob("*/*.go")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("*/*/*.go")
	files = append(files, more...)
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasPrefix(f, "policytest/") || strings.HasPrefix(f, "builtin/") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if path == bad || strings.HasPrefix(path, bad+"/") {
					t.Errorf("%s imports %s: policies may only use the policy contract", f, path)
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d policy files checked; is the test in the right folder?", checked)
	}
}
