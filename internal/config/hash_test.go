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

// Attached files are part of the document: a changed spec is a new revision,
// the same spec is not, and no attachments hash as before the key existed.
func TestHashCoversAttachments(t *testing.T) {
	base := "services: [{name: o, targets: [\"http://a:1\"]}]\nroutes: [{name: r, service: o, openapi: specs/p.yaml}]\n"
	with := func(content string) string {
		return base + "attachments:\n  specs/p.yaml: " + content + "\n"
	}
	h1 := mustParse(t, with("'openapi: 3.0.3'")).Hash()
	if h1 == mustParse(t, with("'openapi: 3.1.0'")).Hash() {
		t.Error("changing an attachment kept the hash")
	}
	if h1 != mustParse(t, with("'openapi: 3.0.3'")).Hash() {
		t.Error("identical attachments hash differently")
	}
	if h1 == mustParse(t, base).Hash() {
		t.Error("adding attachments kept the hash")
	}
	if strings.Contains(string(mustParse(t, base).canonical()), "attachments") {
		t.Error("a document without attachments must hash as it did before the key existed")
	}
}
