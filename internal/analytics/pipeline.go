package analytics

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// Options tunes a Pipeline. Zero values take the defaults shown.
type Options struct {
	QueueSize     int           // events buffered between Emit and the aggregator; defaultQueueSize()
	Grace         time.Duration // how long after its end a minute stays open for late events; 5s
	FlushInterval time.Duration // how often closed minutes are looked for; 1s
	BatchSize     int           // rollups per Sink call; 500
	WriteTimeout  time.Duration // per Sink call; 10s
	RetryMin      time.Duration // first backoff after a failed write; 100ms
	RetryMax      time.Duration // backoff cap; 30s
	// MaxPending is how many unwritten rollups are kept in memory while the
	// sink fails; beyond it they are spilled to SpillDir. 100000.
	MaxPending int
	// SpillDir holds usage-spill.jsonl. "" keeps everything in memory
	// (and Close reports rollups it could not deliver as lost).
	SpillDir string
	Now      func() time.Time // clock, for tests; time.Now
}

// OptionsFor maps the config (telemetry.usage) and the data directory
// (where the spill file lives) to Options; the rest keep their defaults.
func OptionsFor(cfg config.Usage, dataDir string) Options {
	return Options{QueueSize: cfg.QueueSize, SpillDir: dataDir}
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.QueueSize, defaultQueueSize(runtime.GOMAXPROCS(0)))
	def(&o.BatchSize, 500)
	def(&o.MaxPending, 100000)
	defd(&o.Grace, 5*time.Second)
	defd(&o.FlushInterval, time.Second)
	defd(&o.WriteTimeout, 10*time.Second)
	defd(&o.RetryMin, 100*time.Millisecond)
	defd(&o.RetryMax, 30*time.Second)
	if o.Now == nil {
		o.Now = time.Now
	}
}

// drainInterval is how often the aggregator empties the queue; the queue
// must hold that much traffic.
const drainInterval = 20 * time.Millisecond

// defaultQueueSize sizes the queue by the cores that can fill it: 4,096
// events per core holds 20 ms of 200k req/s per core, two to four times
// what one core proxies, capped at 65,536 (10 MiB). The queue's memory is
// allocated up front and scanned by every GC (an Event holds strings), so
// it is not sized for cores the process cannot use: 16,384 events on one
// core were 2.5 MiB of a gateway's live heap under load.
func defaultQueueSize(procs int) int {
	return min(max(procs, 1)*4096, 65536)
}

// Pipeline is the bounded queue plus the aggregator and the writer.
type Pipeline struct {
	sink  Sink
	opts  Options
	log   *slog.Logger
	queue chan Event

	dropped atomic.Uint64
	closed  atomic.Bool
	stop    chan struct{} // closed by Close: drain the queue, flush every minute
	aggDone chan struct{}

	agg aggregator // owned by the aggregator goroutine

	pending      pendingQueue
	writerCtx    context.Context
	cancelWriter context.CancelFunc
	draining     chan struct{} // closed once the aggregator has handed over everything
	writerDone   chan struct{}

	idPrefix    string
	seq         atomic.Uint64
	spillOffset int64 // bytes of the spill file already queued; owned by the writer
	closeMu     sync.Mutex
}

// NewPipeline starts the aggregator and writer goroutines. Rollups a previous
// process spilled to opts.SpillDir are loaded and sent again first.
func NewPipeline(sink Sink, opts Options, log *slog.Logger) *Pipeline {
	opts.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Pipeline{
		sink: sink, opts: opts, log: log,
		queue:      make(chan Event, opts.QueueSize),
		stop:       make(chan struct{}),
		aggDone:    make(chan struct{}),
		draining:   make(chan struct{}),
		writerDone: make(chan struct{}),
		idPrefix:   randomID(),
		agg:        aggregator{minutes: map[int64]map[seriesKey]*rollupState{}},
	}
	p.pending.wake = make(chan struct{}, 1)
	p.writerCtx, p.cancelWriter = context.WithCancel(context.Background())
	p.loadSpill()
	go p.aggregate()
	go p.write()
	return p
}

// Emit queues one event. It never blocks: when the queue is full (or the
// pipeline is closed) the event is counted in Dropped instead.
func (p *Pipeline) Emit(e Event) {
	if p == nil { // usage disabled: the proxy need not check
		return
	}
	if p.closed.Load() {
		p.dropped.Add(1)
		return
	}
	select {
	case p.queue <- e:
	default:
		p.dropped.Add(1)
	}
}

// Dropped is the number of events lost to a full queue or a closed pipeline.
func (p *Pipeline) Dropped() uint64 {
	if p == nil {
		return 0
	}
	return p.dropped.Load()
}

