package app_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

// Proxy benchmarks: the whole gateway in process, a fasthttp origin and a
// fasthttp client over loopback, so the figures compare chains, not stacks.
// Run on demand:
//
//	go test -run '^$' -bench BenchmarkProxy -benchtime 3s ./internal/app/
//
// Compare the ns/op of each scenario with "plain" from the same run.

func fastOrigin(b testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"id":42,"name":"widget","price":9.99,"tags":["a","b"]}`)
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

func seedKeys(b testing.TB, dsn string, n int) string {
	key, err := storetest.SeedKeys(context.Background(), dsn, "bench", "gold", n)
	if err != nil {
		b.Fatal(err)
	}
	return key
}

type scenario struct {
	name     string
	policies string
	plans    string
	keys     int  // keys in the store
	quiet    bool // no observers: metrics, usage pipeline and tracing off
	header   bool
	path     string
}

func BenchmarkProxy(b *testing.B) {
	scenarios := []scenario{
		{name: "plain"},
		{name: "plain_no_observability", quiet: true},
		{name: "key_auth_1M_keys", policies: "key_auth: {}", keys: 1_000_000, header: true},
		{name: "key_auth+rate_limit", policies: "key_auth: {}\n      rate_limit: { limit: 1000000000, window: 1s, by: consumer }", keys: 1, header: true},
		{name: "3_header_transforms+validation", path: "/pets?limit=10", policies: `transform:
        request:
          headers: { add: { X-Gateway: tollgate, X-Route: "{{ .Path.rest }}" }, remove: [X-Debug] }
      validate_request: { spec: "` + petstore() + `" }`},
		{name: "cache_hit", policies: "cache: { ttl: 60s }"},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) { benchScenario(b, sc) })
	}
}

func petstore() string {
	p, _ := filepath.Abs(filepath.Join("..", "openapi", "testdata", "petstore-expanded.yaml"))
	return p
}

func benchScenario(b *testing.B, sc scenario) {
	up := fastOrigin(b)
	dir := b.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "data", "tollgate.db")
	key := ""
	if sc.keys > 0 {
		key = seedKeys(b, dsn, sc.keys)
	}
	pol := ""
	if sc.policies != "" {
		pol = "    policies:\n      " + sc.policies + "\n"
	}
	cfg := "services:\n" + service("s", up) + "routes:\n  - name: r\n    service: s\n    match: { paths: [\"/{rest...}\"] }\n" + pol
	g := startGatewayAt(b, dsn, cfg)
	if sc.quiet {
		g.app.Gateway().SetObserver(nil)
		g.app.Gateway().SetTracer(nil)
	}
	path := "/items/1"
	if sc.path != "" {
		path = sc.path
	}
	client := &fasthttp.HostClient{Addr: strings.TrimPrefix(g.url, "http://"), MaxConns: 256}
	req := func() error {
		rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(rq)
		defer fasthttp.ReleaseResponse(rs)
		rq.SetRequestURI(g.url + path)
		if sc.header {
			rq.Header.Set("X-API-Key", key)
		}
		if err := client.Do(rq, rs); err != nil {
			return err
		}
		if rs.StatusCode() != 200 {
			return fmt.Errorf("status %d: %s", rs.StatusCode(), rs.Body())
		}
		return nil
	}
	if err := req(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := req(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
