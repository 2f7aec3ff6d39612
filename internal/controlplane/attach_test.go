package controlplane

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	_ "github.com/tollgate-dev/tollgate/internal/policy/builtin"
)

// attachDir holds specs/a.yaml, specs/b.json and v2.yaml.
func attachDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "specs", "a.yaml"), "openapi: 3.0.3\ninfo: {title: a}\n")
	write(t, filepath.Join(dir, "specs", "b.json"), `{"openapi": "3.1.0"}`)
	write(t, filepath.Join(dir, "v2.yaml"), "openapi: 3.0.3 # v2\n")
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func attached(t *testing.T, doc []byte) map[string]string {
	t.Helper()
	root, err := topMapping(doc)
	if err != nil {
		t.Fatal(err)
	}
	m, _, ok := attachmentsOf(root)
	if !ok {
		t.Fatalf("attachments are not a mapping of strings:\n%s", doc)
	}
	return m
}

// service "missing" is an error on line 8, which must stay line 8.
const attachDoc = `services:
  - name: s
    targets: ["http://127.0.0.1:1"]
routes:
  - name: r
    openapi: specs/a.yaml
    match: { paths: [/pets] }
    service: missing
    policies:
      validate_request: { spec: specs/b.json }
    versions:
      from: header
      header: X-V
      list:
        "2": { policies: { mock: { spec: v2.yaml } } }
`

func TestAttachFindsEveryNamedFileAndKeepsLines(t *testing.T) {
	dir := attachDir(t)
	out, err := Attach([]byte(attachDoc), dir, "cfg.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"specs/a.yaml": "openapi: 3.0.3\ninfo: {title: a}\n",
		"specs/b.json": `{"openapi": "3.1.0"}`,
		"v2.yaml":      "openapi: 3.0.3 # v2\n",
	}
	if got := attached(t, out); !equal(got, want) {
		t.Fatalf("attachments = %q\nwant %q", got, want)
	}
	if !strings.HasPrefix(string(out), attachDoc) {
		t.Fatalf("the document's own text changed:\n%s", out)
	}
	_, err = config.Parse(out, "cfg.yaml")
	var list config.ErrorList
	if !errors.As(err, &list) || len(list) != 1 || list[0].Line != 8 || !strings.Contains(list[0].Msg, "missing") {
		t.Fatalf("errors after attaching must keep the file's lines: %v", err)
	}
	again, err := Attach(out, dir, "cfg.yaml")
	if err != nil || string(again) != string(out) {
		t.Fatalf("attaching twice changed the document (%v):\n%s", err, again)
	}
}

func TestAttachReplacesAnExistingKey(t *testing.T) {
	dir := attachDir(t)
	for _, tc := range []struct{ name, doc string }{
		{"last", attachDoc + "attachments:\n  specs/a.yaml: old\n  v2.yaml: old v2\n  gone.yaml: not named any more\n"},
		{"first", "attachments: {specs/a.yaml: old, v2.yaml: old v2, gone.yaml: x}\n" + attachDoc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Remove(filepath.Join(dir, "v2.yaml")); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
			out, err := Attach([]byte(tc.doc), dir, "cfg.yaml")
			if err != nil {
				t.Fatal(err)
			}
			got := attached(t, out)
			want := map[string]string{
				"specs/a.yaml": "openapi: 3.0.3\ninfo: {title: a}\n", // on disk: replaced
				"specs/b.json": `{"openapi": "3.1.0"}`,               // on disk: added
				"v2.yaml":      "old v2",                             // not on disk: kept
			}
			if !equal(got, want) {
				t.Fatalf("attachments = %q\nwant %q", got, want)
			}
			if strings.Count(string(out), "attachments:") != 1 {
				t.Fatalf("two attachments keys:\n%s", out)
			}
			_, err = config.Parse(out, "cfg.yaml")
			var list config.ErrorList
			wantLine := 8 + strings.Count(tc.doc[:strings.Index(tc.doc, "services:")], "\n")
			if !errors.As(err, &list) || len(list) != 1 || list[0].Line != wantLine {
				t.Fatalf("want one error on line %d: %v", wantLine, err)
			}
		})
	}
}

func TestAttachLeavesMissingFilesToCompilation(t *testing.T) {
	doc := "routes:\n  - name: r\n    openapi: nowhere.yaml\n"
	out, err := Attach([]byte(doc), t.TempDir(), "cfg.yaml")
	if err != nil || string(out) != doc {
		t.Fatalf("a document naming only missing files must be unchanged: %v\n%s", err, out)
	}
}

func TestAttachRefusesHugeFiles(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "big.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxAttachment + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Attach([]byte("routes:\n  - name: r\n    openapi: big.yaml\n"), dir, "cfg.yaml")
	var list config.ErrorList
	if !errors.As(err, &list) || list[0].Line != 3 || list[0].File != "cfg.yaml" || !strings.Contains(list[0].Msg, "larger than 20 MiB") {
		t.Fatalf("err = %v", err)
	}
}

