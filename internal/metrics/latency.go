package metrics

import (
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The two latency histograms of a (route, method, status class) series are
// our own, not client_golang's: its histogram costs about 400 instructions
// and five atomic operations per observation (hot/cold count swap, a float
// sum CAS loop, a sync.Map lookup with a boxed key for the native bucket),
// which made the two observations of every request ~3% of a proxied
// request's CPU. Here one uncontended mutex guards plain counters for both
// histograms of a request, and what is exposed is the same: classic buckets
// (latencyBuckets) and a native histogram of schema 3 (bucket factor
// 2^(1/8) ≈ 1.09, the schema client_golang picks for our factor 1.1),
// with the same bucket boundaries client_golang computes
// (TestLatencyMatchesClientGolang feeds both the same durations).

const (
	// nativeSchema: each power of two splits into 2^3 = 8 buckets.
	nativeSchema        = 3
	bucketsPerOctave    = 1 << nativeSchema
	minNativeOctave     = -20 // 2^-20 s ≈ 0.95 µs: at or below it, the zero bucket
	maxNativeOctave     = 15  // 2^16 s ≈ 18 h: above it, the top bucket
	nativeOctaves       = maxNativeOctave - minNativeOctave + 1
	minNativeKey        = minNativeOctave*bucketsPerOctave + 1
	maxNativeKey        = (maxNativeOctave + 1) * bucketsPerOctave
	nativeZeroThreshold = 1.0 / (1 << -minNativeOctave) // 2^-20 s
)

// nativeBounds are the fractions (in [0.5, 1)) at which schema 3 splits an
// octave, 2^(i/8 - 1): client_golang's nativeHistogramBounds[3], digit for
// digit, so a value on a boundary lands in the same bucket.
var nativeBounds = [bucketsPerOctave]float64{
	0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048,
	0.7071067811865475, 0.7711054127039704, 0.8408964152537144, 0.9170040432046711,
}

// nativeKey is the native bucket of v > 0 seconds: bucket k holds
// (2^((k-1)/8), 2^(k/8)]. Computed as client_golang does (Frexp, then the
// first bound not below the fraction), so both agree at every boundary.
func nativeKey(v float64) int {
	frac, exp := math.Frexp(v)
	i := 0 // the first bound not below frac (sort.SearchFloat64s without its calls)
	for i < bucketsPerOctave && nativeBounds[i] < frac {
		i++
	}
	return i + (exp-1)*bucketsPerOctave
}

// latencyCounts is one histogram's counters, guarded by its pair's mutex.
type latencyCounts struct {
	count   uint64
	sumNs   int64
	classic [len(latencyBuckets) + 1]uint64 // per bucket, not cumulative; the last is +Inf
	zero    uint64
	// native holds octaves of buckets, allocated when first used: a series
	// of latencies touches a few octaves of the 36 the range spans.
	native [nativeOctaves]*[bucketsPerOctave]uint64
}

// latencyBoundsNs are latencyBuckets in nanoseconds, for integer compares.
var latencyBoundsNs = func() (b [len(latencyBuckets)]int64) {
	for i, s := range latencyBuckets {
		b[i] = int64(math.Round(s * 1e9))
	}
	return b
}()

func (c *latencyCounts) observe(d time.Duration) {
	ns := int64(d)
	c.count++
	c.sumNs += ns
	i := 0
	for i < len(latencyBoundsNs) && ns > latencyBoundsNs[i] {
		i++
	}
	c.classic[i]++
	s := d.Seconds()
	if s <= nativeZeroThreshold {
		c.zero++
		return
	}
	k := min(nativeKey(s), maxNativeKey) - minNativeKey
	o := k / bucketsPerOctave
	if c.native[o] == nil {
		c.native[o] = new([bucketsPerOctave]uint64)
	}
	c.native[o][k%bucketsPerOctave]++
}

// latencyPair is the request and upstream histograms of one series.
type latencyPair struct {
	mu       sync.Mutex
	request  latencyCounts
	upstream latencyCounts
	created  time.Time
	labels   [3]string // route, method, status_class
}

// observe records a request's latency and, when it reached an upstream
// (upstream > 0), the upstream's.
func (p *latencyPair) observe(request, upstream time.Duration) {
	p.mu.Lock()
	p.request.observe(request)
	if upstream > 0 {
		p.upstream.observe(upstream)
	}
	p.mu.Unlock()
}

// latencyMetric is one histogram as a Prometheus metric: a snapshot taken
// under the pair's lock, so count, sum and every bucket agree.
type latencyMetric struct {
	desc    *prometheus.Desc
	labels  []string
	counts  latencyCounts
	created time.Time
}

func (m *latencyMetric) Desc() *prometheus.Desc { return m.desc }

func (m *latencyMetric) Write(out *dto.Metric) error {
	c := &m.counts
	h := &dto.Histogram{
		SampleCount:      &c.count,
		SampleSum:        ptr(float64(c.sumNs) / 1e9),
		Schema:           ptr(int32(nativeSchema)),
		ZeroThreshold:    ptr(nativeZeroThreshold),
		ZeroCount:        &c.zero,
		CreatedTimestamp: timestamppb.New(m.created),
	}
	var cum uint64
	for i, le := range latencyBuckets {
		cum += c.classic[i]
		h.Bucket = append(h.Bucket, &dto.Bucket{CumulativeCount: ptr(cum), UpperBound: ptr(le)})
	}
	// Native buckets: spans of consecutive keys, counts as deltas from the
	// previous bucket's (the protobuf exposition's encoding).
	var prevKey int
	var prevCount int64
	first := true
	for o, oct := range c.native {
		if oct == nil {
			continue
		}
		for i, n := range oct {
			if n == 0 {
				continue
			}
			key := o*bucketsPerOctave + i + minNativeKey
			switch {
			case first:
				h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: ptr(int32(key)), Length: ptr(uint32(0))})
			case key != prevKey+1:
				h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: ptr(int32(key - prevKey - 1)), Length: ptr(uint32(0))})
			}
			*h.PositiveSpan[len(h.PositiveSpan)-1].Length++
			h.PositiveDelta = append(h.PositiveDelta, int64(n)-prevCount)
			prevKey, prevCount, first = key, int64(n), false
		}
	}
	if len(h.PositiveSpan) == 0 && c.zero == 0 {
		// No observations yet: an empty span still marks the histogram as
		// native, as client_golang does.
		h.PositiveSpan = []*dto.BucketSpan{{Offset: ptr(int32(0)), Length: ptr(uint32(0))}}
	}
	out.Histogram = h
	out.Label = prometheus.MakeLabelPairs(m.desc, m.labels)
	return nil
}

