package analytics

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"
)

// memSink is a fake Sink that applies each batch id once, like usagedb.
type memSink struct {
	mu       sync.Mutex
	applied  map[string]bool
	rows     []Rollup
	failNext int           // fail this many calls first
	block    chan struct{} // when set, writes wait for it or ctx
	calls    int
}

func newMemSink() *memSink { return &memSink{applied: map[string]bool{}} }

var errDown = errors.New("store down")

func (m *memSink) WriteRollups(ctx context.Context, rs []Rollup) error {
	m.mu.Lock()
	m.calls++
	block := m.block
	if m.failNext > 0 {
		m.failNext--
		m.mu.Unlock()
		return errDown
	}
	m.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		if r.BatchID == "" {
			panic("rollup without batch id")
		}
	}
	if m.applied[rs[0].BatchID] {
		return nil
	}
	m.applied[rs[0].BatchID] = true
	m.rows = append(m.rows, rs...)
	return nil
}

type tally struct{ requests, errors, clientErrors, bytesIn, bytesOut int64 }

func (m *memSink) totals() map[[2]string]tally {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sumRollups(m.rows)
}

func sumRollups(rs []Rollup) map[[2]string]tally {
	out := map[[2]string]tally{}
	for _, r := range rs {
		k := [2]string{r.ConsumerID, r.Route}
		t := out[k]
		t.requests += r.Requests
		t.errors += r.Errors
		t.clientErrors += r.ClientErrors
		t.bytesIn += r.BytesIn
		t.bytesOut += r.BytesOut
		out[k] = t
	}
	return out
}

var base = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// mix makes a deterministic set of events over several minutes and the tallies they should produce.
func mix(n int) ([]Event, map[[2]string]tally) {
	consumers := []string{"acme", "globex", ""}
	routes := []string{"orders", "users"}
	statuses := []int{200, 201, 404, 429, 500, 503}
	want := map[[2]string]tally{}
	evs := make([]Event, n)
	for i := range evs {
		e := Event{
			Time:       base.Add(time.Duration(i) * 250 * time.Millisecond),
			ConsumerID: consumers[i%3], Route: routes[i%2], Status: statuses[i%len(statuses)],
			Method: "GET", Latency: time.Duration(1+i%97) * time.Millisecond, BytesIn: int64(i % 10), BytesOut: int64(100 + i%7),
		}
		evs[i] = e
		k := [2]string{e.ConsumerID, e.Route}
		t := want[k]
		t.requests++
		if e.Status >= 500 {
			t.errors++
		} else if e.Status >= 400 {
			t.clientErrors++
		}
		t.bytesIn += e.BytesIn
		t.bytesOut += e.BytesOut
		want[k] = t
	}
	return evs, want
}

func fastOpts(t *testing.T) Options {
	return Options{FlushInterval: 10 * time.Millisecond, Grace: time.Millisecond, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond, SpillDir: t.TempDir()}
}

func TestPipelineCountsExactly(t *testing.T) {
	sink := newMemSink()
	p := NewPipeline(sink, fastOpts(t), nil)
	evs, want := mix(2000)
	for _, e := range evs {
		p.Emit(e)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Dropped() != 0 {
		t.Fatalf("dropped %d", p.Dropped())
	}
	assertTallies(t, sink.totals(), want)
}

func assertTallies(t *testing.T, got, want map[[2]string]tally) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d series, want %d", len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%v: got %+v want %+v", k, got[k], w)
		}
	}
}

