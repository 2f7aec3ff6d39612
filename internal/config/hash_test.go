package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHashIgnoresFormatting(t *testing.T) {
	a := mustParse(t, `# comment
services: [{name: orders, targets: ["http://127.0.0.1:9001"]}]
routes:
  - name: r   # trailing comment
    service: orders
    policies:
      rate_limit: {limit: 5, window: 1s}   # comment inside a raw node
      key_auth: {}
`)
	b := mustParse(t, `{"services": [{"name": "orders", "targets": ["http://127.0.0.1:9001"]}],
 "routes": [{"name": "r", "service": "orders", "policies": {
   "key_auth": {}, "rate_limit": {"window": "1s", "limit": 5}}}]}`)
	if a.Hash() != b.Hash() {
		t.Fatalf("same config, different hashes:\n%s\n%s", a.canonical(), b.canonical())
	}
	if len(a.Hash()) != 64 {
		t.Fatalf("hash %q is not hex sha256", a.Hash())
	}
}

func TestHashSeesChanges(t *testing.T) {
	doc := "admin: {token: t1}\nservices: [{name: o, targets: [\"http://a:1\"]}]\nroutes: [{name: r, service: o, policies: {rate_limit: {limit: 5, window: 1s}}}]\n"
	h := mustParse(t, doc).Hash()
	for _, change := range [][2]string{{"t1", "t2"}, {"limit: 5", "limit: 6"}, {"a:1", "a:2"}, {"name: r", "name: q"}} {
		if mustParse(t, strings.Replace(doc, change[0], change[1], 1)).Hash() == h {
			t.Errorf("changing %q to %q kept the hash", change[0], change[1])
		}
	}
	if mustParse(t, doc).Hash() != h {
		t.Error("hash not stable across parses")
	}
}

func TestHashOfHandBuiltConfig(t *testing.T) {
	c := &Config{}
	c.Defaults()
	if c.Hash() == "" || c.Hash() != c.Hash() {
		t.Fatal("unstable")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(p, []byte(""), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if l.Hash() != c.Hash() {
		t.Fatal("an empty file should hash like the defaults")
	}
}
