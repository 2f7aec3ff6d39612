package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Issue 5: importing a real OpenAPI document yields a config that
// `tollgate validate` accepts and that routes every operation.
func TestImportedOpenAPIValidatesAndRoutesEveryOperation(t *testing.T) {
	for _, spec := range []string{"petstore-expanded.yaml", "bookshop-3.1.yaml"} {
		t.Run(spec, func(t *testing.T) {
			path, _ := filepath.Abs(filepath.Join("..", "openapi", "testdata", spec))
			up := upstream(t)
			out, err := exec.Command(binary, "import", "openapi", path, "--upstream", up).Output()
			if err != nil {
				t.Fatalf("import: %v", err)
			}
			var frag struct {
				Routes []struct {
					Name  string
					Match struct{ Paths, Methods []string }
				}
			}
			if err := yaml.Unmarshal(out, &frag); err != nil || len(frag.Routes) == 0 {
				t.Fatalf("import output: %v\n%s", err, out)
			}
			file := filepath.Join(t.TempDir(), "imported.yaml")
			if err := os.WriteFile(file, out, 0o600); err != nil {
				t.Fatal(err)
			}
			if msg, err := exec.Command(binary, "validate", "-c", file).CombinedOutput(); err != nil {
				t.Fatalf("tollgate validate refused the imported config: %v\n%s", err, msg)
			}
			n := startNode(t, "imported", "store: \"sqlite://"+filepath.Join(t.TempDir(), "db")+"\"", string(out))
			for _, r := range frag.Routes {
				p := strings.NewReplacer("{", "", "}", "").Replace(r.Match.Paths[0])
				p = strings.ReplaceAll(p, "...", "")
				req, _ := http.NewRequest(r.Match.Methods[0], n.proxy+p, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("operation %s (%s %s): status %d", r.Name, r.Match.Methods[0], p, resp.StatusCode)
				}
			}
		})
	}
}
