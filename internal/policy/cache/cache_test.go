package cache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/counters"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
)

// t0 is "now": the memory store's eviction (otter) runs on the wall clock,
// while freshness is judged on the request time the tests control.
var t0 = time.Now().Truncate(time.Second)

func decodeStrict(yml string, into any) error {
	dec := yaml.NewDecoder(strings.NewReader(yml))
	dec.KnownFields(true)
	return dec.Decode(into)
}

var routeSeq atomic.Int64

// build makes a cache handler on a fresh route name (the store registry is
// package-wide).
func build(t testing.TB, yml string, services map[string]any) (policy.Handler, string) {
	t.Helper()
	cfg := Definition.New()
	if err := decodeStrict(yml, cfg); err != nil {
		t.Fatal(err)
	}
	route := "route-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + string(rune('a'+routeSeq.Add(1)%26))
	h, err := cfg.Build(policy.BuildEnv{Route: policy.RouteInfo{Name: route}, Services: services})
	if err != nil {
		t.Fatal(err)
	}
	return h.(policy.Handler), route
}

// upstream answers with a fixed response and counts calls.
type upstream struct {
	calls  atomic.Int64
	status int
	hdr    http.Header
	body   func(ex *policytest.Exchange) string
	delay  time.Duration
}

func (u *upstream) next(ex policy.Exchange) error {
	u.calls.Add(1)
	if u.delay > 0 {
		time.Sleep(u.delay)
	}
	e := ex.(*policytest.Exchange)
	body := "hello"
	if u.body != nil {
		body = u.body(e)
	}
	hdr := http.Header{}
	for k, v := range u.hdr {
		hdr[k] = v
	}
	st := u.status
	if st == 0 {
		st = 200
	}
	e.Resp = &policytest.Response{Code: st, Hdr: hdr, BodyBuf: []byte(body)}
	return nil
}

type req struct {
	method, target string
	at             time.Duration
	hdr            map[string]string
	cons           *policy.Consumer
}

// do runs one request and returns X-Cache, the body and the exchange.
func do(t testing.TB, h policy.Handler, u *upstream, r req) (string, string, *policytest.Exchange) {
	t.Helper()
	m := r.method
	if m == "" {
		m = "GET"
	}
	ex := policytest.New(m, r.target)
	ex.At = t0.Add(r.at)
	for k, v := range r.hdr {
		ex.ReqHeader.Set(k, v)
	}
	ex.Cons = r.cons
	if err := h.Handle(ex, u.next); err != nil {
		t.Fatal(err)
	}
	xc := ex.Extra.Get("X-Cache")
	return xc, string(ex.Resp.BodyBuf), ex
}

