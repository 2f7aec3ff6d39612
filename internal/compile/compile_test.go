package compile_test

import (
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/compile"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
	_ "github.com/tollgate-dev/tollgate/internal/policy/builtin"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

type dir map[string]*policy.Consumer

func (d dir) ConsumerByID(id string) (*policy.Consumer, bool)     { c, ok := d[id]; return c, ok }
func (d dir) ConsumerByName(name string) (*policy.Consumer, bool) { c, ok := d[name]; return c, ok }

func build(t *testing.T, doc string) (*config.Config, compile.Env) {
	t.Helper()
	cfg, err := config.Parse([]byte(doc), "test.yaml")
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	reg := upstream.NewRegistry(nil)
	t.Cleanup(reg.Close)
	pools, err := reg.Update(cfg.Services)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, compile.Env{Pools: pools, State: compile.NewState(), Services: map[string]any{"consumers": dir{}}}
}

const svc = "services:\n  - name: s\n    targets: [\"http://127.0.0.1:9\"]\n"

func TestChainRunsInPhaseOrderNotListOrder(t *testing.T) {
	cfg, env := build(t, svc+`
routes:
  - name: r
    service: s
    match: { paths: ["/"] }
    policies:
      acl: { allow: [staff] }
      request_size_limit: { max_bytes: 100 }
      anonymous: { consumer: guest }
      cors: { origins: ["https://app.example.com"] }
`)
	tbl, err := compile.Compile(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range tbl.Routes[0].Dump {
		got = append(got, e.Phase+":"+e.Policy)
	}
	want := "edge:cors edge:request_size_limit authenticate:auth authorize:acl upstream:proxy:s"
	if strings.Join(got, " ") != want {
		t.Fatalf("chain\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestAuthorizeWithoutAuthenticationIsRefused(t *testing.T) {
	cfg, env := build(t, svc+`
routes:
  - name: r
    service: s
    match: { paths: ["/"] }
    policies:
      acl: { allow: [staff] }
`)
	_, err := compile.Compile(cfg, env)
	if err == nil || !strings.Contains(err.Error(), "needs an authentication policy") {
		t.Fatalf("err = %v", err)
	}
	if fe, ok := err.(config.ErrorList); !ok || fe[0].Line == 0 {
		t.Fatalf("compile errors must carry the route's line: %#v", err)
	}
}

func TestStateSurvivesRecompile(t *testing.T) {
	st := compile.NewState()
	a := st.For("r")("bucket", func() any { return new(int) })
	b := st.For("r")("bucket", func() any { return new(int) })
	c := st.For("other")("bucket", func() any { return new(int) })
	if a != b || a == c {
		t.Fatal("state must be shared per route and key, separate across routes")
	}
}

// A spec the document carries is used by its exact name, even when no such
// file exists on this node: a follower builds from the revision, not its disk.
func TestPoliciesReadAttachedSpecs(t *testing.T) {
	cfg, env := build(t, `
routes:
  - name: r
    match: { paths: ["/pets"] }
    versions:
      from: header
      header: X-Version
      default: "1"
      list:
        "1": { policies: { mock: { spec: nowhere/pets.yaml } } }
    policies:
      validate_request: { spec: nowhere/pets.yaml }
attachments:
  nowhere/pets.yaml: |
    openapi: 3.0.3
    info: { title: pets, version: "1" }
    paths:
      /pets:
        get:
          responses:
            "200":
              description: ok
              content: { application/json: { example: [] } }
`)
	env.NewVersions = func(*config.Versions) (runtime.VersionSelector, error) { return nil, nil }
	if _, err := compile.Compile(cfg, env); err != nil {
		t.Fatalf("compile with attached specs: %v", err)
	}
	delete(cfg.Attachments, "nowhere/pets.yaml")
	if _, err := compile.Compile(cfg, env); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("without the attachment the file is read from disk: err = %v", err)
	}
}