func TestAttachFlowStyleAndAbsolutePaths(t *testing.T) {
	dir := attachDir(t)
	abs := filepath.Join(dir, "specs", "a.yaml")
	doc := `{"routes": [{"name": "r", "openapi": "` + abs + `", "policies": {"mock": {"spec": "specs/b.json"}}}], "attachments": {"x": "y"}}`
	out, err := Attach([]byte(doc), dir, "cfg.json")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{abs: "openapi: 3.0.3\ninfo: {title: a}\n", "specs/b.json": `{"openapi": "3.1.0"}`}
	if got := attached(t, out); !equal(got, want) {
		t.Fatalf("attachments = %q\nwant %q\n%s", got, want, out)
	}
	if _, err := config.Parse(out, "cfg.json"); err != nil {
		t.Fatalf("re-encoded document: %v\n%s", err, out)
	}
}

func TestAttachUnusualEndings(t *testing.T) {
	dir := attachDir(t)
	for name, doc := range map[string]string{
		"no final newline": "routes:\n  - name: r\n    openapi: v2.yaml # comment",
		"end marker":       "routes:\n  - name: r\n    openapi: v2.yaml\n...\n",
		"indented":         "  routes:\n    - name: r\n      openapi: v2.yaml\n",
	} {
		out, err := Attach([]byte(doc), dir, "cfg.yaml")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := attached(t, out); got["v2.yaml"] != "openapi: 3.0.3 # v2\n" {
			t.Errorf("%s: attachments = %q\n%s", name, got, out)
		}
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The node's file is attached at boot and reload (names relative to the
// file), a spec-only edit is a new revision, and a rollback brings back the
// revision's spec, not the one on disk.
func TestManagerAttachesTheNodeFile(t *testing.T) {
	m, rec, _ := newSQLiteManager(t)
	ctx := context.Background()
	dir := attachDir(t)
	path := filepath.Join(dir, "gw.yaml")
	file := append([]byte("listen: { proxy: \":1\" }\n"), strings.Replace(string(docFor("r")), "    service: orders\n", "    service: orders\n    openapi: v2.yaml\n", 1)...)
	if err := m.Boot(ctx, file, path); err != nil {
		t.Fatal(err)
	}
	if got := rec.applied[0].Attachments["v2.yaml"]; got != "openapi: 3.0.3 # v2\n" {
		t.Fatalf("booted config attachments = %q", rec.applied[0].Attachments)
	}
	if _, changed, err := m.ApplyFile(ctx, file, path); err != nil || changed {
		t.Fatalf("reload of an unchanged file and spec: changed=%v %v", changed, err)
	}
	write(t, filepath.Join(dir, "v2.yaml"), "openapi: 3.1.0 # edited\n")
	rev, changed, err := m.ApplyFile(ctx, file, path)
	if err != nil || !changed || rev != 2 {
		t.Fatalf("reload after a spec edit = %d %v %v, want revision 2", rev, changed, err)
	}
	if _, err := m.Rollback(ctx, 1, "carol"); err != nil {
		t.Fatal(err)
	}
	if got := m.Config().Attachments["v2.yaml"]; got != "openapi: 3.0.3 # v2\n" {
		t.Fatalf("after rollback the spec is %q, want revision 1's", got)
	}
	// AttachFiles (PUT /config) reads the files this node has under its
	// config directory, and nothing outside it.
	// Only OpenAPI documents are attached that way.
	m.node.Source = path
	withSpec := func(name string) []byte {
		return []byte(strings.Replace(string(docFor("r")), "    service: orders\n", "    service: orders\n    openapi: "+name+"\n", 1))
	}
	write(t, filepath.Join(dir, "api.yaml"), "openapi: 3.1.0 # api\ninfo: { title: t, version: \"1\" }\npaths: { /r: { get: { responses: { \"200\": { description: ok } } } } }\n")
	out, err := m.AttachFiles(withSpec("api.yaml"), "admin")
	if err != nil || !strings.Contains(string(out), "# api") {
		t.Fatalf("AttachFiles = %v\n%s", err, out)
	}
	write(t, filepath.Join(dir, "tls.key"), "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
	if _, err := m.AttachFiles(withSpec("tls.key"), "admin"); err == nil || !strings.Contains(err.Error(), "not an OpenAPI 3.x document") {
		t.Errorf("AttachFiles(tls.key) = %v, want a refusal", err)
	}
	for _, outside := range []string{filepath.Join(dir, "api.yaml"), "../api.yaml", "/etc/passwd"} {
		if _, err := m.AttachFiles(withSpec(outside), "admin"); err == nil || !strings.Contains(err.Error(), "outside the gateway's config directory") {
			t.Errorf("AttachFiles(%q) = %v, want a refusal", outside, err)
		}
	}
}
