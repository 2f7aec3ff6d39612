package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 7: apply then diff of the same file prints no differences (exit 0);
// a changed file shows exactly the changed fields (exit 1); a stale
// If-Match gets 412; a missing or wrong token gets 401.
func TestApplyDiffAgainstARealNode(t *testing.T) {
	up := upstream(t)
	n := startNode(t, "gitops", "store: \"sqlite://"+filepath.Join(t.TempDir(), "db")+"\"",
		fmt.Sprintf("services:\n  - name: s\n    targets: [%q]\nroutes:\n  - name: r\n    service: s\n    match: { paths: [\"/r\"] }\n", up))
	dir := t.TempDir()
	doc := fmt.Sprintf(`services:
  - name: s
    targets: [%q]
routes:
  - name: r
    service: s
    match: { paths: ["/r"] }
  - name: orders
    service: s
    match: { paths: ["/orders"] }
    policies:
      request_size_limit: { max_bytes: 1000 }
`, up)
	file := filepath.Join(dir, "gitops.yaml")
	_ = os.WriteFile(file, []byte(doc), 0o600)
	tg := func(args ...string) (string, int) {
		cmd := exec.Command(binary, append(args, "--admin", n.admin)...)
		cmd.Env = append(os.Environ(), "TOLLGATE_ADMIN_TOKEN="+token, "NO_COLOR=1")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := tg("apply", "-f", file); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	if out, code := tg("diff", "-f", file); code != 0 {
		t.Fatalf("diff after apply: exit %d, want 0\n%s", code, out)
	}
	changed := strings.Replace(doc, "max_bytes: 1000", "max_bytes: 2000", 1)
	_ = os.WriteFile(file, []byte(changed), 0o600)
	out, code := tg("diff", "-f", file)
	if code != 1 {
		t.Fatalf("diff of a changed file: exit %d, want 1\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "max_bytes") || !strings.Contains(lines[0], "1000") || !strings.Contains(lines[0], "2000") {
		t.Fatalf("diff should show exactly the changed field:\n%s", out)
	}

	var before struct{}
	if c := n.call("PUT", "/config", changed, &before, "If-Match", `"stale-etag"`); c != 412 {
		t.Fatalf("PUT with a stale If-Match: %d, want 412", c)
	}
	for _, tok := range []string{"", "wrong"} {
		cmd := exec.Command(binary, "consumers", "list", "--admin", n.admin, "--token", tok)
		cmd.Env = append(os.Environ(), "TOLLGATE_ADMIN_TOKEN=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "401") {
			t.Fatalf("token %q: %v\n%s", tok, err, out)
		}
	}
}

// Issue 5: `tollgate import openapi` names the spec as the user wrote it;
// applying that fragment from the user's directory sends the spec along, so
// a gateway that never saw the file serves it, and diff sees no change.
func TestImportThenApplyCarriesTheSpec(t *testing.T) {
	up := upstream(t)
	n := startNode(t, "imported", "store: \"sqlite://"+filepath.Join(t.TempDir(), "db")+"\"",
		fmt.Sprintf("services:\n  - name: s\n    targets: [%q]\nroutes:\n  - name: r\n    service: s\n    match: { paths: [\"/r\"] }\n", up))
	dir := t.TempDir()
	spec, err := os.ReadFile(filepath.Join("..", "openapi", "testdata", "petstore-expanded.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "petstore.yaml"), spec, 0o600)
	tg := func(args ...string) (string, int) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TOLLGATE_ADMIN_TOKEN="+token, "NO_COLOR=1")
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out) + string(ee.Stderr), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	frag, code := tg("import", "openapi", "petstore.yaml", "--upstream", up)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s", code, frag)
	}
	file := filepath.Join(dir, "api.yaml")
	_ = os.WriteFile(file, []byte(frag), 0o600)
	if out, code := tg("apply", "-f", file, "--admin", n.admin); code != 0 {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	req, _ := http.NewRequest(http.MethodGet, n.admin+"/routes/addPet/openapi", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(got) != string(spec) {
		t.Fatalf("GET /routes/addPet/openapi: %d, %d bytes; want the imported spec (%d bytes)", resp.StatusCode, len(got), len(spec))
	}
	if out, code := tg("diff", "-f", file, "--admin", n.admin); code != 0 {
		t.Fatalf("diff after apply: exit %d\n%s", code, out)
	}
}