func TestHitMissBypass(t *testing.T) {
	alice := &policy.Consumer{ID: "a"}
	cases := []struct {
		name    string
		cfg     string
		respHdr http.Header
		first   req
		second  req
		want    [2]string // X-Cache of first and second
		upCalls int64
	}{
		{"plain hit", "{ttl: 30s}", nil, req{target: "/x"}, req{target: "/x", at: time.Second}, [2]string{"MISS", "HIT"}, 1},
		{"expired after ttl", "{ttl: 30s}", nil, req{target: "/x"}, req{target: "/x", at: 31 * time.Second}, [2]string{"MISS", "MISS"}, 2},
		{"sorted query", "{}", nil, req{target: "/x?b=2&a=1"}, req{target: "/x?a=1&b=2"}, [2]string{"MISS", "HIT"}, 1},
		{"other query", "{}", nil, req{target: "/x?a=1"}, req{target: "/x?a=2"}, [2]string{"MISS", "MISS"}, 2},
		{"POST bypasses", "{}", nil, req{method: "POST", target: "/x"}, req{method: "POST", target: "/x"}, [2]string{"BYPASS", "BYPASS"}, 2},
		{"HEAD keyed apart", "{}", nil, req{target: "/x"}, req{method: "HEAD", target: "/x"}, [2]string{"MISS", "MISS"}, 2},
		{"request no-store", "{}", nil, req{target: "/x"}, req{target: "/x", hdr: map[string]string{"Cache-Control": "no-store"}}, [2]string{"MISS", "BYPASS"}, 2},
		{"request no-cache refetches", "{}", nil, req{target: "/x"}, req{target: "/x", hdr: map[string]string{"Cache-Control": "no-cache"}}, [2]string{"MISS", "MISS"}, 2},
		{"response max-age wins over ttl", "{ttl: 1h}", http.Header{"Cache-Control": {"max-age=10"}}, req{target: "/x"}, req{target: "/x", at: 11 * time.Second}, [2]string{"MISS", "MISS"}, 2},
		{"s-maxage wins over max-age", "{}", http.Header{"Cache-Control": {"max-age=1, s-maxage=100"}}, req{target: "/x"}, req{target: "/x", at: 50 * time.Second}, [2]string{"MISS", "HIT"}, 1},
		{"response no-store", "{}", http.Header{"Cache-Control": {"no-store"}}, req{target: "/x"}, req{target: "/x"}, [2]string{"MISS", "MISS"}, 2},
		{"response no-cache", "{}", http.Header{"Cache-Control": {"no-cache"}}, req{target: "/x"}, req{target: "/x"}, [2]string{"MISS", "MISS"}, 2},
		{"Set-Cookie never stored", "{}", http.Header{"Set-Cookie": {"s=1"}}, req{target: "/x"}, req{target: "/x"}, [2]string{"MISS", "MISS"}, 2},
		{"private not shared", "{}", http.Header{"Cache-Control": {"private, max-age=60"}}, req{target: "/x"}, req{target: "/x"}, [2]string{"MISS", "MISS"}, 2},
		{"private per consumer", "{}", http.Header{"Cache-Control": {"private, max-age=60"}}, req{target: "/x", cons: alice}, req{target: "/x", cons: alice}, [2]string{"MISS", "HIT"}, 1},
		{"Authorization without consumer", "{}", nil, req{target: "/x", hdr: map[string]string{"Authorization": "Bearer t"}}, req{target: "/x", hdr: map[string]string{"Authorization": "Bearer t"}}, [2]string{"MISS", "MISS"}, 2},
		{"Authorization with public", "{}", http.Header{"Cache-Control": {"public, max-age=60"}}, req{target: "/x", hdr: map[string]string{"Authorization": "Bearer t"}}, req{target: "/x", hdr: map[string]string{"Authorization": "Bearer t"}}, [2]string{"MISS", "HIT"}, 1},
		{"Vary star", "{}", http.Header{"Vary": {"*"}}, req{target: "/x"}, req{target: "/x"}, [2]string{"MISS", "MISS"}, 2},
		{"too big streams uncached", "{max_object_bytes: 3}", nil, req{target: "/x"}, req{target: "/x"}, [2]string{"MISS", "MISS"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := build(t, tc.cfg, nil)
			u := &upstream{hdr: tc.respHdr}
			x1, _, _ := do(t, h, u, tc.first)
			x2, body, _ := do(t, h, u, tc.second)
			if [2]string{x1, x2} != tc.want || u.calls.Load() != tc.upCalls {
				t.Fatalf("X-Cache %s/%s, upstream calls %d; want %v and %d", x1, x2, u.calls.Load(), tc.want, tc.upCalls)
			}
			if tc.second.method != "HEAD" && body != "hello" {
				t.Fatalf("body %q", body)
			}
		})
	}
}

func TestHitHeaders(t *testing.T) {
	h, _ := build(t, "{}", nil)
	u := &upstream{hdr: http.Header{"Content-Type": {"application/json"}, "Set-Cookie": nil, "Ratelimit-Remaining": {"5"}, "Connection": {"x"}}}
	do(t, h, u, req{target: "/x"})
	_, _, ex := do(t, h, u, req{target: "/x", at: 5 * time.Second})
	hd := ex.Resp.Hdr
	if hd.Get("Content-Type") != "application/json" || hd.Get("Age") != "5" || hd.Get("Ratelimit-Remaining") != "" || hd.Get("Connection") != "" {
		t.Fatalf("hit headers: %v", hd)
	}
	_, _, head := do(t, h, u, req{method: "HEAD", target: "/x"})
	do(t, h, u, req{method: "HEAD", target: "/x"})
	_ = head
}

