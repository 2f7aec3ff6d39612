package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tollgate-dev/tollgate/internal/analytics"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/tracing"
)

func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("text parser: %v", err)
	}
	return fams
}

func find(fam *dto.MetricFamily, labels map[string]string) *dto.Metric {
	for _, m := range fam.GetMetric() {
		ok := true
		for k, v := range labels {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			ok = ok && found
		}
		if ok {
			return m
		}
	}
	return nil
}

func TestScrapeHasEverySeries(t *testing.T) {
	m := New()
	m.SetUpstreamSource(func() []TargetHealth {
		return []TargetHealth{{Service: "orders", Target: "http://127.0.0.1:9001", Healthy: true, Ejections: 2}}
	})
	m.SetBackendHealth("store", func() bool { return true })
	m.SetBackendHealth("counters", func() bool { return false })
	m.SetUsageDroppedSource(func() uint64 { return 7 })
	m.RequestStarted()
	m.Observe(&analytics.Event{Route: "orders-v1", Method: "GET", Status: 200, Plan: "free", Latency: 3 * time.Millisecond,
		UpstreamLatency: 2 * time.Millisecond, BytesIn: 10, BytesOut: 300, ConsumerID: "acme-secret-id"})
	m.Observe(&analytics.Event{Route: "orders-v1", Method: "BREW", Status: 503, Latency: time.Second})
	m.RateLimited("orders-v1")
	m.QuotaExceeded("orders-v1")
	m.CacheHit("orders-v1")
	m.CacheMiss("orders-v1")
	m.ConfigReloaded(nil)
	m.ConfigReloaded(errors.New("bad"))
	fams := scrape(t, m)

	checks := []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"tollgate_requests_total", map[string]string{"route": "orders-v1", "method": "GET", "status_class": "2xx", "plan": "free"}, 1},
		{"tollgate_requests_total", map[string]string{"method": "OTHER", "status_class": "5xx", "plan": "none"}, 1},
		{"tollgate_request_bytes_total", map[string]string{"route": "orders-v1"}, 10},
		{"tollgate_response_bytes_total", map[string]string{"route": "orders-v1"}, 300},
		{"tollgate_in_flight_requests", nil, 1},
		{"tollgate_upstream_target_healthy", map[string]string{"service": "orders"}, 1},
		{"tollgate_upstream_target_ejections_total", map[string]string{"service": "orders"}, 2},
		{"tollgate_limit_rejections_total", map[string]string{"kind": "rate_limit"}, 1},
		{"tollgate_limit_rejections_total", map[string]string{"kind": "quota"}, 1},
		{"tollgate_cache_requests_total", map[string]string{"result": "hit"}, 1},
		{"tollgate_cache_requests_total", map[string]string{"result": "miss"}, 1},
		{"tollgate_config_reloads_total", map[string]string{"result": "success"}, 1},
		{"tollgate_config_reloads_total", map[string]string{"result": "error"}, 1},
		{"tollgate_backend_up", map[string]string{"backend": "store"}, 1},
		{"tollgate_backend_up", map[string]string{"backend": "counters"}, 0},
		{"tollgate_usage_events_dropped_total", nil, 7},
	}
	for _, c := range checks {
		fam := fams[c.name]
		if fam == nil {
			t.Errorf("missing family %s", c.name)
			continue
		}
		mm := find(fam, c.labels)
		if mm == nil {
			t.Errorf("%s%v: no such series", c.name, c.labels)
			continue
		}
		var v float64
		switch {
		case mm.Counter != nil:
			v = mm.Counter.GetValue()
		case mm.Gauge != nil:
			v = mm.Gauge.GetValue()
		}
		if v != c.value {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.value)
		}
	}
	for _, h := range []string{"tollgate_request_duration_seconds", "tollgate_upstream_duration_seconds"} {
		fam := fams[h]
		if fam == nil || fam.GetType() != dto.MetricType_HISTOGRAM {
			t.Fatalf("%s missing or not a histogram", h)
		}
		if mm := find(fam, map[string]string{"route": "orders-v1", "status_class": "2xx"}); mm == nil || mm.Histogram.GetSampleCount() != 1 {
			t.Errorf("%s: no 2xx sample", h)
		}
	}
	body := scrapeText(t, m)
	if strings.Contains(body, "acme-secret-id") {
		t.Error("a consumer id leaked into a label")
	}
}

func scrapeText(t *testing.T, m *Metrics) string {
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestObserveDoesNotAllocate(t *testing.T) {
	m := New()
	e := analytics.Event{Route: "r", Method: "GET", Status: 200, Plan: "p", Latency: time.Millisecond, UpstreamLatency: time.Millisecond, BytesIn: 1, BytesOut: 2}
	m.Observe(&e)
	if n := testing.AllocsPerRun(1000, func() { m.Observe(&e) }); n != 0 {
		t.Fatalf("Observe allocates %v times per call", n)
	}
}

func TestCardinalityIsBounded(t *testing.T) {
	m := New()
	m.maxSeries = 100
	for i := range 150 {
		m.Observe(&analytics.Event{Route: fmt.Sprintf("r%d", i), Method: "GET", Status: 200})
	}
	if n := len(*m.children.Load()); n > 101 {
		t.Fatalf("%d children", n)
	}
	fam := scrape(t, m)["tollgate_requests_total"]
	if mm := find(fam, map[string]string{"route": otherLabel}); mm == nil || mm.Counter.GetValue() != 50 {
		t.Fatalf("overflow series not folded into %s", otherLabel)
	}
}

func BenchmarkObserve(b *testing.B) {
	m := New()
	routes := []string{"orders", "users", "billing", "search"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			m.Observe(&analytics.Event{Route: routes[i%4], Method: "GET", Status: 200 + (i%2)*300, Plan: "free",
				Latency: time.Duration(i%1000) * time.Microsecond, UpstreamLatency: time.Millisecond, BytesIn: 10, BytesOut: 100})
		}
	})
}

// BenchmarkRequestObservability is what the proxy adds per request with
// metrics on, tracing off, access log off and the usage pipeline on.
func BenchmarkRequestObservability(b *testing.B) {
	m := New()
	tr, _ := tracing.New(config.Tracing{})
	p := analytics.NewPipeline(discard{}, analytics.Options{}, nil)
	defer p.Close(context.Background())
	get := tracing.GetterFunc(func(string) string { return "" })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		m.RequestStarted()
		_, sp := tr.StartRequest(ctx, get)
		sp.End(200)
		m.RequestFinished()
		e := analytics.Event{Time: start, Route: "orders", ConsumerID: "acme", Plan: "free", Method: "GET", Status: 200,
			Latency: time.Since(start), BytesIn: 10, BytesOut: 100, TraceID: sp.TraceID()}
		m.Observe(&e)
		p.Emit(e)
	}
}

type discard struct{}

func (discard) WriteRollups(context.Context, []analytics.Rollup) error { return nil }
