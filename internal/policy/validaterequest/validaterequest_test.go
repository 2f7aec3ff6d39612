package validaterequest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/policy/transform"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

const (
	petstore = "../../openapi/testdata/petstore-expanded.yaml"
	bookshop = "../../openapi/testdata/bookshop-3.1.yaml"
)

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

type reqCase struct {
	name, method, target, body string
	hdr                        http.Header
	params                     []policy.Param
	wantStatus                 int
	wantDetail                 string
}

func run(t *testing.T, h policy.Handler, tests []reqCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := policytest.New(tt.method, tt.target)
			if tt.hdr != nil {
				ex.ReqHeader = tt.hdr
			}
			ex.ReqBody = []byte(tt.body)
			ex.ParamList = tt.params
			called := false
			err := h.Handle(ex, func(policy.Exchange) error { called = true; return nil })
			if tt.wantStatus == 0 {
				if err != nil || !called {
					t.Fatalf("got %v (upstream called %v), want it passed", err, called)
				}
				return
			}
			pe := problem.From(err)
			if called || pe.Status != tt.wantStatus || pe.Detail != tt.wantDetail {
				t.Fatalf("got %d %q (upstream called %v), want %d %q", pe.Status, pe.Detail, called, tt.wantStatus, tt.wantDetail)
			}
		})
	}
}

var jsonCT = http.Header{"Content-Type": {"application/json"}}

func TestPetstore30(t *testing.T) {
	h := build(t, "spec: "+petstore)
	run(t, h, []reqCase{
		{"valid list", "GET", "/pets?limit=10&tags=a&tags=b", "", nil, nil, 0, ""},
		{"limit not an integer", "GET", "/pets?limit=ten", "", nil, nil, 400, `query parameter "limit": value must be an integer`},
		{"path id not an integer", "GET", "/pets/abc", "", nil, nil, 400, `path parameter "id": value must be an integer`},
		{"valid id", "DELETE", "/pets/12", "", nil, nil, 0, ""},
		{"valid body", "POST", "/pets", `{"name":"rex","tag":"dog"}`, jsonCT, nil, 0, ""},
		{"body missing required", "POST", "/pets", `{"tag":"dog"}`, jsonCT, nil, 400, `request body field "name": property "name" is missing`},
		{"body field wrong type", "POST", "/pets", `{"name":7}`, jsonCT, nil, 400, `request body field "name": value must be a string`},
		{"body not JSON", "POST", "/pets", `{"name":`, jsonCT, nil, 400, `request body: value cannot be read`},
		{"no body", "POST", "/pets", ``, jsonCT, nil, 400, `request body: value is required but missing`},
		{"unknown path", "GET", "/owners", "", nil, nil, 400, `no operation in the API description matches GET /owners`},
		{"method not in document", "PUT", "/pets/1", "", nil, nil, 405, `the API description has no PUT operation on this path`},
	})
}

func TestBookshop31(t *testing.T) {
	h := build(t, "spec: "+bookshop)
	tenant := http.Header{"X-Tenant": {"acme"}}
	run(t, h, []reqCase{
		{"valid", "GET", "/books?limit=5", "", tenant, nil, 0, ""},
		{"header missing", "GET", "/books", "", nil, nil, 400, `header parameter "X-Tenant": value is required but missing`},
		{"header pattern", "GET", "/books", "", http.Header{"X-Tenant": {"ACME1"}}, nil, 400, `header parameter "X-Tenant": 'ACME1' does not match pattern '^[a-z]+$'`},
		{"limit over maximum", "GET", "/books?limit=500", "", tenant, nil, 400, `query parameter "limit": maximum: got 500, want 100`},
		{"nullable 3.1 type", "POST", "/books", `{"title":"Emma","subtitle":null}`, jsonCT, nil, 0, ""},
		{"extra property", "POST", "/books", `{"title":"Emma","isbn":"x"}`, jsonCT, nil, 400, `request body: additional properties 'isbn' not allowed`},
		{"nested field type", "POST", "/books", `{"title":1}`, jsonCT, nil, 400, `request body field "title": got number, want string`},
		{"path param min length", "GET", "/books/b", "", nil, nil, 400, `path parameter "book-id": minLength: got 1, want 2`},
	})
}

func TestFixedOperation(t *testing.T) {
	h := build(t, "spec: "+bookshop+"\noperation: getBook")
	run(t, h, []reqCase{
		// the route's pattern differs from the document's: params come from the route's captures
		{"route capture", "GET", "/v2/book/b", "", nil, []policy.Param{{Name: "book_id", Value: "b"}}, 400, `path parameter "book-id": minLength: got 1, want 2`},
		{"route capture ok", "GET", "/v2/book/b1", "", nil, []policy.Param{{Name: "book_id", Value: "b1"}}, 0, ""},
	})
}

