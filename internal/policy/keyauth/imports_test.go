package keyauth

import (
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// The policy reaches the credential cache only through its small interface:
// its code must not import the store or the cache package.
func TestNoStoreImports(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), e.Name(), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, "`\"")
			if strings.Contains(p, "/internal/store") || strings.Contains(p, "/internal/credentials") || strings.Contains(p, "/internal/runtime") || strings.Contains(p, "/internal/admin") {
				t.Errorf("%s imports %s", e.Name(), p)
			}
		}
	}
}
