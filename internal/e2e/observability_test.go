package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

// statusOrigin answers /…/ok with 200, /…/missing with 404, /…/fail with 500,
// and records the traceparent it last saw.
func statusOrigin(t *testing.T, lastTraceparent *string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lastTraceparent != nil {
			*lastTraceparent = r.Header.Get("Traceparent")
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/fail"):
			w.WriteHeader(500)
		case strings.HasSuffix(r.URL.Path, "/missing"):
			w.WriteHeader(404)
		}
		io.WriteString(w, "body")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

type usageAnswer struct {
	Series []struct {
		Consumer, Route string
		Points          []struct {
			Requests     int64 `json:"requests"`
			Errors       int64 `json:"errors"`
			ClientErrors int64 `json:"client_errors"`
		}
	}
	Totals struct{ Requests, Errors int64 }
}

func total[K comparable](m map[K]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Issue 6: a known mix of requests per consumer, route and status comes back
// from GET /usage exactly, on SQLite and PostgreSQL, with a graceful restart
// in the middle of the run.
func TestUsageCountsAreExactAcrossARestart(t *testing.T) {
	for _, driver := range []string{"sqlite", "postgres"} {
		t.Run(driver, func(t *testing.T) {
			dsn := storetest.SQLiteDSN(t)
			if driver == "postgres" {
				dsn = storetest.PostgresDSN(t)
			}
			up := statusOrigin(t, nil)
			doc := fmt.Sprintf(`services:
  - name: s
    targets: [%q]
    passive: { consecutive_failures: 1000 }
routes:
  - name: alpha
    service: s
    match: { paths: ["/alpha/{rest...}"] }
    policies: { key_auth: {} }
  - name: beta
    service: s
    match: { paths: ["/beta/{rest...}"] }
    policies: { key_auth: {} }
`, up)
			settings := "store: \"" + dsn + "\""
			n := startNode(t, "usage-1", settings, doc)
			keys := map[string]string{}
			ids := map[string]string{}
			for _, name := range []string{"acme", "globex"} {
				var c struct{ ID string }
				n.call("POST", "/consumers", map[string]any{"name": name}, &c)
				var k struct{ Key string }
				n.call("POST", "/consumers/"+c.ID+"/keys", map[string]any{}, &k)
				keys[name], ids[name] = k.Key, c.ID
			}
			type cell struct{ consumer, route, outcome string }
			mix := map[cell]int{
				{"acme", "alpha", "ok"}: 7, {"acme", "alpha", "fail"}: 2, {"acme", "beta", "missing"}: 3,
				{"globex", "alpha", "ok"}: 4, {"globex", "beta", "ok"}: 5, {"globex", "beta", "fail"}: 1,
			}
			send := func(n *node, half int) {
				for c, count := range mix {
					for i := half; i < count; i += 2 {
						n.status("/"+c.route+"/"+c.outcome, "X-API-Key", keys[c.consumer])
					}
				}
			}
			send(n, 0)
			n.stop()
			n = startNode(t, "usage-2", settings, doc)
			send(n, 1)
			n.stop() // a graceful stop flushes the open minute
			n = startNode(t, "usage-3", settings, doc)

			from := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
			to := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
			// Rollups a stopping node could not write in time were spilled to
			// disk and are sent again by the next node: poll briefly.
			var u usageAnswer
			deadline := time.Now().Add(10 * time.Second)
			for {
				u = usageAnswer{}
				if code := n.call("GET", "/usage?granularity=hour&from="+from+"&to="+to, nil, &u); code != 200 {
					t.Fatalf("GET /usage: %d", code)
				}
				if u.Totals.Requests >= int64(total(mix)) || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			want := map[[2]string][3]int64{} // requests, 5xx, 4xx
			var total int64
			for c, count := range mix {
				k := [2]string{ids[c.consumer], c.route}
				v := want[k]
				v[0] += int64(count)
				if c.outcome == "fail" {
					v[1] += int64(count)
				}
				if c.outcome == "missing" {
					v[2] += int64(count)
				}
				want[k] = v
				total += int64(count)
			}
			got := map[[2]string][3]int64{}
			for _, s := range u.Series {
				v := got[[2]string{s.Consumer, s.Route}]
				for _, p := range s.Points {
					v[0] += p.Requests
					v[1] += p.Errors
					v[2] += p.ClientErrors
				}
				got[[2]string{s.Consumer, s.Route}] = v
			}
			for k, w := range want {
				if got[k] != w {
					t.Errorf("consumer %s route %s: got %v, want %v (requests, 5xx, 4xx)", k[0], k[1], got[k], w)
				}
			}
			for k, g := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected series consumer %q route %q: %v (requests, 5xx, 4xx)", k[0], k[1], g)
				}
			}
			if u.Totals.Requests != total {
				t.Errorf("total requests %d, want %d", u.Totals.Requests, total)
			}
		})
	}
}

// Issue 6: traceparent reaches the upstream with the same trace id and a new
// parent span id, and /metrics parses and has the promised series.
func TestTraceparentAndMetrics(t *testing.T) {
	var seen string
	up := statusOrigin(t, &seen)
	n := startNode(t, "obs", "store: \"sqlite://"+filepath.Join(t.TempDir(), "db")+"\"",
		fmt.Sprintf("services:\n  - name: s\n    targets: [%q]\nroutes:\n  - name: r\n    service: s\n    match: { paths: [\"/{rest...}\"] }\n", up))
	const traceID, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if code := n.status("/x/ok", "Traceparent", "00-"+traceID+"-"+parent+"-01"); code != 200 {
		t.Fatalf("status %d", code)
	}
	parts := strings.Split(seen, "-")
	if len(parts) != 4 || parts[1] != traceID || parts[2] == parent {
		t.Fatalf("upstream traceparent %q: want trace id %s and a new parent id", seen, traceID)
	}
	n.status("/x/fail")
	resp, err := http.Get(n.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	var names []string
	for name := range families {
		names = append(names, name)
	}
	for _, want := range []string{"requests_total", "request_duration_seconds", "upstream_duration_seconds", "in_flight", "upstream_target_healthy", "backend_up"} {
		found := false
		for name := range families {
			if strings.Contains(name, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("/metrics lacks a %q series; has %v", want, names)
		}
	}
	_ = json.Marshal
}
