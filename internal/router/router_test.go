package router

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// req is one request and the expected outcome: route id (-1 for none),
// status, params as "name=value" and Allow.
type req struct {
	host, method, path string
	headers            map[string]string
	id, status         int
	params             []string
	allow              []string
}

func mustNew(t *testing.T, routes []Route) *Router {
	t.Helper()
	r, err := New(routes)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

func check(t *testing.T, r *Router, q req) {
	t.Helper()
	if q.method == "" {
		q.method = "GET"
	}
	header := http.Header(canonHeaders(q.headers))
	id, pat, params, status, allow := r.Match(q.host, q.method, q.path, header, nil)
	var got []string
	for _, p := range params {
		got = append(got, p.Name+"="+p.Value)
	}
	if id != q.id || status != q.status || !slices.Equal(got, q.params) || !slices.Equal(allow, q.allow) {
		t.Errorf("%s %s%s: got id=%d pattern=%q status=%d params=%q allow=%q; want id=%d status=%d params=%q allow=%q",
			q.method, q.host, q.path, id, pat, status, got, allow, q.id, q.status, q.params, q.allow)
	}
}

func canonHeaders(in map[string]string) map[string][]string {
	h := http.Header{}
	for k, v := range in {
		h.Set(k, v)
	}
	return h
}

func TestMatchPaths(t *testing.T) {
	r := mustNew(t, []Route{
		{ID: 0, Paths: []string{"/v1/orders"}},
		{ID: 1, Paths: []string{"/v1/orders/{id}"}},
		{ID: 2, Paths: []string{"/static/"}},
		{ID: 3, Paths: []string{"/files/{rest...}"}},
		{ID: 4, Paths: []string{"/v1/orders/{id}/items/{item}"}},
		{ID: 5, Paths: []string{"/v1/orders/special"}},
		{ID: 6, Paths: []string{"/static/{$}"}},
		{ID: 7, Paths: []string{"/{$}"}},
		{ID: 8, Paths: []string{"/v1/{kind}/{id}/export"}},
		{ID: 9, Paths: []string{"/caf%C3%A9", "/%41bc"}},
	})
	for _, q := range []req{
		{path: "/v1/orders", id: 0},
		{path: "/v1/orders/", id: -1, status: 404}, // {id} needs a non-empty segment
		{path: "/v1/orders/42", id: 1, params: []string{"id=42"}},
		{path: "/v1/orders/special", id: 5},
		{path: "/v1/orders/42/items/7", id: 4, params: []string{"id=42", "item=7"}},
		{path: "/v1/orders/42/items", id: -1, status: 404},
		{path: "/v1/orders/export", id: 1, params: []string{"id=export"}},
		{path: "/v1/orders/1/export", id: 8, params: []string{"kind=orders", "id=1"}}, // literal "orders" fails deeper: backtrack to {kind}
		{path: "/static/", id: 6},
		{path: "/static/css/site.css", id: 2},
		{path: "/static", id: -1, status: 404},
		{path: "/files/", id: 3, params: []string{"rest="}},
		{path: "/files/a/b/c.txt", id: 3, params: []string{"rest=a/b/c.txt"}},
		{path: "/files", id: -1, status: 404},
		{path: "/", id: 7},
		{path: "/nope", id: -1, status: 404},
		{path: "/café", id: -1, status: 404}, // Match takes canonical paths only
		{path: "/caf%C3%A9", id: 9},
		{path: "/Abc", id: 9},
		{path: "relative", id: -1, status: 404},
		{path: "", id: -1, status: 404},
	} {
		check(t, r, q)
	}
}

func TestMatchDefaultPathIsRootSubtree(t *testing.T) {
	r := mustNew(t, []Route{{ID: 3}})
	check(t, r, req{path: "/", id: 3})
	check(t, r, req{path: "/any/thing", id: 3})
}

func TestMatchSpecificity(t *testing.T) {
	r := mustNew(t, []Route{
		{ID: 0, Paths: []string{"/"}},
		{ID: 1, Paths: []string{"/a/{x}/c"}},
		{ID: 2, Paths: []string{"/{y}/b/c"}},
		{ID: 3, Paths: []string{"/a/"}},
		{ID: 4, Paths: []string{"/a/{x}"}},
		{ID: 5, Paths: []string{"/a/b/{rest...}"}},
	})
	for _, q := range []req{
		{path: "/a/b/c", id: 5, params: []string{"rest=c"}}, // literal "b" beats {x} in segment 2
		{path: "/a/q/c", id: 1, params: []string{"x=q"}},    // literal "a" beats {y} in segment 1
		{path: "/z/b/c", id: 2, params: []string{"y=z"}},
		{path: "/a/b", id: 4, params: []string{"x=b"}}, // {x} beats subtree /a/
		{path: "/a/b/d", id: 5, params: []string{"rest=d"}},
		{path: "/a/q/r", id: 3},
		{path: "/a/", id: 3},
		{path: "/elsewhere", id: 0},
	} {
		check(t, r, q)
	}
}

func TestMatchHosts(t *testing.T) {
	r := mustNew(t, []Route{
		{ID: 0, Paths: []string{"/x"}},
		{ID: 1, Hosts: []string{"api.example.com"}, Paths: []string{"/x"}},
		{ID: 2, Hosts: []string{"*.example.com"}, Paths: []string{"/x"}},
		{ID: 3, Hosts: []string{"*.a.example.com"}, Paths: []string{"/x"}},
		{ID: 4, Hosts: []string{"API.Other.com."}, Paths: []string{"/only-other"}},
		{ID: 5, Paths: []string{"/global"}},
		{ID: 6, Hosts: []string{"*"}, Paths: []string{"/star"}},
	})
	for _, q := range []req{
		{host: "api.example.com", path: "/x", id: 1},
		{host: "API.Example.COM", path: "/x", id: 1},
		{host: "api.example.com.", path: "/x", id: 1},
		{host: "www.example.com", path: "/x", id: 2},
		{host: "deep.www.example.com", path: "/x", id: 2},
		{host: "b.a.example.com", path: "/x", id: 3},
		{host: "c.b.a.example.com", path: "/x", id: 3},
		{host: "a.example.com", path: "/x", id: 2}, // *.a.example.com needs a label before it
		{host: "example.com", path: "/x", id: 0},
		{host: "other.org", path: "/x", id: 0},
		{host: "", path: "/x", id: 0},
		{host: "api.other.com", path: "/only-other", id: 4},
		{host: "api.example.com", path: "/only-other", id: -1, status: 404},
		{host: "api.example.com", path: "/global", id: 5}, // fallback to any-host routes
		{host: "b.a.example.com", path: "/global", id: 5},
		{host: "x.y", path: "/star", id: 6},
		{host: strings.Repeat("a", 300) + ".example.com", path: "/x", id: 0},
	} {
		check(t, r, q)
	}
}

func TestMatchMethodsAnd405(t *testing.T) {
	r := mustNew(t, []Route{
		{ID: 0, Paths: []string{"/orders"}, Methods: []string{"GET"}},
		{ID: 1, Paths: []string{"/orders"}, Methods: []string{"post", "PUT"}},
		{ID: 2, Paths: []string{"/orders/{id}"}, Methods: []string{"DELETE"}},
		{ID: 3, Paths: []string{"/orders/{id}"}},
		{ID: 4, Paths: []string{"/head"}, Methods: []string{"GET"}},
		{ID: 5, Paths: []string{"/head"}, Methods: []string{"HEAD"}},
		{ID: 6, Paths: []string{"/only-post/"}, Methods: []string{"POST"}},
		{ID: 7, Hosts: []string{"h.example.com"}, Paths: []string{"/orders"}, Methods: []string{"PATCH"}},
	})
	for _, q := range []req{
		{method: "GET", path: "/orders", id: 0},
		{method: "HEAD", path: "/orders", id: 0},
		{method: "POST", path: "/orders", id: 1},
		{method: "PUT", path: "/orders", id: 1},
		{method: "DELETE", path: "/orders", id: -1, status: 405, allow: []string{"GET", "HEAD", "POST", "PUT"}},
		{method: "get", path: "/orders", id: -1, status: 405, allow: []string{"GET", "HEAD", "POST", "PUT"}},
		{method: "DELETE", path: "/orders/1", id: 2, params: []string{"id=1"}},
		{method: "GET", path: "/orders/1", id: 3, params: []string{"id=1"}}, // explicit first, any-method as fallback
		{method: "HEAD", path: "/head", id: 5},
		{method: "GET", path: "/head", id: 4},
		{method: "GET", path: "/only-post/x", id: -1, status: 405, allow: []string{"POST"}},
		{method: "GET", path: "/missing", id: -1, status: 404},
		// The host level matched the path but not the method: fall back to the global GET route.
		{host: "h.example.com", method: "GET", path: "/orders", id: 0},
		{host: "h.example.com", method: "PATCH", path: "/orders", id: 7},
		{host: "h.example.com", method: "TRACE", path: "/orders", id: -1, status: 405, allow: []string{"GET", "HEAD", "PATCH", "POST", "PUT"}},
	} {
		check(t, r, q)
	}
}

func TestMatchHeaders(t *testing.T) {
	r := mustNew(t, []Route{
		{ID: 0, Paths: []string{"/h"}},
		{ID: 1, Paths: []string{"/h"}, Headers: map[string]string{"x-version": "2"}},
		{ID: 2, Paths: []string{"/h"}, Headers: map[string]string{"X-Version": "2", "X-Beta": "*"}},
		{ID: 3, Paths: []string{"/h"}, Headers: map[string]string{"X-Version": "3"}, Methods: []string{"GET"}},
		{ID: 4, Paths: []string{"/only"}, Headers: map[string]string{"X-Tenant": "*"}, Methods: []string{"POST"}},
	})
	for _, q := range []req{
		{path: "/h", id: 0},
		{path: "/h", headers: map[string]string{"X-Version": "2"}, id: 1},
		{path: "/h", headers: map[string]string{"X-Version": "2", "X-Beta": "yes"}, id: 2},
		{path: "/h", headers: map[string]string{"X-Version": "1", "X-Beta": "yes"}, id: 0},
		{path: "/h", headers: map[string]string{"X-Version": "3"}, id: 3},
		{method: "POST", path: "/h", headers: map[string]string{"X-Version": "3"}, id: 0},
		{path: "/only", id: -1, status: 404}, // headers did not match: 404, not 405
		{path: "/only", headers: map[string]string{"X-Tenant": "t1"}, id: -1, status: 405, allow: []string{"POST"}},
		{method: "POST", path: "/only", headers: map[string]string{"X-Tenant": "t1"}, id: 4},
	} {
		check(t, r, q)
	}
}

func TestMatchNilHeaderFunc(t *testing.T) {
	r := mustNew(t, []Route{
		{ID: 0, Paths: []string{"/h"}, Headers: map[string]string{"X-A": "*"}},
		{ID: 1, Paths: []string{"/h"}},
	})
	if id, _, _, _, _ := r.Match("", "GET", "/h", nil, nil); id != 1 {
		t.Fatalf("id = %d, want 1", id)
	}
}

func TestMatchReturnsPatternAndReusesBuffer(t *testing.T) {
	r := mustNew(t, []Route{{ID: 9, Paths: []string{"/a/{x}/{rest...}"}}})
	buf := make([]policy.Param, 1, 8)
	buf[0] = policy.Param{Name: "stale", Value: "stale"}
	id, pat, ps, status, _ := r.Match("", "GET", "/a/1/2/3", nil, buf)
	if id != 9 || pat != "/a/{x}/{rest...}" || status != 0 {
		t.Fatalf("got %d %q %d", id, pat, status)
	}
	want := []policy.Param{{Name: "x", Value: "1"}, {Name: "rest", Value: "2/3"}}
	if !slices.Equal(ps, want) || &ps[0] != &buf[0] {
		t.Fatalf("params = %v (same buffer: %v), want %v", ps, &ps[0] == &buf[0], want)
	}
}

func TestNewRejectsTies(t *testing.T) {
	tests := []struct {
		name   string
		routes []Route
		want   string // substring of the error; "" = no error
	}{
		{"same path", []Route{{ID: 1, Paths: []string{"/a"}}, {ID: 2, Paths: []string{"/a"}}}, "routes 1 and 2: ambiguous routes"},
		{"param names differ", []Route{{ID: 1, Paths: []string{"/a/{x}"}}, {ID: 2, Paths: []string{"/a/{y}"}}}, "routes 1 and 2: ambiguous"},
		{"subtree spellings", []Route{{ID: 1, Paths: []string{"/a/"}}, {ID: 2, Paths: []string{"/a/{r...}"}}}, "ambiguous"},
		{"default path vs /", []Route{{ID: 1}, {ID: 2, Paths: []string{"/"}}}, "ambiguous"},
		{"overlapping methods", []Route{{ID: 1, Paths: []string{"/a"}, Methods: []string{"GET", "POST"}}, {ID: 2, Paths: []string{"/a"}, Methods: []string{"post"}}}, "ambiguous"},
		{"same headers", []Route{{ID: 1, Paths: []string{"/a"}, Headers: map[string]string{"x-a": "1"}}, {ID: 2, Paths: []string{"/a"}, Headers: map[string]string{"X-A": "1"}}}, "ambiguous"},
		{"same host case", []Route{{ID: 1, Hosts: []string{"A.com"}, Paths: []string{"/a"}}, {ID: 2, Hosts: []string{"a.com"}, Paths: []string{"/a"}}}, "ambiguous"},
		{"literal canonicalised", []Route{{ID: 1, Paths: []string{"/%41"}}, {ID: 2, Paths: []string{"/A"}}}, "ambiguous"},
		{"disjoint methods", []Route{{ID: 1, Paths: []string{"/a"}, Methods: []string{"GET"}}, {ID: 2, Paths: []string{"/a"}, Methods: []string{"POST"}}}, ""},
		{"explicit vs any", []Route{{ID: 1, Paths: []string{"/a"}, Methods: []string{"GET"}}, {ID: 2, Paths: []string{"/a"}}}, ""},
		{"different headers", []Route{{ID: 1, Paths: []string{"/a"}, Headers: map[string]string{"X-A": "1"}}, {ID: 2, Paths: []string{"/a"}}}, ""},
		{"different hosts", []Route{{ID: 1, Hosts: []string{"a.com"}, Paths: []string{"/a"}}, {ID: 2, Hosts: []string{"*.a.com"}, Paths: []string{"/a"}}}, ""},
		{"exact vs subtree", []Route{{ID: 1, Paths: []string{"/a/{$}"}}, {ID: 2, Paths: []string{"/a/"}}}, ""},
		{"same route twice", []Route{{ID: 1, Hosts: []string{"a.com", "A.COM"}, Paths: []string{"/a/", "/a/{r...}"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.routes)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNewRejectsInvalid(t *testing.T) {
	tests := []struct {
		route Route
		want  string
	}{
		{Route{ID: 1, Paths: []string{"v1/orders"}}, "route 1: path \"v1/orders\": must start with '/'"},
		{Route{ID: 2, Paths: []string{""}}, "route 2"},
		{Route{ID: 3, Paths: []string{"/a//b"}}, "empty segment"},
		{Route{ID: 4, Paths: []string{"/a/{rest...}/b"}}, "must be at the end"},
		{Route{ID: 5, Paths: []string{"/a/{$}/b"}}, "must be at the end"},
		{Route{ID: 6, Paths: []string{"/a/x{id}"}}, "whole segment"},
		{Route{ID: 7, Paths: []string{"/a/{1x}"}}, "not a Go identifier"},
		{Route{ID: 8, Paths: []string{"/a/{}"}}, "not a Go identifier"},
		{Route{ID: 9, Paths: []string{"/{x}/{x}"}}, "duplicate wildcard name"},
		{Route{ID: 10, Paths: []string{"/a/../b"}}, "'.' or '..' segment"},
		{Route{ID: 11, Paths: []string{"/a%2Fb"}}, "encoded slash"},
		{Route{ID: 12, Paths: []string{"/a\\b"}}, "backslash"},
		{Route{ID: 13, Methods: []string{"GE T"}}, "not an HTTP token"},
		{Route{ID: 14, Headers: map[string]string{"X_A B": "1"}}, "not an HTTP token"},
		{Route{ID: 15, Headers: map[string]string{"X-A": ""}}, "empty value"},
		{Route{ID: 16, Hosts: []string{"a.*.com"}}, "wildcard"},
		{Route{ID: 17, Hosts: []string{"a..com"}}, "empty label"},
		{Route{ID: 18, Hosts: []string{"a.com/x"}}, "no ports, paths"},
		{Route{ID: 19, Headers: map[string]string{"x-a": "1", "X-A": "2"}}, "matched twice"},
		{Route{ID: 20, Paths: []string{"/a/{x...}/"}}, "must be at the end"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := New([]Route{tt.route})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNewJoinsAllErrors(t *testing.T) {
	_, err := New([]Route{
		{ID: 1, Paths: []string{"bad"}},
		{ID: 2, Methods: []string{"B A D"}},
		{ID: 3, Paths: []string{"/x"}},
		{ID: 4, Paths: []string{"/x"}},
	})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"route 1:", "route 2:", "routes 3 and 4"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	r := mustNew(t, []Route{
		{ID: 0, Hosts: []string{"api.example.com"}, Paths: []string{"/v1/orders"}, Methods: []string{"GET"}},
		{ID: 1, Hosts: []string{"*.example.com"}, Paths: []string{"/v1/orders/{id}/items/{item}"}, Headers: map[string]string{"X-A": "*"}},
		{ID: 2, Paths: []string{"/files/{rest...}"}},
	})
	buf := make([]policy.Param, 0, 8)
	header := HeaderFunc(func(string) string { return "v" })
	cases := []struct{ host, path string }{
		{"API.example.com", "/v1/orders"},
		{"www.example.com", "/v1/orders/1/items/2"},
		{"other", "/files/a/b"},
	}
	for _, c := range cases {
		allocs := testing.AllocsPerRun(200, func() {
			if id, _, _, _, _ := r.Match(c.host, "GET", c.path, header, buf); id < 0 {
				t.Fatalf("no match for %s%s", c.host, c.path)
			}
		})
		if allocs != 0 {
			t.Errorf("%s%s: allocs = %v, want 0", c.host, c.path, allocs)
		}
	}
}