func TestVary(t *testing.T) {
	h, _ := build(t, "{}", nil)
	u := &upstream{hdr: http.Header{"Vary": {"Accept-Language"}}, body: func(e *policytest.Exchange) string {
		return "lang=" + e.ReqHeader.Get("Accept-Language")
	}}
	lang := func(l string) req { return req{target: "/x", hdr: map[string]string{"Accept-Language": l}} }
	for i, tc := range []struct{ lang, xc, body string }{
		{"en", "MISS", "lang=en"}, {"en", "HIT", "lang=en"}, {"fr", "MISS", "lang=fr"}, {"fr", "HIT", "lang=fr"}, {"en", "HIT", "lang=en"},
	} {
		xc, body, _ := do(t, h, u, lang(tc.lang))
		if xc != tc.xc || body != tc.body {
			t.Fatalf("step %d: %s %q, want %s %q", i, xc, body, tc.xc, tc.body)
		}
	}
}

func TestConsumerIsolation(t *testing.T) {
	h, _ := build(t, "{}", nil)
	u := &upstream{body: func(e *policytest.Exchange) string { return "secret of " + e.Cons.ID }}
	a, b := &policy.Consumer{ID: "A"}, &policy.Consumer{ID: "B"}
	if _, body, _ := do(t, h, u, req{target: "/me", cons: a}); body != "secret of A" {
		t.Fatal(body)
	}
	for range 3 {
		if _, body, _ := do(t, h, u, req{target: "/me", cons: b}); body != "secret of B" {
			t.Fatalf("consumer B got %q", body)
		}
	}
	if xc, body, _ := do(t, h, u, req{target: "/me", cons: a}); xc != "HIT" || body != "secret of A" {
		t.Fatalf("A: %s %q", xc, body)
	}
	if u.calls.Load() != 2 {
		t.Fatalf("upstream calls %d, want 2", u.calls.Load())
	}
}

