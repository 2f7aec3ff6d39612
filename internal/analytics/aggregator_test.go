package analytics

import (
	"fmt"
	"testing"
	"time"
)

// One series across a minute boundary, and two series interleaved within a
// minute, land in their own rows: the aggregator's remembered last row must
// never carry an event into another minute or another series.
func TestAggregatorRowsPerMinuteAndSeries(t *testing.T) {
	a := aggregator{minutes: map[int64]map[seriesKey]*rollupState{}}
	t0 := time.Date(2026, 11, 27, 10, 0, 59, 0, time.UTC)
	for _, e := range []Event{
		{Time: t0, Route: "r", ConsumerID: "a", Status: 200},
		{Time: t0, Route: "r", ConsumerID: "b", Status: 200},
		{Time: t0, Route: "r", ConsumerID: "a", Status: 200},
		{Time: t0.Add(time.Second), Route: "r", ConsumerID: "a", Status: 200}, // next minute
	} {
		a.add(&e, time.Now)
	}
	got := map[string]int64{}
	for _, r := range a.takeAll() {
		got[r.Minute.Format("15:04")+" "+r.ConsumerID] += r.Requests
	}
	want := map[string]int64{"10:00 a": 2, "10:00 b": 1, "10:01 a": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("rows %v, want %v", got, want)
	}
}
