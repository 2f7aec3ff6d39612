package versioning

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

func versions(t *testing.T, src string) *config.Versions {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	v := &config.Versions{}
	if err := dec.Decode(v); err != nil {
		t.Fatal(err)
	}
	return v
}

const list = `
default: "2"
list:
  "1": { service: orders-v1, deprecated: { since: "2026-01-15", sunset: "2027-06-01", link: "https://docs.example.com/orders-v2" } }
  "2": { service: orders-v2 }
  "10": { service: orders-v10 }
`

func fixedClock(s string) func() time.Time {
	t, _ := time.Parse(time.RFC3339, s)
	return func() time.Time { return t }
}

func TestSelect(t *testing.T) {
	tests := []struct {
		name, from, extra string
		method, target    string
		hdr               http.Header
		want, wantPath    string
		wantStatus        int
	}{
		{"path v1", "path", "", "GET", "/v1/orders/7", nil, "1", "/orders/7", 0},
		{"path v10 only segment", "path", "", "GET", "/v10", nil, "10", "/", 0},
		{"path missing -> default", "path", "", "GET", "/orders/7", nil, "2", "/orders/7", 0},
		{"path not a version segment", "path", "", "GET", "/video/1", nil, "2", "/video/1", 0},
		{"path unknown", "path", "", "GET", "/v3/orders", nil, "", "/orders", 400},
		{"header default name", "header", "", "GET", "/orders", http.Header{"Accept-Version": {"1"}}, "1", "/orders", 0},
		{"header named", "header", "header: X-Api-Version", "GET", "/orders", http.Header{"X-Api-Version": {"v10"}}, "10", "/orders", 0},
		{"header missing -> default", "header", "", "GET", "/orders", nil, "2", "/orders", 0},
		{"header unknown", "header", "", "GET", "/orders", http.Header{"Accept-Version": {"9"}}, "", "/orders", 400},
		{"query", "query", "param: api", "GET", "/orders?api=1", nil, "1", "/orders", 0},
		{"query default param", "query", "", "GET", "/orders?version=10", nil, "10", "/orders", 0},
		{"query missing -> default", "query", "", "GET", "/orders?x=1", nil, "2", "/orders", 0},
		{"query unknown", "query", "", "GET", "/orders?version=abc", nil, "", "/orders", 400},
		{"media type", "media_type", "", "GET", "/orders", http.Header{"Accept": {"text/html, application/vnd.acme.v1+json;q=0.9"}}, "1", "/orders", 0},
		{"media type version param", "media_type", "", "GET", "/orders", http.Header{"Accept": {"application/vnd.acme+json; version=10"}}, "10", "/orders", 0},
		{"media type plain json -> default", "media_type", "", "GET", "/orders", http.Header{"Accept": {"application/json"}}, "2", "/orders", 0},
		{"media type unknown", "media_type", "", "GET", "/orders", http.Header{"Accept": {"application/vnd.acme.v7+json"}}, "", "/orders", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(versions(t, "from: "+tt.from+"\n"+tt.extra+list), fixedClock("2026-11-01T00:00:00Z"))
			if err != nil {
				t.Fatal(err)
			}
			ex := policytest.New(tt.method, tt.target)
			if tt.hdr != nil {
				ex.ReqHeader = tt.hdr
			}
			got, path, err := s.Select(ex)
			if tt.wantStatus != 0 {
				var pe *problem.Error
				if !errors.As(err, &pe) || pe.Status != tt.wantStatus {
					t.Fatalf("err = %v, want %d", err, tt.wantStatus)
				}
				if !strings.Contains(pe.Detail, "available versions: 1, 2, 10") {
					t.Errorf("detail %q does not name the versions", pe.Detail)
				}
				return
			}
			if err != nil || got != tt.want || path != tt.wantPath {
				t.Errorf("got %q %q %v, want %q %q", got, path, err, tt.want, tt.wantPath)
			}
		})
	}
}

func TestUnknownVersionDetail(t *testing.T) {
	s, _ := New(versions(t, "from: header"+list), nil)
	ex := policytest.New("GET", "/orders")
	ex.ReqHeader.Set("Accept-Version", "3\x01")
	_, _, err := s.Select(ex)
	if want := `unknown API version "3\x01"; available versions: 1, 2, 10`; problem.From(err).Detail != want {
		t.Errorf("detail = %q, want %q", problem.From(err).Detail, want)
	}
}