func TestPipelineFlushesClosedMinutesWithoutClose(t *testing.T) {
	sink := newMemSink()
	p := NewPipeline(sink, fastOpts(t), nil)
	defer p.Close(context.Background())
	p.Emit(Event{Time: base, ConsumerID: "a", Route: "r", Status: 200})
	deadline := time.Now().Add(5 * time.Second)
	for len(sink.totals()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("closed minute was never flushed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPipelineRetriesFailedWrites(t *testing.T) {
	sink := newMemSink()
	sink.failNext = 4
	p := NewPipeline(sink, fastOpts(t), nil)
	evs, want := mix(600)
	for _, e := range evs {
		p.Emit(e)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertTallies(t, sink.totals(), want)
	if sink.calls < 5 {
		t.Fatalf("expected retries, got %d calls", sink.calls)
	}
}

func TestPipelineOverflowDropsWithoutBlocking(t *testing.T) {
	sink := newMemSink()
	sink.block = make(chan struct{}) // stalled store
	opts := fastOpts(t)
	opts.QueueSize = 16
	p := NewPipeline(sink, opts, nil)
	const n = 200000
	start := time.Now()
	for i := range n {
		p.Emit(Event{Time: base, ConsumerID: "c", Route: "r", Status: 200 + i%2})
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Emit blocked: %v for %d events", el, n)
	}
	if p.Dropped() == 0 {
		t.Fatal("a 16-slot queue took 200k events without a drop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err != nil { // store still stalled: spilled to disk
		t.Fatal(err)
	}
	p.Emit(Event{}) // after close: counted, no panic
	spilled, err := readSpill(opts.SpillDir)
	if err != nil {
		t.Fatal(err)
	}
	var got int64
	for _, b := range spilled {
		for _, r := range b.Rollups {
			got += r.Requests
		}
	}
	if got+int64(p.Dropped()) != n+1 {
		t.Fatalf("accepted %d + dropped %d != emitted %d", got, p.Dropped(), n+1)
	}
}

func TestPipelineSpillsAndResendsAfterRestart(t *testing.T) {
	down := newMemSink()
	down.failNext = 1 << 30
	opts := fastOpts(t)
	opts.MaxPending = 3
	opts.BatchSize = 2
	p := NewPipeline(down, opts, nil)
	evs, want := mix(3000)
	for _, e := range evs[:1500] {
		p.Emit(e)
	}
	// let the writer fail and spill while the pipeline runs
	deadline := time.Now().Add(5 * time.Second)
	for !spillExists(opts.SpillDir) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !spillExists(opts.SpillDir) {
		t.Fatal("nothing spilled while the store was down")
	}
	// More traffic during the outage: several read-back / fail / spill cycles.
	for i, e := range evs[1500:2250] {
		p.Emit(e)
		if i%5 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	spilled, err := readSpill(opts.SpillDir)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, b := range spilled {
		if ids[b.ID] {
			t.Fatalf("batch %s spilled twice: the file grows with each retry cycle", b.ID)
		}
		ids[b.ID] = true
	}
	up := newMemSink()
	p2 := NewPipeline(up, opts, nil) // restart: the spill file is re-sent
	for _, e := range evs[2250:] {
		p2.Emit(e)
	}
	if err := p2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertTallies(t, up.totals(), want)
	if spillExists(opts.SpillDir) {
		t.Fatal("spill file left behind after a successful re-send")
	}
}

func TestPipelineWithoutSpillDirReportsLoss(t *testing.T) {
	sink := newMemSink()
	sink.failNext = 1 << 30
	opts := fastOpts(t)
	opts.SpillDir = ""
	p := NewPipeline(sink, opts, nil)
	p.Emit(Event{Time: base, Route: "r", Status: 200})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil {
		t.Fatal("lost rollups were not reported")
	}
}

// TestSpillNeverDuplicates drives the writer's spill steps by hand: batches
// read back from the file and still pending when memory overflows again must
// not be appended a second time (the file would grow every retry cycle).
func TestSpillNeverDuplicates(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SpillDir: dir, MaxPending: 4}
	opts.defaults()
	p := &Pipeline{opts: opts, log: slog.New(slog.DiscardHandler)}
	p.pending.wake = make(chan struct{}, 1)
	mk := func(id string) batch {
		return batch{ID: id, Rollups: []Rollup{{BatchID: id, Requests: 1}, {BatchID: id, Requests: 1}}}
	}
	if err := appendSpill(dir, []batch{mk("a"), mk("b"), mk("c")}); err != nil {
		t.Fatal(err)
	}
	for cycle := range 5 {
		p.loadSpill() // reads back part of the file
		p.pending.push(mk("new" + strconv.Itoa(cycle)))
		p.pending.push(mk("more" + strconv.Itoa(cycle)))
		p.spillIfOverBound()
	}
	left, _, _ := withoutSpilled(p.pending.takeAll())
	if err := appendSpill(dir, left); err != nil {
		t.Fatal(err)
	}
	all, err := readSpill(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, b := range all {
		seen[b.ID]++
	}
	if len(seen) != 13 {
		t.Fatalf("%d distinct batches in the file, want 13: %v", len(seen), seen)
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("batch %s in the spill file %d times", id, n)
		}
	}
}

// TestDefaultQueueSize: the queue grows with the cores that can fill it,
// within bounds, and an explicit queue_size wins.
func TestDefaultQueueSize(t *testing.T) {
	for _, c := range []struct{ procs, want int }{
		{0, 4096}, {1, 4096}, {2, 8192}, {4, 16384}, {16, 65536}, {64, 65536},
	} {
		if got := defaultQueueSize(c.procs); got != c.want {
			t.Errorf("defaultQueueSize(%d) = %d, want %d", c.procs, got, c.want)
		}
	}
	o := Options{QueueSize: 7}
	o.defaults()
	if o.QueueSize != 7 {
		t.Errorf("explicit QueueSize became %d", o.QueueSize)
	}
}
