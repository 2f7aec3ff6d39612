package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// nativeCounts decodes a histogram's native buckets into key -> count.
func nativeCounts(t *testing.T, h *dto.Histogram) map[int]uint64 {
	t.Helper()
	out := map[int]uint64{}
	key, count, d := 0, int64(0), 0
	for i, sp := range h.GetPositiveSpan() {
		if i == 0 {
			key = int(sp.GetOffset())
		} else {
			key += int(sp.GetOffset())
		}
		for range sp.GetLength() {
			count += h.GetPositiveDelta()[d]
			d++
			if count < 0 {
				t.Fatalf("negative bucket count at key %d", key)
			}
			if count > 0 {
				out[key] = uint64(count)
			}
			key++
		}
	}
	if d != len(h.GetPositiveDelta()) {
		t.Fatalf("%d deltas for spans of %d buckets", len(h.GetPositiveDelta()), d)
	}
	return out
}

// TestLatencyMatchesClientGolang feeds the same durations to our histogram
// and to client_golang's with the same settings, and compares what each
// exposes: count, sum, classic buckets, schema, zero bucket and every
// native bucket. The durations include every classic bound, powers of two
// and schema-3 boundaries exactly, one nanosecond either side of each.
func TestLatencyMatchesClientGolang(t *testing.T) {
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "ref", Help: "ref", Buckets: latencyBuckets[:],
		NativeHistogramBucketFactor:    1.1,
		NativeHistogramZeroThreshold:   nativeZeroThreshold,
		NativeHistogramMaxBucketNumber: 0, // no resolution cut
	})
	var ours latencyCounts
	var ds []time.Duration
	for _, le := range latencyBuckets {
		ns := time.Duration(math.Round(le * 1e9))
		ds = append(ds, ns-1, ns, ns+1)
	}
	for o := minNativeOctave; o <= 10; o++ {
		for _, b := range nativeBounds {
			ns := time.Duration(math.Round(2 * b * math.Exp2(float64(o)) * 1e9))
			ds = append(ds, ns-1, ns, ns+1)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		// log-uniform from 100 ns to 100 s
		ds = append(ds, time.Duration(math.Exp(rng.Float64()*math.Log(1e9))*100))
	}
	ds = append(ds, 0, 1, 500, 953)
	for _, d := range ds {
		ref.Observe(d.Seconds())
		ours.observe(d)
	}

	var want, got dto.Metric
	if err := ref.Write(&want); err != nil {
		t.Fatal(err)
	}
	m := &latencyMetric{desc: prometheus.NewDesc("ours", "ours", nil, nil), counts: ours.snapshot(), created: time.Now()}
	if err := m.Write(&got); err != nil {
		t.Fatal(err)
	}
	w, g := want.GetHistogram(), got.GetHistogram()
	if g.GetSampleCount() != w.GetSampleCount() || math.Abs(g.GetSampleSum()-w.GetSampleSum()) > 1e-6*w.GetSampleSum() {
		t.Fatalf("count %d sum %v, want %d %v", g.GetSampleCount(), g.GetSampleSum(), w.GetSampleCount(), w.GetSampleSum())
	}
	if len(g.GetBucket()) != len(w.GetBucket()) {
		t.Fatalf("%d classic buckets, want %d", len(g.GetBucket()), len(w.GetBucket()))
	}
	for i, b := range w.GetBucket() {
		if gb := g.GetBucket()[i]; gb.GetUpperBound() != b.GetUpperBound() || gb.GetCumulativeCount() != b.GetCumulativeCount() {
			t.Errorf("classic le=%v: %d, want %d", b.GetUpperBound(), gb.GetCumulativeCount(), b.GetCumulativeCount())
		}
	}
	if g.GetSchema() != w.GetSchema() || g.GetZeroThreshold() != w.GetZeroThreshold() || g.GetZeroCount() != w.GetZeroCount() {
		t.Fatalf("schema %d zero threshold %v zero count %d, want %d %v %d",
			g.GetSchema(), g.GetZeroThreshold(), g.GetZeroCount(), w.GetSchema(), w.GetZeroThreshold(), w.GetZeroCount())
	}
	wn, gn := nativeCounts(t, w), nativeCounts(t, g)
	if len(gn) != len(wn) {
		t.Errorf("%d native buckets, want %d", len(gn), len(wn))
	}
	for k, n := range wn {
		if gn[k] != n {
			t.Errorf("native bucket %d: %d, want %d", k, gn[k], n)
		}
	}
	var total uint64
	for _, n := range gn {
		total += n
	}
	if total+g.GetZeroCount() != g.GetSampleCount() {
		t.Errorf("native buckets hold %d + zero %d, count is %d", total, g.GetZeroCount(), g.GetSampleCount())
	}
}

// TestLatencyEmptyIsNative: a series with no observation yet still reads
// as a native histogram (an empty span), as client_golang exposes it.
func TestLatencyEmptyIsNative(t *testing.T) {
	var got dto.Metric
	m := &latencyMetric{desc: prometheus.NewDesc("x", "x", nil, nil), created: time.Now()}
	if err := m.Write(&got); err != nil {
		t.Fatal(err)
	}
	h := got.GetHistogram()
	if len(h.GetPositiveSpan()) != 1 || h.GetSchema() != nativeSchema || len(h.GetBucket()) != len(latencyBuckets) {
		t.Fatalf("empty histogram: %v", h)
	}
}

// TestLatencyClampsBeyondRange: durations past the native range land in its
// top bucket, and the counts still add up.
func TestLatencyClampsBeyondRange(t *testing.T) {
	var c latencyCounts
	c.observe(100 * time.Hour)
	c.observe(time.Second)
	var got dto.Metric
	m := &latencyMetric{desc: prometheus.NewDesc("x", "x", nil, nil), counts: c.snapshot(), created: time.Now()}
	if err := m.Write(&got); err != nil {
		t.Fatal(err)
	}
	n := nativeCounts(t, got.GetHistogram())
	if n[maxNativeKey] != 1 || n[0] != 1 || len(n) != 2 {
		t.Fatalf("native buckets %v; want one at %d and one at 0", n, maxNativeKey)
	}
	if got.GetHistogram().GetBucket()[len(latencyBuckets)-1].GetCumulativeCount() != 1 || got.GetHistogram().GetSampleCount() != 2 {
		t.Fatalf("classic: %v", got.GetHistogram())
	}
}