func TestCoalescing(t *testing.T) {
	h, _ := build(t, "{}", nil)
	u := &upstream{delay: 100 * time.Millisecond}
	var wg sync.WaitGroup
	var bad atomic.Int64
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ex := policytest.New("GET", "/cold")
			ex.At = t0
			if err := h.Handle(ex, u.next); err != nil || string(ex.Resp.BodyBuf) != "hello" {
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := u.calls.Load(); n != 1 || bad.Load() != 0 {
		t.Fatalf("100 concurrent cold requests made %d upstream calls (%d bad), want 1", n, bad.Load())
	}
}

func TestPurge(t *testing.T) {
	h, route := build(t, "{}", nil)
	u := &upstream{}
	do(t, h, u, req{target: "/a/1"})
	do(t, h, u, req{target: "/a/2?x=1"})
	do(t, h, u, req{target: "/b"})
	if n := Purge(route, "/a"); n < 2 {
		t.Fatalf("purged %d, want the /a entries", n)
	}
	if xc, _, _ := do(t, h, u, req{target: "/a/1"}); xc != "MISS" {
		t.Fatalf("/a/1 after purge: %s", xc)
	}
	if xc, _, _ := do(t, h, u, req{target: "/b"}); xc != "HIT" {
		t.Fatalf("/b must survive: %s", xc)
	}
}

// TestStoreSurvivesRebuild: a reload rebuilds the handler with the same
// BuildEnv.State, entries must stay.
func TestStoreSurvivesRebuild(t *testing.T) {
	state := map[string]any{}
	env := policy.BuildEnv{Route: policy.RouteInfo{Name: "rebuild"}, State: func(k string, mk func() any) any {
		if v, ok := state[k]; ok {
			return v
		}
		state[k] = mk()
		return state[k]
	}}
	u := &upstream{}
	for i, want := range []string{"MISS", "HIT"} {
		h, err := (&Config{}).Build(env)
		if err != nil {
			t.Fatal(err)
		}
		if xc, _, _ := do(t, h.(policy.Handler), u, req{target: "/x"}); xc != want {
			t.Fatalf("build %d: %s", i, xc)
		}
	}
}

func TestRedisBackend(t *testing.T) {
	base := os.Getenv("TOLLGATE_TEST_REDIS")
	if base == "" {
		t.Skip("set TOLLGATE_TEST_REDIS=redis://127.0.0.1:6379/0 to run")
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "tgtest:" + hex.EncodeToString(b) + ":"
	open := func() counters.Counters {
		c, err := counters.Open(base+"?prefix="+prefix, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Two nodes: node 2 hits what node 1 stored.
	c1, c2 := open(), open()
	cfg := &Config{Backend: "redis"}
	env := func(c counters.Counters) policy.BuildEnv {
		return policy.BuildEnv{Route: policy.RouteInfo{Name: "shared"}, Services: map[string]any{"counters": c}}
	}
	h1, err := cfg.Build(env(c1))
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := cfg.Build(env(c2))
	u := &upstream{}
	t.Cleanup(func() { Purge("shared", "") })
	ref := req{target: "/r"}
	if xc, _, _ := do(t, h1.(policy.Handler), u, ref); xc != "MISS" {
		t.Fatal(xc)
	}
	if xc, body, _ := do(t, h2.(policy.Handler), u, ref); xc != "HIT" || body != "hello" {
		t.Fatalf("node 2: %s %q", xc, body)
	}
	if n := Purge("shared", "/r"); n != 2 { // the entry and its vary index
		t.Fatalf("purged %d", n)
	}
	if xc, _, _ := do(t, h2.(policy.Handler), u, ref); xc != "MISS" {
		t.Fatal(xc)
	}
	if _, err := (&Config{Backend: "redis"}).Build(policy.BuildEnv{}); err == nil {
		t.Fatal("redis backend without redis counters must fail Build")
	}
	_ = context.Background()
}

func TestValidate(t *testing.T) {
	for _, y := range []string{"{ttl: -1s}", "{backend: disk}", "{max_bytes: -1}"} {
		cfg := &Config{}
		if err := decodeStrict(y, cfg); err != nil {
			t.Fatal(err)
		}
		if len(cfg.Validate()) == 0 {
			t.Errorf("%s: want an error", y)
		}
	}
}

func TestReadmeExample(t *testing.T) { policytest.CheckREADME(t, Definition) }

func TestParseCacheControl(t *testing.T) {
	for in, want := range map[string]directives{
		"":                             {maxAge: -1, sMaxAge: -1},
		"no-store":                     {noStore: true, maxAge: -1, sMaxAge: -1},
		"Private, Max-Age=60":          {private: true, maxAge: 60, sMaxAge: -1},
		`public, s-maxage="30"`:        {public: true, maxAge: -1, sMaxAge: 30},
		"max-age=abc, no-cache":        {noCache: true, maxAge: 0, sMaxAge: -1},
		"max-age=99999999999999999999": {maxAge: 0, sMaxAge: -1},
		"max-age=-5":                   {maxAge: 0, sMaxAge: -1},
	} {
		if got := parseCacheControl(in); got != want {
			t.Errorf("%q: %+v, want %+v", in, got, want)
		}
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"no-store", "max-age=60, private", `s-maxage="1"`, ",,=,", "max-age=1e9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := parseCacheControl(s)
		if d.maxAge < -1 || d.sMaxAge < -1 {
			t.Fatalf("negative age from %q", s)
		}
		parseVary([]string{s})
		normalQuery(s)
	})
}

func BenchmarkCacheHit(b *testing.B) {
	h, _ := build(b, "{}", nil)
	u := &upstream{hdr: http.Header{"Content-Type": {"application/json"}}}
	do(b, h, u, req{target: "/bench?b=2&a=1"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ex := policytest.New("GET", "/bench?a=1&b=2")
			ex.At = t0
			if err := h.Handle(ex, u.next); err != nil || !ex.Responded {
				b.Fatal("miss")
			}
		}
	})
}

// TestVersionsKeptApart: two API versions of one route on the same path
// (header versioning) never share entries.
func TestVersionsKeptApart(t *testing.T) {
	state := map[string]any{}
	stateFn := func(k string, mk func() any) any {
		if v, ok := state[k]; ok {
			return v
		}
		state[k] = mk()
		return state[k]
	}
	var hs []policy.Handler
	for _, v := range []string{"v1", "v2"} {
		h, err := (&Config{}).Build(policy.BuildEnv{Route: policy.RouteInfo{Name: "versioned", Version: v}, State: stateFn})
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h.(policy.Handler))
	}
	v1 := &upstream{body: func(*policytest.Exchange) string { return "one" }}
	v2 := &upstream{body: func(*policytest.Exchange) string { return "two" }}
	do(t, hs[0], v1, req{target: "/x"})
	if xc, body, _ := do(t, hs[1], v2, req{target: "/x"}); xc != "MISS" || body != "two" {
		t.Fatalf("v2 got %s %q", xc, body)
	}
	if n := Purge("versioned", ""); n < 4 {
		t.Fatalf("purge of the route covers both versions, purged %d", n)
	}
}