func ptr[T any](v T) *T { return &v }

// latencyCollector exposes every series' two histograms.
type latencyCollector struct {
	request, upstream *prometheus.Desc
	mu                sync.Mutex
	pairs             map[[3]string]*latencyPair
}

func newLatencyCollector() *latencyCollector {
	labels := []string{"route", "method", "status_class"}
	return &latencyCollector{
		request: prometheus.NewDesc("tollgate_request_duration_seconds",
			"Time from request received to response finished.", labels, nil),
		upstream: prometheus.NewDesc("tollgate_upstream_duration_seconds",
			"Time spent waiting on the upstream.", labels, nil),
		pairs: map[[3]string]*latencyPair{},
	}
}

// pair returns the series for route, method and status class, made once.
func (c *latencyCollector) pair(route, method, class string) *latencyPair {
	k := [3]string{route, method, class}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pairs[k]
	if p == nil {
		p = &latencyPair{created: time.Now(), labels: k}
		c.pairs[k] = p
	}
	return p
}

func (c *latencyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.request
	ch <- c.upstream
}

func (c *latencyCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	pairs := make([]*latencyPair, 0, len(c.pairs))
	for _, p := range c.pairs {
		pairs = append(pairs, p)
	}
	c.mu.Unlock()
	for _, p := range pairs {
		req := &latencyMetric{desc: c.request, labels: p.labels[:], created: p.created}
		up := &latencyMetric{desc: c.upstream, labels: p.labels[:], created: p.created}
		p.mu.Lock()
		req.counts = p.request.snapshot()
		up.counts = p.upstream.snapshot()
		p.mu.Unlock()
		ch <- req
		ch <- up
	}
}

// snapshot copies the counters, octave arrays included.
func (c *latencyCounts) snapshot() latencyCounts {
	s := *c
	for i, o := range c.native {
		if o != nil {
			cp := *o
			s.native[i] = &cp
		}
	}
	return s
}
