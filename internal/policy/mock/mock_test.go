package mock

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

const bookshop = "../../openapi/testdata/bookshop-3.1.yaml"

func decode(t testing.TB, src string) *Config {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	c := &Config{}
	if err := dec.Decode(c); err != nil {
		t.Fatal(err)
	}
	return c
}

func build(t testing.TB, src string) policy.Handler {
	t.Helper()
	c := decode(t, src)
	if errs := c.Validate(); errs != nil {
		t.Fatal(errs)
	}
	h, err := c.Build(policy.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	return h.(policy.Handler)
}

func noUpstream(t *testing.T) policy.Next {
	return func(policy.Exchange) error {
		t.Error("mock called the upstream")
		return nil
	}
}

func TestMockAnswers(t *testing.T) {
	tests := []struct {
		name, cfg, method, target string
		status                    int
		hdr                       http.Header
		body                      string
	}{
		{"first named example by name", "spec: " + bookshop, "GET", "/books", 200,
			http.Header{"Content-Type": {"application/json"}, "X-Total-Count": {"2"}}, `[]`},
		{"named example", "spec: " + bookshop + "\nexample: two", "GET", "/books", 200,
			http.Header{"Content-Type": {"application/json"}, "X-Total-Count": {"2"}},
			`[{"id":"b1","subtitle":null,"title":"Dune"},{"id":"b2","subtitle":"A Novel","title":"Emma"}]`},
		{"named example missing on this operation falls back", "spec: " + bookshop + "\nexample: two", "GET", "/books/b1", 200,
			http.Header{"Content-Type": {"application/json"}}, `{"id":"b1","subtitle":null,"title":"Dune"}`},
		{"201 with headers and example", "spec: " + bookshop, "POST", "/books", 201,
			http.Header{"Content-Type": {"application/json"}, "Location": {"/books/b3"}}, `{"id":"b3","subtitle":null,"title":"Ulysses"}`},
		{"first 2xx, not the first listed", "spec: " + bookshop + "\noperation: getBook", "GET", "/anything", 200,
			http.Header{"Content-Type": {"application/json"}}, `{"id":"b1","subtitle":null,"title":"Dune"}`},
		{"configured status", "spec: " + bookshop + "\noperation: getBook\nstatus: 404", "GET", "/books/x1", 404, http.Header{}, ``},
		{"no content", "spec: " + bookshop, "PUT", "/books/b1", 204, http.Header{}, ``},
		{"base path", "spec: " + bookshop + "\nbase_path: /api", "PUT", "/api/books/b1", 204, http.Header{}, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := build(t, tt.cfg)
			ex := policytest.New(tt.method, tt.target)
			if err := h.Handle(ex, noUpstream(t)); err != nil {
				t.Fatal(err)
			}
			if !ex.Responded || ex.Resp.Code != tt.status || !reflect.DeepEqual(ex.Resp.Hdr, tt.hdr) || string(ex.Resp.BodyBuf) != tt.body {
				t.Errorf("got %d %v %s, want %d %v %s", ex.Resp.Code, ex.Resp.Hdr, ex.Resp.BodyBuf, tt.status, tt.hdr, tt.body)
			}
		})
	}
}

func TestMockFromSchema(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "s.yaml")
	err := os.WriteFile(spec, []byte(`openapi: 3.0.3
info: {title: s, version: "1"}
paths:
  /pets/{id}:
    get:
      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]
      responses:
        "200":
          description: ok
          content:
            text/plain: { schema: { type: string, example: hi } }
            application/vnd.pet+json:
              schema:
                allOf:
                  - { type: object, properties: { name: { type: string, example: rex } } }
                  - { type: object, properties: { tags: { type: array, items: { type: string, enum: [dog, cat] } }, id: { type: integer, default: 1 } } }
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	h := build(t, "spec: "+spec)
	ex := policytest.New("GET", "/pets/1")
	if err := h.Handle(ex, noUpstream(t)); err != nil {
		t.Fatal(err)
	}
	if ct := ex.Resp.Hdr.Get("Content-Type"); ct != "application/vnd.pet+json" || string(ex.Resp.BodyBuf) != `{"id":1,"name":"rex","tags":["dog"]}` {
		t.Errorf("got %s %s", ct, ex.Resp.BodyBuf)
	}
}

func TestMockNoOperation(t *testing.T) {
	h := build(t, "spec: "+bookshop)
	ex := policytest.New("DELETE", "/books/b1")
	err := h.Handle(ex, noUpstream(t))
	if pe := problem.From(err); pe.Status != 404 || pe.Detail != "the API description has no operation for DELETE /books/b1" {
		t.Errorf("got %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{"spec: ''", "name the OpenAPI document"},
		{"spec: x\nstatus: 99", "not an HTTP status code"},
		{"spec: nope.yaml", "no such file"},
		{"spec: " + bookshop + "\noperation: nope", `no operation "nope"`},
		{"spec: " + bookshop + "\noperation: getBook\nexample: nope", `no example named "nope"`},
		{"spec: " + bookshop + "\noperation: getBook\nstatus: 500", `no response 500`},
	}
	for _, tt := range tests {
		c := decode(t, tt.cfg)
		var err error
		if errs := c.Validate(); errs != nil {
			err = errs[0]
		} else {
			_, err = c.Build(policy.BuildEnv{})
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.cfg, err, tt.want)
		}
	}
}

func TestReadmeExample(t *testing.T) {
	for _, cfg := range policytest.CheckREADME(t, Definition) {
		c := cfg.(*Config)
		c.Spec = "../../openapi/testdata/" + c.Spec // the README path is relative to a config directory
		if _, err := c.Build(policy.BuildEnv{}); err != nil {
			t.Errorf("README example does not build: %v", err)
		}
	}
}