// Close stops taking events, flushes the queue and every open minute, and
// keeps writing until everything is in the sink or ctx ends. Whatever could
// not be written by then is spilled to SpillDir (and re-sent by the next
// Pipeline); an error says rollups were lost.
func (p *Pipeline) Close(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.closeMu.Lock()
	defer p.closeMu.Unlock()
	if p.closed.Swap(true) {
		return nil
	}
	close(p.stop)
	<-p.aggDone // the aggregator only does in-memory work: it finishes promptly
	close(p.draining)
	select {
	case <-p.writerDone:
	case <-ctx.Done():
		p.cancelWriter()
		<-p.writerDone
	}
	p.cancelWriter()
	return p.spillOnClose()
}

func (p *Pipeline) spillOnClose() error {
	// Batches read back from the spill file are still in it (the next
	// process reads the file from the start), so only fresh ones are appended.
	left, _, _ := withoutSpilled(p.pending.takeAll())
	if len(left) == 0 {
		return nil
	}
	n := countRollups(left)
	if p.opts.SpillDir == "" {
		return fmt.Errorf("analytics: %d usage rollups could not be written and no spill dir is set", n)
	}
	if err := appendSpill(p.opts.SpillDir, left); err != nil {
		return fmt.Errorf("analytics: %d usage rollups lost: %w", n, err)
	}
	p.log.Warn("usage store unavailable at shutdown; rollups spilled to disk", "rollups", n)
	return nil
}

// aggregate drains the queue on a short ticker rather than blocking on it:
// a goroutine parked on a channel is woken by every send, which would cost
// the request path a scheduler handoff per request; a polled buffer costs a
// send into a buffer.
func (p *Pipeline) aggregate() {
	defer close(p.aggDone)
	tick := time.NewTicker(p.opts.FlushInterval)
	defer tick.Stop()
	drain := time.NewTicker(drainInterval)
	defer drain.Stop()
	for {
		select {
		case <-drain.C:
			p.drainQueue()
		case <-tick.C:
			p.drainQueue()
			p.handOver(p.agg.takeClosed(p.opts.Now().Add(-p.opts.Grace)))
		case <-p.stop:
			p.drainQueue()
			p.handOver(p.agg.takeAll())
			return
		}
	}
}

func (p *Pipeline) drainQueue() {
	for {
		select {
		case e := <-p.queue:
			p.agg.add(&e, p.opts.Now)
		default:
			return
		}
	}
}

// handOver cuts rollups into batches with fresh ids and queues them for the writer.
func (p *Pipeline) handOver(rs []Rollup) {
	for len(rs) > 0 {
		n := min(len(rs), p.opts.BatchSize)
		b := batch{ID: fmt.Sprintf("%s-%d", p.idPrefix, p.seq.Add(1)), Rollups: rs[:n:n]}
		for i := range b.Rollups {
			b.Rollups[i].BatchID = b.ID
		}
		p.pending.push(b)
		rs = rs[n:]
	}
}

// write is the writer goroutine: oldest batch first, backoff on failure.
func (p *Pipeline) write() {
	defer close(p.writerDone)
	backoff := time.Duration(0)
	for {
		b, ok := p.pending.peek()
		if !ok {
			if p.waitForWork(backoff) {
				continue
			}
			return
		}
		if err := p.writeBatch(b); err != nil {
			backoff = nextBackoff(backoff, p.opts.RetryMin, p.opts.RetryMax)
			p.log.Warn("usage write failed; will retry", "err", err, "retry_in", backoff, "pending_rollups", p.pending.rollups())
			p.spillIfOverBound()
			if !p.sleep(backoff) {
				return
			}
			continue
		}
		backoff = 0
		p.pending.drop(b.ID)
		p.afterSuccess()
	}
}

// waitForWork returns false when there is nothing left to do, ever.
// Spilled batches are picked up again after a backoff pause, so a store that
// is still down costs one failed write per pause, not a memory spike per event.
func (p *Pipeline) waitForWork(backoff time.Duration) bool {
	var retrySpill <-chan time.Time
	if spillExists(p.opts.SpillDir) && !p.spillFullyRead() {
		t := time.NewTimer(max(backoff, p.opts.RetryMin))
		defer t.Stop()
		retrySpill = t.C
	}
	select {
	case <-retrySpill:
		p.loadSpill()
		return true
	case <-p.pending.wake:
		return true
	case <-p.draining:
		if _, ok := p.pending.peek(); ok {
			return true
		}
		p.loadSpill() // one last attempt at what an outage left on disk
		_, ok := p.pending.peek()
		return ok
	case <-p.writerCtx.Done():
		return false
	}
}

func (p *Pipeline) writeBatch(b batch) error {
	if p.writerCtx.Err() != nil {
		return p.writerCtx.Err()
	}
	ctx, cancel := context.WithTimeout(p.writerCtx, p.opts.WriteTimeout)
	defer cancel()
	return p.sink.WriteRollups(ctx, b.Rollups)
}

func (p *Pipeline) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.writerCtx.Done():
		return false
	}
}

func nextBackoff(cur, lo, hi time.Duration) time.Duration {
	if cur == 0 {
		return lo
	}
	return min(cur*2, hi)
}

func randomID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var errNoSpill = errors.New("analytics: no spill dir")