func TestNoDefault(t *testing.T) {
	s, err := New(versions(t, `from: path
list: { "1": {}, "2": {} }`), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Select(policytest.New("GET", "/orders"))
	if pe := problem.From(err); pe.Status != 400 || pe.Detail != "this API needs a version; available versions: 1, 2" {
		t.Errorf("got %v", err)
	}
}

func TestDeprecationAndSunset(t *testing.T) {
	clock := "2026-11-01T00:00:00Z"
	s, err := New(versions(t, "from: path"+list), func() time.Time { return fixedClock(clock)() })
	if err != nil {
		t.Fatal(err)
	}
	ex := policytest.New("GET", "/v1/orders")
	v, _, err := s.Select(ex)
	if err != nil || v != "1" {
		t.Fatalf("got %q %v", v, err)
	}
	s.Decorate(ex, v)
	want := http.Header{
		"Deprecation": {"@1768435200"},
		"Sunset":      {"Tue, 01 Jun 2027 00:00:00 GMT"},
		"Link": {`<https://docs.example.com/orders-v2>; rel="deprecation"; type="text/html"`,
			`<https://docs.example.com/orders-v2>; rel="sunset"; type="text/html"`},
	}
	if !reflect.DeepEqual(ex.Extra, want) {
		t.Errorf("headers = %v, want %v", ex.Extra, want)
	}

	ex2 := policytest.New("GET", "/v2/orders")
	s.Decorate(ex2, "2")
	if len(ex2.Extra) != 0 {
		t.Errorf("a current version got %v", ex2.Extra)
	}

	for _, at := range []string{"2027-06-01T00:00:00Z", "2028-01-01T00:00:00Z"} {
		clock = at
		_, _, err = s.Select(policytest.New("GET", "/v1/orders"))
		pe := problem.From(err)
		if pe.Status != 410 || pe.Detail != `API version "1" was retired on 2027-06-01` {
			t.Fatalf("at %s: got %v", at, err)
		}
		if !reflect.DeepEqual(pe.Headers, [][2]string{{"Sunset", want.Get("Sunset")}, {"Link", want["Link"][0]}, {"Link", want["Link"][1]}}) {
			t.Errorf("410 headers = %v", pe.Headers)
		}
	}
	clock = "2027-05-31T23:59:59Z"
	if _, _, err = s.Select(policytest.New("GET", "/v1/orders")); err != nil {
		t.Errorf("a second before the sunset: %v", err)
	}
}

func TestDeprecatedWithoutDates(t *testing.T) {
	s, err := New(versions(t, `from: path
list: { "1": { deprecated: {} } }`), nil)
	if err != nil {
		t.Fatal(err)
	}
	ex := policytest.New("GET", "/v1/x")
	s.Decorate(ex, "1")
	if !reflect.DeepEqual(ex.Extra, http.Header{"Deprecation": {"@0"}}) {
		t.Errorf("got %v", ex.Extra)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"from: cookie\nlist: {a: {}}", `"cookie" is not one of`},
		{"from: path", "list at least one version"},
		{"from: path\ndefault: \"3\"\nlist: {\"1\": {}}", `versions.default: "3" is not in versions.list (1)`},
		{"from: path\nlist: {\"1\": {deprecated: {sunset: soon}}}", `sunset: "soon" is not a date`},
		{"from: path\nlist: {\"1\": {deprecated: {link: /docs}}}", `not an absolute URL`},
		{"from: path\nlist: {\"a/b\": {}}", `not a usable version name`},
	}
	for _, tt := range tests {
		_, err := New(versions(t, tt.src), nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestVersionsSorted(t *testing.T) {
	s, _ := New(versions(t, "from: path"+list), nil)
	if got := s.Versions(); !reflect.DeepEqual(got, []string{"1", "2", "10"}) {
		t.Errorf("got %v", got)
	}
}

func FuzzVersionFromAccept(f *testing.F) {
	for _, s := range []string{"application/vnd.acme.v2+json", "application/vnd.+json;version=", "application/vnd.a.v", ",,;", "application/vnd.x.v1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = versionFromAccept([]string{s})
	})
}

func FuzzVersionFromPath(f *testing.F) {
	for _, s := range []string{"/v2/a", "/v", "/", "", "/v1", "v1/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		v, rest := versionFromPath(p)
		if v != "" && !strings.HasPrefix(rest, "/") {
			t.Fatalf("%q -> %q %q", p, v, rest)
		}
	})
}
