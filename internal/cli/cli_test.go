package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const baseFile = `# the gateway's file, node settings included
listen: { proxy: ":8080" }
admin: { token: "${TOLLGATE_ADMIN_TOKEN}" }
services:
  - name: orders
    targets: ["http://127.0.0.1:9001"]
  - name: old
    targets: ["http://127.0.0.1:9002"]
routes:
  - name: orders
    service: orders
    match: { paths: ["/v1/orders"] }
plans:
  - name: free
    rate_limit: { limit: 100, window: 1s }
    quota: { limit: 10000, period: month }
    price: { currency: USD, monthly: 0, per_1000_requests: 0 }
`

// changedFile differs from baseFile in exactly three ways (plus node
// settings and formatting, which must not show).
const changedFile = `listen: { proxy: ":9090" }
plans:
  - name: free
    rate_limit: { limit: 200, window: 1s }
    quota: { limit: 10000, period: month }
    price: { currency: USD, monthly: 0, per_1000_requests: 0 }
services:
  - name: orders
    targets: ["http://127.0.0.1:9001"]
routes:
  - name: orders
    service: orders
    match: { paths: ["/v1/orders"] }
  - name: new
    service: orders
    match: { paths: ["/v1/new"] }
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestApplyThenDiff(t *testing.T) {
	s := newStub(t)
	base := writeFile(t, "base.yaml", baseFile)

	out, errOut, err := run(t, s.srv.URL, "apply", "-f", base)
	if err != nil || !strings.Contains(out, "applied: revision 1") {
		t.Fatalf("apply = %q %q %v", out, errOut, err)
	}
	if !strings.Contains(errOut, "node settings") {
		t.Errorf("apply did not say node settings are left out: %q", errOut)
	}
	if _, _, doc := s.m.Current(); strings.Contains(string(doc), "listen") || strings.Contains(string(doc), "TOLLGATE_ADMIN_TOKEN") {
		t.Fatalf("stored document carries node settings:\n%s", doc)
	}

	out, _, err = run(t, s.srv.URL, "diff", "-f", base)
	if err != nil || exitCode(err) != 0 || strings.TrimSpace(out) != "no differences" {
		t.Fatalf("diff of the applied file = %q, %v (exit %d); want no differences, exit 0", out, err, exitCode(err))
	}

	changed := writeFile(t, "changed.yaml", changedFile)
	out, _, err = run(t, s.srv.URL, "diff", "-f", changed)
	if exitCode(err) != 1 {
		t.Fatalf("diff of a changed file: exit %d (%v), want 1", exitCode(err), err)
	}
	want := []string{
		"~ plans[free].rate_limit.limit: 100 -> 200",
		"+ routes[new]",
		"- services[old]",
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("diff printed:\n%s\nwant exactly:\n%s", out, strings.Join(want, "\n"))
	}
	if strings.Contains(out, "\x1b[") {
		t.Fatalf("diff coloured output that is not a terminal")
	}

	// Applying the same file again makes no revision; the changed one does.
	out, _, err = run(t, s.srv.URL, "apply", "-f", base)
	if err != nil || !strings.Contains(out, "unchanged: revision 1") {
		t.Fatalf("re-apply = %q %v", out, err)
	}
	out, _, err = run(t, s.srv.URL, "apply", "-f", changed, "-o", "json")
	var res struct {
		Revision int64 `json:"revision"`
		Changed  bool  `json:"changed"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res.Revision != 2 || !res.Changed {
		t.Fatalf("apply -o json = %q %v", out, err)
	}
	// Every PUT after the first carried the ETag the CLI had just read.
	for i, im := range s.puts[1:] {
		if !strings.HasPrefix(im, `"`) || len(im) < 10 {
			t.Errorf("PUT %d sent If-Match %q, want the current ETag", i, im)
		}
	}
}

func TestDiffJSON(t *testing.T) {
	s := newStub(t)
	run(t, s.srv.URL, "apply", "-f", writeFile(t, "a.yaml", baseFile))
	out, _, err := run(t, s.srv.URL, "diff", "-f", writeFile(t, "b.yaml", changedFile), "-o", "json")
	var got struct {
		Equal   bool     `json:"equal"`
		Changes []Change `json:"changes"`
	}
	if exitCode(err) != 1 || json.Unmarshal([]byte(out), &got) != nil || got.Equal || len(got.Changes) != 3 {
		t.Fatalf("diff -o json = %q, exit %d", out, exitCode(err))
	}
}