func TestExactProblemBody(t *testing.T) {
	h := build(t, "spec: "+petstore+"\noperation: findPets")
	ex := policytest.New("GET", "/pets?limit=abc")
	err := h.Handle(ex, func(policy.Exchange) error { return nil })
	got := string(problem.From(err).Body("req-1"))
	want := `{"type":"about:blank","title":"Bad Request","status":400,"detail":"query parameter \"limit\": value must be an integer","request_id":"req-1"}`
	if got != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
	if !json.Valid([]byte(got)) {
		t.Error("not JSON")
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{"spec: ''", "name the OpenAPI document"},
		{"spec: testdata/nope.yaml", "no such file"},
		{"spec: " + petstore + "\noperation: nope", `has no operation "nope"`},
	}
	for _, tt := range tests {
		c := decode(t, tt.cfg)
		_, err := c.Build(policy.BuildEnv{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.cfg, err, tt.want)
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

func BenchmarkValidateQuery(b *testing.B) {
	h := build(b, "spec: "+petstore+"\noperation: findPets")
	next := func(policy.Exchange) error { return nil }
	ex := policytest.New("GET", "/pets?limit=10")
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Handle(ex, next); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzDetail(f *testing.F) {
	h := build(f, "spec: "+bookshop)
	f.Add("GET", "/books?limit=x", "")
	f.Add("POST", "/books", `{"title":1}`)
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if _, err := url.Parse(target); err != nil || !strings.HasPrefix(target, "/") {
			return // policytest.New needs a parsable target (the edge canonicalises real ones)
		}
		ex := policytest.New(method, target)
		ex.ReqHeader.Set("Content-Type", "application/json")
		ex.ReqHeader.Set("X-Tenant", "a")
		ex.ReqBody = []byte(body)
		_ = h.Handle(ex, func(policy.Exchange) error { return nil })
	})
}

// BenchmarkTypicalChain is the benchmark route: request validation
// (phase 60) then three header transforms (phase 80), in chain order. Compare
// its ns/op with the plain proxy's per-request cost in internal/server.
func BenchmarkTypicalChain(b *testing.B) {
	v := build(b, "spec: "+petstore)
	tc := &transform.Config{}
	dec := yaml.NewDecoder(strings.NewReader(`request: { headers: { add: { X-User: "{{ .Path.id }}" }, set: { X-Gateway: tollgate }, remove: [X-Debug] } }`))
	dec.KnownFields(true)
	if err := dec.Decode(tc); err != nil {
		b.Fatal(err)
	}
	th, err := tc.Build(policy.BuildEnv{})
	if err != nil {
		b.Fatal(err)
	}
	t := th.(policy.Handler)
	upstream := func(policy.Exchange) error { return nil }
	afterValidate := func(ex policy.Exchange) error { return t.Handle(ex, upstream) }
	ex := policytest.New("GET", "/pets/42")
	ex.ParamList = []policy.Param{{Name: "id", Value: "42"}}
	b.ReportAllocs()
	for b.Loop() {
		ex.ReqHeader = http.Header{"X-Debug": {"1"}}
		if err := v.Handle(ex, afterValidate); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrent runs one built handler (and its shared document) from many
// goroutines, as the gateway does; -race checks kin-openapi's lazy caches.
func TestConcurrent(t *testing.T) {
	h := build(t, "spec: "+bookshop)
	done := make(chan error, 8)
	for i := range 8 {
		go func() {
			var err error
			for j := range 50 {
				ex := policytest.New("POST", "/books")
				ex.ReqHeader.Set("Content-Type", "application/json")
				ex.ReqBody = []byte(`{"title":"t","pages":` + strconv.Itoa(i*j-1) + `}`)
				e := h.Handle(ex, func(policy.Exchange) error { return nil })
				if (i*j-1 >= 1) != (e == nil) {
					err = fmt.Errorf("pages=%d: got %v", i*j-1, e)
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestBasePath(t *testing.T) {
	h := build(t, "spec: "+petstore+"\nbase_path: /v1")
	run(t, h, []reqCase{
		{"under the base path", "GET", "/v1/pets?limit=3", "", nil, nil, 0, ""},
		{"field error under the base path", "GET", "/v1/pets/x", "", nil, nil, 400, `path parameter "id": value must be an integer`},
		{"outside the base path", "GET", "/v10/pets", "", nil, nil, 400, `the request path is outside the API description's base path /v1`},
	})
	if errs := decode(t, "spec: a.yaml\nbase_path: v1").Validate(); len(errs) != 1 {
		t.Errorf("relative base_path: %v", errs)
	}
}
