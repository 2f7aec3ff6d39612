package openapi

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/config"
)

func readSpec(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type wantRoute struct{ name, method, path string }

func TestImport(t *testing.T) {
	tests := []struct {
		spec, service string
		want          []wantRoute
	}{
		{"petstore-expanded.yaml", "swagger-petstore", []wantRoute{
			{"findPets", "GET", "/pets"},
			{"addPet", "POST", "/pets"},
			{"find-pet-by-id", "GET", "/pets/{id}"},
			{"deletePet", "DELETE", "/pets/{id}"},
		}},
		{"bookshop-3.1.yaml", "bookshop", []wantRoute{
			{"listBooks", "GET", "/books"},
			{"createBook", "POST", "/books"},
			{"getBook", "GET", "/books/{book_id}"},
			{"put-books-book-id", "PUT", "/books/{book_id}"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			out, err := ImportSpec(readSpec(t, tt.spec), "specs/"+tt.spec, "http://127.0.0.1:9001", "")
			if err != nil {
				t.Fatal(err)
			}
			dec := yaml.NewDecoder(bytes.NewReader(out))
			dec.KnownFields(true)
			var c config.Config
			if err := dec.Decode(&c); err != nil {
				t.Fatalf("fragment does not decode as config: %v\n%s", err, out)
			}
			if len(c.Services) != 1 || c.Services[0].Name != tt.service || c.Services[0].Targets[0].URL != "http://127.0.0.1:9001" {
				t.Errorf("services = %+v", c.Services)
			}
			var got []wantRoute
			for _, r := range c.Routes {
				if r.Service != tt.service || r.OpenAPI != "specs/"+tt.spec || len(r.Match.Paths) != 1 || len(r.Match.Methods) != 1 {
					t.Errorf("route %+v", r)
					continue
				}
				got = append(got, wantRoute{r.Name, r.Match.Methods[0], r.Match.Paths[0]})
			}
			if !reflect.DeepEqual(sortRoutes(got), sortRoutes(tt.want)) {
				t.Errorf("routes:\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func sortRoutes(r []wantRoute) map[wantRoute]bool {
	m := map[wantRoute]bool{}
	for _, x := range r {
		m[x] = true
	}
	return m
}

func TestImportErrors(t *testing.T) {
	tests := []struct{ doc, upstream, want string }{
		{"openapi: 3.0.0", "ftp://x", "write an http:// or https:// URL"},
		{"not: [yaml", "http://x", "not a readable OpenAPI document"},
		{`swagger: "2.0"
info: {title: a, version: "1"}
paths: {}`, "http://x", "only OpenAPI 3.x"},
		{`openapi: 3.0.3
info: {title: a, version: "1"}
paths: {}`, "http://x", "no operations"},
	}
	for _, tt := range tests {
		_, err := Import([]byte(tt.doc), tt.upstream, "svc")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func TestFind(t *testing.T) {
	d, err := Parse([]byte(`openapi: 3.0.3
info: {title: a, version: "1"}
paths:
  /pets/{id}: { get: { operationId: byId, parameters: [{name: id, in: path, required: true, schema: {type: string}}], responses: {"200": {description: ok}} } }
  /pets/mine: { get: { operationId: mine, responses: {"200": {description: ok}} } }
  /files/{name}.json: { get: { operationId: file, parameters: [{name: name, in: path, required: true, schema: {type: string}}], responses: {"200": {description: ok}} } }
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path, want string
		params             map[string]string
	}{
		{"GET", "/pets/7", "byId", map[string]string{"id": "7"}},
		{"GET", "/pets/mine", "mine", nil},
		{"GET", "/files/a.json", "file", nil},
		{"POST", "/pets/7", "", nil},
		{"GET", "/pets/", "", nil},
		{"GET", "/pets/7/x", "", nil},
	}
	for _, tt := range tests {
		op, params := d.Find(tt.method, tt.path)
		got := ""
		if op != nil {
			got = op.ID
		}
		if got != tt.want || !reflect.DeepEqual(params, tt.params) {
			t.Errorf("%s %s: got %q %v, want %q %v", tt.method, tt.path, got, params, tt.want, tt.params)
		}
	}
	if got := d.AllowedMethods("/pets/7"); !reflect.DeepEqual(got, []string{"GET"}) {
		t.Errorf("allowed = %v", got)
	}
	if d.OperationByID("mine") == nil || d.OperationByID("nope") != nil {
		t.Error("OperationByID")
	}
}

func TestLoad31(t *testing.T) {
	d, err := Load("testdata/bookshop-3.1.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !d.T.IsOpenAPI31OrLater() || len(d.Operations) != 4 || len(d.Raw) == 0 {
		t.Errorf("loaded %s with %d operations", d.T.OpenAPI, len(d.Operations))
	}
	if _, err := Load("testdata/missing.yaml"); err == nil {
		t.Error("missing file loaded")
	}
}

func TestImportCommand(t *testing.T) {
	cmd := NewImportCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"testdata/petstore-expanded.yaml", "--upstream", "http://127.0.0.1:9001", "--service", "pets"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "name: findPets") || !strings.Contains(out.String(), "openapi: testdata/petstore-expanded.yaml") {
		t.Errorf("output:\n%s", out.String())
	}
	cmd = NewImportCommand()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"testdata/petstore-expanded.yaml"})
	if err := cmd.Execute(); err == nil {
		t.Error("missing --upstream accepted")
	}
}

func TestNames(t *testing.T) {
	for in, want := range map[string]string{"find pet by id": "find-pet-by-id", "a/b__c": "a-b__c", "--x--": "x", "日本": ""} {
		if got := sanitizeName(in); got != want {
			t.Errorf("sanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"/a/{pet-id}": "/a/{pet_id}", "/f/{name}.json": "/f/{name}", "/{1x}": "/{_x}", "/": "/"} {
		if got := GoPattern(in); got != want {
			t.Errorf("GoPattern(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("openapi: 3.1.0\ninfo: {title: a, version: '1'}\npaths: {/a: {get: {responses: {'200': {description: x}}}}}"))
	f.Add([]byte(`{"openapi":"3.0.0"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			return
		}
		for _, op := range d.Operations {
			d.Find(op.Method, GoPattern(op.Path))
		}
	})
}

func FuzzGoPattern(f *testing.F) {
	for _, s := range []string{"/a/{b}", "/{", "/}{", "", "/a/{x}.{y}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if g := GoPattern(p); !strings.HasPrefix(g, "/") {
			t.Fatalf("%q -> %q", p, g)
		}
	})
}

func TestLoadShared(t *testing.T) {
	a, err := LoadShared("testdata/petstore-expanded.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadShared("testdata/petstore-expanded.yaml", nil)
	if err != nil || a != b {
		t.Errorf("second load: %p %p %v", a, b, err)
	}
	c, err := LoadShared("testdata/bookshop-3.1.yaml", nil)
	if err != nil || c == a {
		t.Errorf("another document: %v", err)
	}
	if _, err := LoadShared("testdata/none.yaml", nil); err == nil {
		t.Error("missing file loaded")
	}
	// An attached document wins over the disk and shares the parse by content.
	raw, _ := os.ReadFile("testdata/petstore-expanded.yaml")
	attached := func(name string) ([]byte, bool) {
		return raw, name == "testdata/bookshop-3.1.yaml" || name == "elsewhere.yaml"
	}
	if d, err := LoadShared("testdata/bookshop-3.1.yaml", attached); err != nil || d != a {
		t.Errorf("attached content not used: %v", err)
	}
	if d, err := LoadShared("elsewhere.yaml", attached); err != nil || d != a {
		t.Errorf("attached name without a file: %v", err)
	}
	bad := func(string) ([]byte, bool) { return []byte("nope"), true }
	if _, err := LoadShared("x.yaml", bad); err == nil || !strings.Contains(err.Error(), "x.yaml (attached)") {
		t.Errorf("bad attachment error = %v", err)
	}
}

func TestTrimBasePath(t *testing.T) {
	tests := []struct {
		path, base, want string
		ok               bool
	}{
		{"/v1/pets", "/v1", "/pets", true},
		{"/v1", "/v1/", "/", true},
		{"/v10/pets", "/v1", "/v10/pets", false},
		{"/pets", "", "/pets", true},
	}
	for _, tt := range tests {
		if got, ok := TrimBasePath(tt.path, tt.base); got != tt.want || ok != tt.ok {
			t.Errorf("TrimBasePath(%q, %q) = %q %v", tt.path, tt.base, got, ok)
		}
	}
}

func TestParseJSON(t *testing.T) {
	d, err := Parse([]byte(`{"openapi":"3.1.0","info":{"title":"j","version":"1"},
"paths":{"/a/{id}":{"get":{"operationId":"getA","parameters":[{"name":"id","in":"path","required":true,"schema":{"type":["integer","null"]}}],"responses":{"200":{"description":"ok"}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if op, params := d.Find("GET", "/a/9"); op == nil || op.ID != "getA" || params["id"] != "9" {
		t.Errorf("got %v %v", op, params)
	}
}
