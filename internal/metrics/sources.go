package metrics

import (
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// TargetHealth is one upstream target as the upstream package sees it.
type TargetHealth struct {
	Service   string
	Target    string // e.g. "http://10.0.0.5:9001"; bounded by config
	Healthy   bool
	Ejections uint64 // cumulative passive-health ejections
}

// sources reads state owned by other packages at scrape time, through
// callbacks the integrator provides: nothing is copied on the request path.
type sources struct {
	mu       sync.RWMutex
	upstream func() []TargetHealth
	backends map[string]func() bool
	dropped  func() uint64

	healthyDesc, ejectDesc, backendDesc, droppedDesc *prometheus.Desc
}

func (s *sources) init() {
	s.backends = map[string]func() bool{}
	s.healthyDesc = prometheus.NewDesc("tollgate_upstream_target_healthy",
		"1 when the upstream target is in rotation, 0 when it is ejected or failing health checks.", []string{"service", "target"}, nil)
	s.ejectDesc = prometheus.NewDesc("tollgate_upstream_target_ejections_total",
		"Times the upstream target was ejected by passive health checks.", []string{"service", "target"}, nil)
	s.backendDesc = prometheus.NewDesc("tollgate_backend_up",
		"1 when the backend (store, counters) answers, 0 when it does not.", []string{"backend"}, nil)
	s.droppedDesc = prometheus.NewDesc("tollgate_usage_events_dropped_total",
		"Usage events dropped because the usage queue was full.", nil, nil)
}

// SetUpstreamSource installs the callback that lists upstream targets at scrape time.
func (m *Metrics) SetUpstreamSource(f func() []TargetHealth) {
	m.sources.mu.Lock()
	m.sources.upstream = f
	m.sources.mu.Unlock()
}

// SetBackendHealth installs a health callback for a backend ("store", "counters").
func (m *Metrics) SetBackendHealth(backend string, up func() bool) {
	m.sources.mu.Lock()
	m.sources.backends[backend] = up
	m.sources.mu.Unlock()
}

// SetUsageDroppedSource installs the callback for dropped usage events
// (analytics.Pipeline.Dropped).
func (m *Metrics) SetUsageDroppedSource(f func() uint64) {
	m.sources.mu.Lock()
	m.sources.dropped = f
	m.sources.mu.Unlock()
}

// Describe is left empty on purpose: an unchecked collector, because the
// upstream targets change with config.
func (s *sources) Describe(chan<- *prometheus.Desc) {}

func (s *sources) Collect(ch chan<- prometheus.Metric) {
	s.mu.RLock()
	upstream, dropped := s.upstream, s.dropped
	names := make([]string, 0, len(s.backends))
	for n := range s.backends {
		names = append(names, n)
	}
	sort.Strings(names)
	ups := make([]func() bool, len(names))
	for i, n := range names {
		ups[i] = s.backends[n]
	}
	s.mu.RUnlock()
	if upstream != nil {
		for _, t := range upstream() {
			ch <- prometheus.MustNewConstMetric(s.healthyDesc, prometheus.GaugeValue, boolValue(t.Healthy), t.Service, t.Target)
			ch <- prometheus.MustNewConstMetric(s.ejectDesc, prometheus.CounterValue, float64(t.Ejections), t.Service, t.Target)
		}
	}
	for i, n := range names {
		ch <- prometheus.MustNewConstMetric(s.backendDesc, prometheus.GaugeValue, boolValue(ups[i]()), n)
	}
	var d uint64
	if dropped != nil {
		d = dropped()
	}
	ch <- prometheus.MustNewConstMetric(s.droppedDesc, prometheus.CounterValue, float64(d))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
