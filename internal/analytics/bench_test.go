package analytics

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"
)

type nullSink struct{}

func (nullSink) WriteRollups(context.Context, []Rollup) error { return nil }

func BenchmarkEmit(b *testing.B) {
	p := NewPipeline(nullSink{}, Options{}, nil)
	consumers := make([]string, 1000)
	for i := range consumers {
		consumers[i] = "consumer-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			p.Emit(Event{Time: time.Now(), Route: "orders", ConsumerID: consumers[i%len(consumers)], Method: "GET",
				Status: 200, Latency: time.Duration(i%5000) * time.Microsecond, BytesIn: 10, BytesOut: 100})
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(p.Dropped())/float64(b.N), "dropped/op")
	_ = p.Close(context.Background())
}

// aggregatorBytes feeds one minute of traffic from `consumers` consumers
// (routes each, `perRow` requests per row, log-normal latencies around 20 ms)
// into an aggregator and returns the heap it holds.
func aggregatorBytes(consumers, routes, perRow int) uint64 {
	rng := rand.New(rand.NewPCG(7, 8))
	names := make([]string, consumers)
	for i := range names {
		names[i] = fmt.Sprintf("consumer-%05d", i)
	}
	routeNames := []string{"orders", "users", "search", "billing"}[:routes]
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a := aggregator{minutes: map[int64]map[seriesKey]*rollupState{}}
	now := func() time.Time { return time.Time{} }
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for k := range perRow {
		for _, c := range names {
			for _, r := range routeNames {
				lat := time.Duration(math.Exp(rng.NormFloat64()*0.8+3) * float64(time.Millisecond))
				a.add(&Event{Time: t0.Add(time.Duration(k) * time.Millisecond), ConsumerID: c, Route: r, Status: 200, Latency: lat}, now)
			}
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(a)
	runtime.KeepAlive(names)
	return after.HeapAlloc - before.HeapAlloc
}

// TestAggregatorMemory10kConsumers states the aggregator's memory with
// 10,000 active consumers and checks it stays within the documented bound.
func TestAggregatorMemory10kConsumers(t *testing.T) {
	if testing.Short() {
		t.Skip("memory measurement")
	}
	got := aggregatorBytes(10000, 2, 20)
	t.Logf("10,000 consumers x 2 routes x 20 requests in one minute: %.1f MiB held (%d bytes per row)", float64(got)/(1<<20), got/20000)
	if got > 32<<20 {
		t.Fatalf("aggregator holds %d bytes for 20,000 rows, over the 32 MiB bound", got)
	}
}

// BenchmarkAggregate is the aggregator's cost per event (its throughput
// ceiling: past it the queue fills and Emit drops).
func BenchmarkAggregate(b *testing.B) {
	a := aggregator{minutes: map[int64]map[seriesKey]*rollupState{}}
	consumers := make([]string, 1000)
	for i := range consumers {
		consumers[i] = "consumer-" + strconv.Itoa(i)
	}
	t0 := time.Now()
	now := func() time.Time { return t0 }
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		a.add(&Event{Time: t0, Route: "orders", ConsumerID: consumers[i%len(consumers)], Status: 200,
			Latency: time.Duration(i%5000) * time.Microsecond}, now)
	}
}
