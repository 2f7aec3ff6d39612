// Package metrics exposes the gateway's Prometheus metrics on its own
// registry (never the global one, so tests and several gateways in one
// process do not collide).
//
// Label cardinality is bounded: routes and plans come from config, methods
// are folded to the standard set, status codes to their class, and no label
// ever carries a raw path or a consumer id. Past MaxSeries label
// combinations new ones are folded into route="_other_".
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tollgate-dev/tollgate/internal/analytics"
)

// MaxSeries bounds the cached (route, method, class, plan) combinations.
const MaxSeries = 10000

const otherLabel = "_other_"

// latencyBuckets are the classic buckets (seconds), chosen for an API
// gateway: sub-millisecond cache hits to multi-second slow upstreams.
var latencyBuckets = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics holds every collector of the gateway.
type Metrics struct {
	reg *prometheus.Registry

	requests   *prometheus.CounterVec
	latency    *latencyCollector // both latency histograms (latency.go)
	bytesIn    *prometheus.CounterVec
	bytesOut   *prometheus.CounterVec
	inFlight   prometheus.GaugeFunc
	inFlightN  atomic.Int64 // an integer add per request, not a float CAS loop
	rejections *prometheus.CounterVec
	cache      *prometheus.CounterVec
	reloads    *prometheus.CounterVec
	lastReload prometheus.Gauge

	// children is a read-only snapshot: lock-free, allocation-free lookups on
	// the request path. Misses go to dirty (the full map) under mu; the
	// snapshot is rebuilt from dirty once misses reach its size, so inserts
	// cost amortised O(1) (the sync.Map scheme, without boxing the key).
	children  atomic.Pointer[map[childKey]*child]
	mu        sync.Mutex
	dirty     map[childKey]*child
	misses    int
	maxSeries int

	sources sources
}

type childKey struct {
	route, method, plan string
	class               int
}

// child holds the pre-resolved label children for one childKey.
type child struct {
	requests prometheus.Counter
	latency  *latencyPair
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
}

// New builds the metrics and registers them (plus Go and process collectors).
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), dirty: map[childKey]*child{}, maxSeries: MaxSeries}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_requests_total", Help: "Requests handled, by route, method, status class and consumer plan.",
	}, []string{"route", "method", "status_class", "plan"})
	m.latency = newLatencyCollector()
	m.bytesIn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_request_bytes_total", Help: "Request body bytes received, by route.",
	}, []string{"route"})
	m.bytesOut = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_response_bytes_total", Help: "Response body bytes sent, by route.",
	}, []string{"route"})
	m.inFlight = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tollgate_in_flight_requests", Help: "Requests being served right now.",
	}, func() float64 { return float64(m.inFlightN.Load()) })
	m.rejections = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_limit_rejections_total", Help: "Requests refused by a limit, by route and kind (rate_limit or quota).",
	}, []string{"route", "kind"})
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_cache_requests_total", Help: "Response cache lookups, by route and result (hit or miss).",
	}, []string{"route", "result"})
	m.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tollgate_config_reloads_total", Help: "Config reloads, by result (success or error).",
	}, []string{"result"})
	m.lastReload = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tollgate_config_last_reload_success_timestamp_seconds", Help: "Unix time of the last successful config reload.",
	})
	empty := map[childKey]*child{}
	m.children.Store(&empty)
	m.sources.init()
	m.reg.MustRegister(m.requests, m.latency, m.bytesIn, m.bytesOut, m.inFlight,
		m.rejections, m.cache, m.reloads, m.lastReload, &m.sources,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Pre-create the reload series so dashboards see zeros, not gaps.
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("error")
	return m
}

// Registry is the registry behind Handler (to add collectors of other packages).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the text exposition format (and OpenMetrics/protobuf when
// asked, which is how native histograms are scraped).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Observe records one finished request. Steady state: one map lookup, no allocation.
func (m *Metrics) Observe(e *analytics.Event) {
	k := childKey{route: e.Route, method: foldMethod(e.Method), plan: e.Plan, class: analytics.StatusClass(e.Status)}
	c := (*m.children.Load())[k]
	if c == nil {
		c = m.addChild(k)
	}
	c.requests.Inc()
	c.latency.observe(e.Latency, e.UpstreamLatency)
	if e.BytesIn > 0 {
		c.bytesIn.Add(float64(e.BytesIn))
	}
	if e.BytesOut > 0 {
		c.bytesOut.Add(float64(e.BytesOut))
	}
}

func (m *Metrics) addChild(k childKey) *child {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.dirty[k]
	if c == nil && len(m.dirty) >= m.maxSeries {
		// Over the bound: share the route="_other_" children and do not
		// remember k, so memory stays bounded whatever the input.
		k = childKey{route: otherLabel, method: k.method, plan: otherLabel, class: k.class}
		c = m.dirty[k]
	}
	if c == nil {
		c = m.newChild(k)
		m.dirty[k] = c
	}
	m.misses++
	if snap := *m.children.Load(); m.misses >= len(snap) {
		next := make(map[childKey]*child, len(m.dirty))
		for kk, v := range m.dirty {
			next[kk] = v
		}
		m.children.Store(&next)
		m.misses = 0
	}
	return c
}

// newChild resolves the label children of k.
func (m *Metrics) newChild(k childKey) *child {
	class := classLabel(k.class)
	plan := k.plan
	if plan == "" {
		plan = "none"
	}
	return &child{
		requests: m.requests.WithLabelValues(k.route, k.method, class, plan),
		latency:  m.latency.pair(k.route, k.method, class),
		bytesIn:  m.bytesIn.WithLabelValues(k.route),
		bytesOut: m.bytesOut.WithLabelValues(k.route),
	}
}

func classLabel(class int) string {
	if class == 0 {
		return "unknown"
	}
	return strconv.Itoa(class) + "xx"
}

// foldMethod maps a method to a constant label; anything non-standard is "OTHER".
func foldMethod(m string) string {
	switch m {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "PUT":
		return "PUT"
	case "PATCH":
		return "PATCH"
	case "DELETE":
		return "DELETE"
	case "HEAD":
		return "HEAD"
	case "OPTIONS":
		return "OPTIONS"
	case "CONNECT":
		return "CONNECT"
	case "TRACE":
		return "TRACE"
	}
	return "OTHER"
}

// RequestStarted and RequestFinished bracket a request for the in-flight gauge.
func (m *Metrics) RequestStarted()  { m.inFlightN.Add(1) }
func (m *Metrics) RequestFinished() { m.inFlightN.Add(-1) }

// RateLimited counts a request refused by a rate limit.
func (m *Metrics) RateLimited(route string) { m.rejections.WithLabelValues(route, "rate_limit").Inc() }

// QuotaExceeded counts a request refused by a plan quota.
func (m *Metrics) QuotaExceeded(route string) { m.rejections.WithLabelValues(route, "quota").Inc() }

// CacheHit and CacheMiss count response cache lookups.
func (m *Metrics) CacheHit(route string)  { m.cache.WithLabelValues(route, "hit").Inc() }
func (m *Metrics) CacheMiss(route string) { m.cache.WithLabelValues(route, "miss").Inc() }

// ConfigReloaded counts a reload attempt; err nil means it went live.
func (m *Metrics) ConfigReloaded(err error) {
	if err != nil {
		m.reloads.WithLabelValues("error").Inc()
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.lastReload.SetToCurrentTime()
}
