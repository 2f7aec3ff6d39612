package app_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

// Paired benchmarks: on a shared machine separate sub-benchmarks drift by
// ±10%, more than the effects issues 4-6 ask about (≤5%, ≥0.9x, <15%). So
// one gateway serves both sides of a comparison and they alternate in short
// rounds of 2,000 requests (order A, B, B, A), timed over the same stretch
// of time; the ratio of their ns/op is the figure.
//
//	go test -run '^$' -bench BenchmarkPaired -benchtime 400000x ./internal/app/
//
// It reports ns/op of each side and B/A. The client and origin run in the
// same process, so the ratio is of the whole loop and understates what a
// policy costs the gateway alone; bench/run.sh pins the gateway to its own core.
func BenchmarkPaired(b *testing.B) {
	keyRL := "key_auth: {}\n      rate_limit: { limit: 1000000000, window: 1s, by: consumer }"
	transforms := `transform:
        request:
          headers: { add: { X-Gateway: tollgate, X-Route: "{{ .Path.rest }}" }, remove: [X-Debug] }
      validate_request: { spec: "` + petstore() + `", base_path: /b }`
	pairs := []struct {
		name     string
		policies string // of the B route ("/b/..."); A is the plain route
		pathB    string
		header   bool
		keys     int  // keys in the store (default 1 when header is set)
		quietB   bool // B is the plain route with the observers off
	}{
		// Issue 6: metrics and the usage pipeline on (the defaults; tracing
		// and the access log are off by default) against no observers.
		{name: "observers_on_vs_off", quietB: true},
		// Issue 3: key_auth with 1,000,000 keys in the store against plain
		// (seeding the keys takes about a minute).
		{name: "key_auth_1M_keys_vs_plain", policies: "key_auth: {}", pathB: "/b/items/1", header: true, keys: 1_000_000},
		// Issue 4: key_auth + rate_limit (memory) against the plain route.
		{name: "key_auth+rate_limit_vs_plain", policies: keyRL, pathB: "/b/items/1", header: true},
		// Issue 5: three header transforms + request validation against plain.
		{name: "transforms+validation_vs_plain", policies: transforms, pathB: "/b/pets?limit=10"},
	}
	for _, pc := range pairs {
		b.Run(pc.name, func(b *testing.B) {
			up := fastOrigin(b)
			dsn := "sqlite://" + filepath.Join(b.TempDir(), "data", "tollgate.db")
			key := ""
			if pc.header {
				key = seedKeys(b, dsn, max(pc.keys, 1))
			}
			cfg := "services:\n" + service("s", up) + "routes:\n"
			if pc.policies != "" {
				cfg += "  - name: b\n    service: s\n    match: { paths: [\"/b/{rest...}\"] }\n    policies:\n      " + pc.policies + "\n"
			}
			cfg += "  - name: a\n    service: s\n    match: { paths: [\"/{rest...}\"] }\n"
			g := startGatewayAt(b, dsn, cfg)
			gw := g.app.Gateway()
			obs := gw.Observer()
			if obs == nil {
				b.Fatal("the gateway has no observer installed")
			}
			client := &fasthttp.HostClient{Addr: strings.TrimPrefix(g.url, "http://"), MaxConns: 256}
			pathB := pc.pathB
			if pathB == "" {
				pathB = "/items/1"
			}
			side := func(isB bool) {
				gw.SetObserver(obs)
				if isB && pc.quietB {
					gw.SetObserver(nil)
				}
			}
			uris := [2]string{g.url + "/items/1", g.url + pathB} // A, B
			run := func(isB bool, n int) time.Duration {
				const workers = 16
				side(isB)
				errs := make(chan error, workers)
				var wg sync.WaitGroup
				start := time.Now()
				for w := range workers {
					k := n / workers
					if w < n%workers {
						k++
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						rq, rs := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
						defer fasthttp.ReleaseRequest(rq)
						defer fasthttp.ReleaseResponse(rs)
						uri := uris[0]
						if isB {
							uri = uris[1]
						}
						for range k {
							rq.SetRequestURI(uri)
							if isB && key != "" {
								rq.Header.Set("X-API-Key", key)
							}
							if err := client.Do(rq, rs); err != nil || rs.StatusCode() != 200 {
								errs <- fmt.Errorf("status %d, err %v: %s", rs.StatusCode(), err, rs.Body())
								return
							}
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				return time.Since(start)
			}
			const round = 2000
			run(false, round) // warm up connections, pools and caches
			run(true, round)
			var t [2]time.Duration
			var n [2]int
			b.ResetTimer()
			for done, r := 0, 0; done < b.N; r++ {
				k := min(round, b.N-done)
				isB := r%4 == 1 || r%4 == 2
				i := 0
				if isB {
					i = 1
				}
				t[i] += run(isB, k)
				n[i] += k
				done += k
			}
			b.StopTimer()
			gw.SetObserver(obs)
			if n[0] == 0 || n[1] == 0 {
				return // too few iterations for both sides
			}
			a, bb := float64(t[0].Nanoseconds())/float64(n[0]), float64(t[1].Nanoseconds())/float64(n[1])
			b.ReportMetric(a, "ns/op-A")
			b.ReportMetric(bb, "ns/op-B")
			b.ReportMetric(bb/a, "B/A")
		})
	}
}
