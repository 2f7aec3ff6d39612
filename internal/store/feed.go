package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store/postgres"
)

// Change feed. Every write appends rows to the changes table in its own
// transaction. This node publishes its own changes right after commit; a
// poller reads rows written by other nodes (every pollInterval, and at once
// when PostgreSQL NOTIFY wakes it). Sequence numbers can commit out of order
// on PostgreSQL, so numbers skipped by the poll are re-checked for gapTTL.
const (
	pollInterval = time.Second
	gapTTL       = 10 * time.Second
	maxGapSpan   = 1000
	pruneEvery   = 5 * time.Minute
	keepChanges  = time.Hour
)

// resyncAfterOutage: when polls fail for longer than this, the first good
// poll also tells subscribers to reload everything (KindResync), since rows
// may have been pruned or skipped meanwhile. A variable for tests.
var resyncAfterOutage = 30 * time.Second

type feed struct {
	mu     sync.Mutex
	subs   []*subscription
	closed bool

	// poll state
	cursor int64               // highest sequence number seen
	seen   map[int64]bool      // delivered numbers above the low-water mark
	gaps   map[int64]time.Time // numbers below cursor not seen yet, and since when
	wake   chan struct{}
}

func newFeed(cursor int64) *feed {
	return &feed{cursor: cursor, seen: map[int64]bool{}, gaps: map[int64]time.Time{}, wake: make(chan struct{}, 1)}
}

func (s *sqlStore) startFeed(ctx context.Context, dsn string) error {
	var cursor int64
	if err := s.queryRow(ctx, "SELECT coalesce(max(seq), 0) FROM changes").Scan(&cursor); err != nil {
		return err
	}
	s.feed = newFeed(cursor)
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.pollLoop(bg) }()
	if s.d.name == "postgres" {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); postgres.Listen(bg, dsn, "tollgate_changes", s.feed.poke, s.log) }()
	}
	return nil
}

func (f *feed) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (s *sqlStore) pollLoop(ctx context.Context) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	lastPrune := time.Now()
	var outage outageLog
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.feed.wake:
		}
		if err := s.pollOnce(ctx); err != nil && ctx.Err() == nil {
			outage.failed(s.log, "store: change poll failed", err)
		} else if err == nil {
			if !outage.since.IsZero() && time.Since(outage.since) > resyncAfterOutage {
				s.feed.deliver([]Change{{Kind: KindResync}})
			}
			outage.ok(s.log, "store: change poll recovered")
		}
		if time.Since(lastPrune) > pruneEvery {
			lastPrune = time.Now()
			_, _ = s.db.ExecContext(ctx, s.d.rebind("DELETE FROM changes WHERE at < ?"), now().Add(-keepChanges))
		}
	}
}

type changeRow struct {
	seq int64
	c   Change
}

func (s *sqlStore) pollOnce(ctx context.Context) error {
	from := s.feed.lowWater()
	rows, err := s.query(ctx, "SELECT seq, kind, id, consumer_id FROM changes WHERE seq > ? ORDER BY seq LIMIT 5000", from)
	if err != nil {
		return err
	}
	var got []changeRow
	for rows.Next() {
		var r changeRow
		if err := rows.Scan(&r.seq, &r.c.Kind, &r.c.ID, &r.c.ConsumerID); err != nil {
			rows.Close()
			return err
		}
		got = append(got, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	s.feed.absorb(got, time.Now())
	if len(got) == 5000 {
		s.feed.poke() // more to read
	}
	return nil
}

// lowWater is where the next poll starts: just below the oldest open gap.
func (f *feed) lowWater() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	low := f.cursor
	for seq := range f.gaps {
		low = min(low, seq-1)
	}
	return low
}

// absorb delivers polled rows not yet delivered and updates the gap set.
func (f *feed) absorb(rows []changeRow, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Change
	for _, r := range rows {
		delete(f.gaps, r.seq)
		if r.seq > f.cursor {
			if r.seq-f.cursor-1 <= maxGapSpan {
				for missing := f.cursor + 1; missing < r.seq; missing++ {
					if !f.seen[missing] {
						f.gaps[missing] = at
					}
				}
			}
			f.cursor = r.seq
		}
		if !f.seen[r.seq] {
			f.seen[r.seq] = true
			out = append(out, r.c)
		}
	}
	for seq, since := range f.gaps {
		if at.Sub(since) > gapTTL {
			delete(f.gaps, seq) // rolled back, most likely
		}
	}
	low := f.cursor
	for seq := range f.gaps {
		low = min(low, seq-1)
	}
	for seq := range f.seen {
		if seq <= low {
			delete(f.seen, seq)
		}
	}
	f.deliverLocked(out)
}

// publishOwn delivers this node's committed changes at once and remembers
// their numbers so the poller does not deliver them again.
func (f *feed) publishOwn(changes []Change, seqs []int64) {
	if len(changes) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, seq := range seqs {
		if seq > f.cursor || f.gaps[seq] != (time.Time{}) {
			f.seen[seq] = true
		}
	}
	f.deliverLocked(changes)
}

func (f *feed) deliver(changes []Change) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deliverLocked(changes)
}

func (f *feed) deliverLocked(changes []Change) {
	if len(changes) == 0 {
		return
	}
	for _, sub := range f.subs {
		sub.push(changes)
	}
}

func (s *sqlStore) Changes() <-chan Change {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	sub := newSubscription()
	if f.closed {
		close(sub.done)
	} else {
		f.subs = append(f.subs, sub)
	}
	go sub.pump()
	return sub.out
}

func (f *feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, sub := range f.subs {
		close(sub.done)
	}
	f.subs = nil
}

// subscription is one reader's queue. Pending changes coalesce by value, so
// memory is bounded by the number of distinct entities changed, and a slow
// reader never blocks a writer.
type subscription struct {
	mu      sync.Mutex
	pending []Change
	queued  map[Change]bool
	signal  chan struct{}
	done    chan struct{}
	out     chan Change
}

func newSubscription() *subscription {
	return &subscription{queued: map[Change]bool{}, signal: make(chan struct{}, 1),
		done: make(chan struct{}), out: make(chan Change, 64)}
}

func (s *subscription) push(changes []Change) {
	s.mu.Lock()
	for _, c := range changes {
		if !s.queued[c] {
			s.queued[c] = true
			s.pending = append(s.pending, c)
		}
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *subscription) take() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	clear(s.queued)
	return p
}

func (s *subscription) pump() {
	defer close(s.out)
	for {
		select {
		case <-s.done:
			return
		case <-s.signal:
		}
		for _, c := range s.take() {
			select {
			case s.out <- c:
			case <-s.done:
				return
			}
		}
	}
}

// outageLog keeps a failing loop from logging on every attempt: the first
// failure is a warning, then a reminder at most every outageReminder, and
// the recovery one info line with how long it lasted.
type outageLog struct {
	since, last time.Time
	misses      int
}

const outageReminder = time.Minute

func (o *outageLog) failed(log *slog.Logger, msg string, err error) {
	now := time.Now()
	o.misses++
	switch {
	case o.since.IsZero():
		o.since, o.last = now, now
		log.Warn(msg, "err", err)
	case now.Sub(o.last) >= outageReminder:
		o.last = now
		log.Warn(msg+" (still)", "err", err, "for", now.Sub(o.since).Round(time.Second), "attempts", o.misses)
	}
}

func (o *outageLog) ok(log *slog.Logger, msg string) {
	if o.since.IsZero() {
		return
	}
	log.Info(msg, "after", time.Since(o.since).Round(time.Millisecond), "attempts", o.misses)
	*o = outageLog{}
}
