package counters

import (
	"context"
	"sync"
	"time"
)

// Local mode: each node decides on its own view (the global counts pulled at
// the last sync plus its own admissions since), and a background loop pushes
// the node's admissions and pulls the global counts every sync interval.
// Between two syncs each node can admit up to the whole remaining budget on
// its own, so the over-admission is bounded by what the other nodes admit
// in one sync interval (docs/rate-limiting.md has the figures).

type localEntry struct {
	mu    sync.Mutex // guards everything below key and limit
	key   string
	limit Limit
	sw    slidingState // ns; global counts + own unsynced admissions
	tb    gcraState    // ns
	// pending are admissions not yet pushed, by sliding-window bucket
	// (token bucket uses bucket 0).
	pending  map[int64]int64
	lastUsed time.Time
	dropped  bool // removed from the map as idle; callers holding it look again
}

func (r *redisCounters) allowLocal(ctx context.Context, key string, l Limit, now time.Time) (Decision, error) {
	if !r.up.Load() && l.OnError != Fallback {
		return r.degraded(ctx, key, l, now)
	}
	e := r.localEntry(key, l)
	e.mu.Lock()
	for e.dropped {
		e.mu.Unlock()
		e = r.localEntry(key, l)
		e.mu.Lock()
	}
	defer e.mu.Unlock()
	e.lastUsed = now
	d := decide(&e.sw, &e.tb, l, now)
	if d.Allowed {
		bucket := int64(0)
		if l.Algorithm == SlidingWindow {
			bucket = e.sw.idx
		}
		e.pending[bucket]++
	}
	d.Degraded = !r.up.Load()
	return d, nil
}

// localEntry finds or creates the node's view of one limit. The map lock is
// a read lock on the hot path; each entry has its own lock.
func (r *redisCounters) localEntry(key string, l Limit) *localEntry {
	id := key + "\x00" + l.Spec()
	r.lmu.RLock()
	e := r.local[id]
	r.lmu.RUnlock()
	if e != nil {
		return e
	}
	r.lmu.Lock()
	defer r.lmu.Unlock()
	if e = r.local[id]; e == nil {
		e = &localEntry{key: key, limit: l, pending: map[int64]int64{}}
		r.local[id] = e
	}
	return e
}

// syncLoop pushes and pulls local-mode state every interval.
func (r *redisCounters) syncLoop(every time.Duration) {
	defer r.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if r.up.Load() {
			r.syncAll()
		}
	}
}

type pushItem struct {
	id      string
	e       *localEntry
	pending map[int64]int64
}

// syncAll snapshots and clears pending admissions under the lock, talks to
// Redis without it, then installs the global view plus whatever the node
// admitted meanwhile. Failed pushes are put back so no admission is lost.
func (r *redisCounters) syncAll() {
	now := r.clock.Now()
	var batch []pushItem
	r.lmu.Lock()
	for id, e := range r.local {
		e.mu.Lock()
		if len(e.pending) == 0 && now.Sub(e.lastUsed) > 2*e.limit.Window {
			delete(r.local, id) // idle: global state has expired too
			e.dropped = true
		} else {
			batch = append(batch, pushItem{id, e, e.pending})
			e.pending = map[int64]int64{}
		}
		e.mu.Unlock()
	}
	r.lmu.Unlock()
	for _, it := range batch {
		if it.e.limit.Algorithm == TokenBucket {
			r.syncGCRA(it, now)
		} else {
			r.syncSliding(it, now)
		}
	}
}

func (r *redisCounters) restore(it pushItem) {
	it.e.mu.Lock()
	for b, n := range it.pending {
		it.e.pending[b] += n
	}
	it.e.mu.Unlock()
}

func (r *redisCounters) syncSliding(it pushItem, now time.Time) {
	l := it.e.limit
	ttl := 2*l.Window.Milliseconds() + 1000
	cur := now.UnixMicro() / l.Window.Microseconds()
	var got []int64
	for b, n := range it.pending {
		if b == cur {
			continue
		}
		if _, err := r.call(context.Background(), slidingSyncScript, r.slidingKeys(it.e.key, b), n, ttl); err != nil {
			r.restore(it)
			return
		}
		delete(it.pending, b)
	}
	got, err := r.call(context.Background(), slidingSyncScript, r.slidingKeys(it.e.key, cur), it.pending[cur], ttl)
	if err != nil || len(got) != 2 {
		r.restore(it)
		return
	}
	e := it.e
	e.mu.Lock()
	e.sw.roll(now.UnixNano(), l.Window.Nanoseconds())
	if e.sw.idx == cur {
		e.sw.curr, e.sw.prev = got[0]+e.pending[cur], got[1]
	}
	e.mu.Unlock()
}

func (r *redisCounters) syncGCRA(it pushItem, now time.Time) {
	l := it.e.limit
	w := l.Window.Microseconds()
	t := max(1, w/l.Count)
	n := it.pending[0]
	got, err := r.call(context.Background(), gcraScript, []string{r.key(it.e.key, ":t")}, now.UnixMicro(), w, t, n, 1)
	if err != nil || len(got) != 2 {
		r.restore(it)
		return
	}
	e := it.e
	e.mu.Lock()
	e.tb.tat = got[1]*1000 + e.pending[0]*t*1000
	e.mu.Unlock()
}