func TestTroubleExitCodes(t *testing.T) {
	s := newStub(t)
	file := writeFile(t, "f.yaml", baseFile)
	dead := "http://127.0.0.1:1" // nothing listens on port 1
	tests := []struct {
		name  string
		admin string
		args  []string
		code  int
		say   string
	}{
		{"diff unreachable", dead, []string{"diff", "-f", file}, 2, "cannot reach the admin API"},
		{"apply unreachable", dead, []string{"apply", "-f", file}, 2, "cannot reach the admin API"},
		{"consumers unreachable", dead, []string{"consumers", "list"}, 2, "cannot reach"},
		{"diff missing file", s.srv.URL, []string{"diff", "-f", "/nonexistent.yaml"}, 2, "no such file"},
		{"apply missing file", s.srv.URL, []string{"apply", "-f", "/nonexistent.yaml"}, 1, "no such file"},
		{"apply node-only file", s.srv.URL, []string{"apply", "-f", writeFile(t, "n.yaml", "listen: {proxy: \":1\"}\n")}, 1, "no document part"},
		{"admin without scheme", strings.TrimPrefix(s.srv.URL, "http://"), []string{"consumers", "get", "nobody"}, 1, "404"},
		{"bad output", s.srv.URL, []string{"plans", "list", "-o", "xml"}, 1, "unknown output format"},
		{"not found", s.srv.URL, []string{"consumers", "get", "nobody"}, 1, "404"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := run(t, tc.admin, tc.args...)
			if got := exitCode(err); got != tc.code || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("exit %d, err %v; want exit %d mentioning %q", got, err, tc.code, tc.say)
			}
		})
	}
}

func TestWrongTokenIsUserError(t *testing.T) {
	s := newStub(t)
	root := Commands()[4] // plans
	root.SetArgs([]string{"list", "--admin", s.srv.URL, "--token", "wrong"})
	root.SetOut(&strings.Builder{})
	err := root.Execute()
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong token: exit %d, %v", exitCode(err), err)
	}
}

func TestApplyShowsConfigErrorsWithFileLines(t *testing.T) {
	s := newStub(t)
	bad := strings.Replace(baseFile, "    service: orders\n", "    service: missing\n", 1)
	file := writeFile(t, "bad.yaml", bad)
	_, _, err := run(t, s.srv.URL, "apply", "-f", file)
	// The route's service line is line 11 of the file, node settings and all.
	if exitCode(err) != 1 || !strings.Contains(err.Error(), file+":11: routes[0].service") {
		t.Fatalf("apply of a bad file: exit %d, %v", exitCode(err), err)
	}
}

func TestEnvironmentDefaults(t *testing.T) {
	s := newStub(t)
	t.Setenv(EnvAdmin, s.srv.URL)
	t.Setenv(EnvToken, stubToken)
	cmd := plansCmd()
	cmd.SetArgs([]string{"list"})
	var out strings.Builder
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("plans list with $%s/$%s: %v", EnvAdmin, EnvToken, err)
	}
	if !strings.HasPrefix(out.String(), "NAME") {
		t.Fatalf("plans list = %q", out.String())
	}
}

func TestConsumersAndKeys(t *testing.T) {
	s := newStub(t)
	u := s.srv.URL
	out, _, err := run(t, u, "consumers", "create", "acme", "--plan", "free", "--group", "a,b", "--meta", "team=x")
	if err != nil || !strings.Contains(out, "acme") || !strings.Contains(out, "team=x") {
		t.Fatalf("create = %q %v", out, err)
	}
	out, _, err = run(t, u, "consumers", "update", "acme", "--plan", "pro")
	if err != nil || !strings.Contains(out, "pro") {
		t.Fatalf("update = %q %v", out, err)
	}
	out, _, err = run(t, u, "consumers", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "pro") || !strings.Contains(lines[1], "a,b") {
		t.Fatalf("list = %q %v", out, err)
	}
	out, _, err = run(t, u, "consumers", "get", "acme", "-o", "json")
	var c consumer
	if err != nil || json.Unmarshal([]byte(out), &c) != nil || c.Plan != "pro" || c.ID == "" {
		t.Fatalf("get -o json = %q %v", out, err)
	}
	if _, _, err := run(t, u, "consumers", "update", "acme"); exitCode(err) != 1 {
		t.Fatalf("update without flags: exit %d", exitCode(err))
	}

	out, errOut, err := run(t, u, "keys", "create", "acme", "--expires", "720h")
	if err != nil || !strings.Contains(out, "SECRET") || !strings.Contains(errOut, "not shown again") {
		t.Fatalf("keys create = %q %q %v", out, errOut, err)
	}
	keyID := strings.Fields(strings.Split(out, "\n")[1])[0]
	if out, _, err = run(t, u, "keys", "rotate", "acme", keyID, "--overlap", "24h"); err != nil || !strings.Contains(out, "SECRET") {
		t.Fatalf("keys rotate = %q %v", out, err)
	}
	if out, _, err = run(t, u, "keys", "revoke", "acme", keyID); err != nil || !strings.Contains(out, "revoked key "+keyID) {
		t.Fatalf("keys revoke = %q %v", out, err)
	}
	out, _, err = run(t, u, "keys", "list", "acme")
	if err != nil || !strings.Contains(out, "revoked") || strings.Contains(out, "SECRET") {
		t.Fatalf("keys list = %q %v", out, err)
	}
	if out, _, err = run(t, u, "consumers", "delete", "acme"); err != nil || !strings.Contains(out, "deleted consumer acme") {
		t.Fatalf("delete = %q %v", out, err)
	}
}

