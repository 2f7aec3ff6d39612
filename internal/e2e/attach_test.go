package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

// petSpec is an OpenAPI document whose mock answer and title name its version.
func petSpec(version string) string {
	return fmt.Sprintf(`openapi: 3.0.3
info: { title: pets, version: %q }
paths:
  /pets:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              example: [{ "name": "from-%s" }]
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: { type: object, required: [name], properties: { name: { type: string } } }
      responses:
        "200": { description: ok }
`, version, version)
}

// Issue 5: a revision carries the OpenAPI documents it names. Node B, whose
// disk has no spec, follows node A's revision and validates, mocks and
// serves GET /routes/{name}/openapi from it; a spec edited on A and reloaded
// is a new revision, and a rollback serves the old spec again.
func TestFollowerServesSpecsFromTheRevision(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	up := upstream(t)
	dirA := t.TempDir()
	spec := filepath.Join(dirA, "specs", "petstore.yaml")
	if err := os.MkdirAll(filepath.Dir(spec), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spec, []byte(petSpec("v1")), 0o600); err != nil {
		t.Fatal(err)
	}
	doc := fmt.Sprintf(`services:
  - name: s
    targets: [%q]
routes:
  - name: pets
    service: s
    match: { paths: ["/pets"] }
    openapi: specs/petstore.yaml
    policies:
      validate_request: { spec: specs/petstore.yaml }
  - name: mocked
    match: { paths: ["/mock/pets"] }
    policies:
      mock: { spec: specs/petstore.yaml, base_path: /mock }
`, up)
	a := startNodeIn(t, dirA, "a", "store: \""+dsn+"\"", doc)
	b := startNode(t, "b", "store: \""+dsn+"\"", "")
	first := revision(t, a)

	if code := post(t, b, "/pets", `{}`); code != 400 {
		t.Errorf("B: a pet without a name got %d, want 400 from validate_request", code)
	}
	if code := post(t, b, "/pets", `{"name": "rex"}`); code != 200 {
		t.Errorf("B: a valid pet got %d, want 200", code)
	}
	waitBody(t, b, "/mock/pets", "from-v1")
	if got := adminText(t, b, "/routes/pets/openapi"); got != petSpec("v1") {
		t.Errorf("B: GET /routes/pets/openapi = %q, want the spec's bytes", got)
	}

	// Edit the spec on A and reload: a new revision, followed by B.
	if err := os.WriteFile(spec, []byte(petSpec("v2")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitBody(t, b, "/mock/pets", "from-v2")
	if second := revision(t, a); second <= first {
		t.Fatalf("the edited spec made no new revision (%d, then %d)", first, second)
	}
	if got := adminText(t, b, "/routes/pets/openapi"); got != petSpec("v2") {
		t.Errorf("B after the edit: openapi = %q", got)
	}

	// Roll back: both nodes serve v1 again, though A's disk holds v2.
	if code := a.call("POST", fmt.Sprintf("/config/revisions/%d/rollback", first), nil, nil); code != 200 {
		t.Fatalf("rollback: %d", code)
	}
	waitBody(t, a, "/mock/pets", "from-v1")
	waitBody(t, b, "/mock/pets", "from-v1")
	if got := adminText(t, b, "/routes/pets/openapi"); got != petSpec("v1") {
		t.Errorf("B after the rollback: openapi = %q", got)
	}
}

func revision(t *testing.T, n *node) int64 {
	t.Helper()
	var st struct{ Config struct{ Revision int64 } }
	if code := n.call("GET", "/status", nil, &st); code != 200 {
		t.Fatalf("status on %s: %d", n.name, code)
	}
	return st.Config.Revision
}

func post(t *testing.T, n *node, path, body string) int {
	t.Helper()
	resp, err := http.Post(n.proxy+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// waitBody polls a proxy path until its body contains want (3 s at most).
func waitBody(t *testing.T, n *node, path, want string) {
	t.Helper()
	var last string
	for start := time.Now(); time.Since(start) < 3*time.Second; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(n.proxy + path)
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if last = fmt.Sprintf("%d %s", resp.StatusCode, b); strings.Contains(last, want) {
			return
		}
	}
	t.Fatalf("%s %s: last answer %q, want one containing %q", n.name, path, last, want)
}

func adminText(t *testing.T, n *node, path string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.admin+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s GET %s: %d %s", n.name, path, resp.StatusCode, b)
	}
	return string(b)
}
