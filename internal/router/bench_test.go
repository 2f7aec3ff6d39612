package router

import (
	"fmt"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// benchRouter builds n routes over several hosts (exact, wildcard, any), half
// static and half with params, and the requests that hit them.
type benchReq struct{ host, method, path string }

func benchRouter(b *testing.B, n int) (*Router, []benchReq) {
	hosts := []string{"", "api.example.com", "*.example.com", "shop.example.org", "*.tenants.example.net"}
	reqHosts := []string{"any.host", "api.example.com", "www.example.com", "shop.example.org", "a.tenants.example.net"}
	routes := make([]Route, 0, n)
	reqs := make([]benchReq, 0, n)
	for i := 0; i < n; i++ {
		h := i % len(hosts)
		var hs []string
		if hosts[h] != "" {
			hs = []string{hosts[h]}
		}
		var path, reqPath string
		if i%2 == 0 {
			path = fmt.Sprintf("/v%d/resource%d/list", i%3, i)
			reqPath = path
		} else {
			path = fmt.Sprintf("/v%d/resource%d/{id}/items/{item}", i%3, i)
			reqPath = fmt.Sprintf("/v%d/resource%d/12345/items/abc", i%3, i)
		}
		routes = append(routes, Route{ID: i, Hosts: hs, Paths: []string{path}, Methods: []string{"GET", "POST"}})
		reqs = append(reqs, benchReq{reqHosts[h], "GET", reqPath})
	}
	r, err := New(routes)
	if err != nil {
		b.Fatal(err)
	}
	return r, reqs
}

func benchmarkMatch(b *testing.B, n int) {
	r, reqs := benchRouter(b, n)
	// Cycle over at most 10 requests spread over the table, so both sizes do
	// the same work per op apart from the table size.
	step := len(reqs) / 10
	if step == 0 {
		step = 1
	}
	var sample []benchReq
	for i := 0; i < len(reqs); i += step {
		sample = append(sample, reqs[i])
	}
	params := make([]policy.Param, 0, 8)
	header := HeaderFunc(func(string) string { return "" })
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		q := sample[i%len(sample)]
		id, _, ps, _, _ := r.Match(q.host, q.method, q.path, header, params)
		if id < 0 {
			b.Fatalf("no match for %v", q)
		}
		params = ps
	}
}

func BenchmarkMatch10(b *testing.B)    { benchmarkMatch(b, 10) }
func BenchmarkMatch10000(b *testing.B) { benchmarkMatch(b, 10000) }

func BenchmarkCanonicalize(b *testing.B) {
	for _, p := range []string{"/v1/orders/12345/items", "/v1//orders/%7euser/%3fq"} {
		b.Run(p, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Canonicalize(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMatch10000AllRoutes cycles over every route, so the trie does not
// stay in cache: the realistic worst case for a large table.
func BenchmarkMatch10000AllRoutes(b *testing.B) {
	r, reqs := benchRouter(b, 10000)
	params := make([]policy.Param, 0, 8)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		q := reqs[i%len(reqs)]
		id, _, ps, _, _ := r.Match(q.host, q.method, q.path, nil, params)
		if id < 0 {
			b.Fatalf("no match for %v", q)
		}
		params = ps
	}
}