func TestConfigRevisionsShowRollback(t *testing.T) {
	s := newStub(t)
	u := s.srv.URL
	run(t, u, "apply", "-f", writeFile(t, "a.yaml", baseFile))
	run(t, u, "apply", "-f", writeFile(t, "b.yaml", changedFile))

	out, _, err := run(t, u, "config", "rollback", "1")
	if err != nil || !strings.Contains(out, "now revision 3") {
		t.Fatalf("rollback = %q %v", out, err)
	}
	out, _, err = run(t, u, "config", "revisions")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err != nil || len(lines) != 4 || !strings.HasPrefix(lines[1], "3*") || !strings.Contains(lines[1], "rollback:1") {
		t.Fatalf("revisions = %q %v", out, err)
	}
	out, _, err = run(t, u, "config", "show", "2")
	if err != nil || !strings.Contains(out, "# revision 2") || !strings.Contains(out, "name: new") {
		t.Fatalf("show = %q %v", out, err)
	}
	if out, _, err = run(t, u, "diff", "-f", writeFile(t, "c.yaml", baseFile)); exitCode(err) != 0 {
		t.Fatalf("after rollback the base file should equal the live config: %q", out)
	}
	out, _, err = run(t, u, "plans", "list")
	if err != nil || !strings.Contains(out, "free") || !strings.Contains(out, "100/1s") {
		t.Fatalf("plans list = %q %v", out, err)
	}
	if _, _, err := run(t, u, "config", "show", "x"); exitCode(err) != 1 {
		t.Fatalf("show x: exit %d", exitCode(err))
	}
}

// A spec next to the file travels with apply; diff of the same file then
// sees nothing, and an edited spec is a change under attachments.
func TestApplyThenDiffWithSpec(t *testing.T) {
	s := newStub(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "gw.yaml")
	spec := filepath.Join(dir, "specs", "orders.yaml")
	if err := os.MkdirAll(filepath.Dir(spec), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(p, content string) {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(file, strings.Replace(baseFile, "    match: { paths: [\"/v1/orders\"] }\n",
		"    match: { paths: [\"/v1/orders\"] }\n    openapi: specs/orders.yaml\n    policies: { validate_request: { spec: specs/orders.yaml } }\n", 1))
	write(spec, "openapi: 3.0.3\ninfo: { title: orders, version: \"1\" }\n")

	if out, errOut, err := run(t, s.srv.URL, "apply", "-f", file); err != nil || !strings.Contains(out, "applied: revision 1") {
		t.Fatalf("apply = %q %q %v", out, errOut, err)
	}
	if _, _, doc := s.m.Current(); !strings.Contains(string(doc), "specs/orders.yaml: |\n        openapi: 3.0.3\n") {
		t.Fatalf("the stored revision does not carry the spec:\n%s", doc)
	}
	if out, _, err := run(t, s.srv.URL, "diff", "-f", file); exitCode(err) != 0 || strings.TrimSpace(out) != "no differences" {
		t.Fatalf("diff after apply = %q (exit %d)", out, exitCode(err))
	}
	write(spec, "openapi: 3.0.3\ninfo: { title: orders, version: \"2\" }\n")
	out, _, err := run(t, s.srv.URL, "diff", "-f", file)
	if exitCode(err) != 1 || !strings.Contains(out, "attachments") || !strings.Contains(out, "specs/orders.yaml") {
		t.Fatalf("diff after editing the spec = %q (exit %d), want a change under attachments", out, exitCode(err))
	}
	if got := strings.TrimSpace(out); got != `~ attachments."specs/orders.yaml": text changed from line 2 (53 -> 53 bytes)` {
		t.Errorf("only the attachment changed, diff printed:\n%s", out)
	}
	if out, _, err := run(t, s.srv.URL, "apply", "-f", file); err != nil || !strings.Contains(out, "applied: revision 2") {
		t.Fatalf("apply of an edited spec = %q %v, want a new revision", out, err)
	}
}
