package counters

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Local mode: each node decides on its own view (the global counts pulled at
// the last sync plus its own admissions since), and a background loop pushes
// the node's admissions and pulls the global counts every sync interval.
// Between two syncs each node can admit up to the whole remaining budget on
// its own, so the over-admission is bounded by what the other nodes admit
// in two sync intervals (one until a node's push lands, one more until the
// others pull it), and never exceeds (nodes-1) x limit per window
// (docs/rate-limiting.md has the bound and the measured figures).

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
		e = &localEntry{key: strings.Clone(key), limit: l, pending: map[int64]int64{}}
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
	if len(batch) > 0 {
		r.pushPull(batch, now)
	}
}

// pushPull sends every entry's sync in one pipeline (one round trip for all
// local-mode keys), then installs the replies.
func (r *redisCounters) pushPull(batch []pushItem, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout*time.Duration(1+len(batch)/500))
	defer cancel()
	pipe := r.rdb.Pipeline()
	cmds := make([]map[int64]*redis.Cmd, len(batch))
	for i, it := range batch {
		cmds[i] = r.queueSync(ctx, pipe, it, now)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) && pipeBroken(cmds) {
		r.markDown(err)
	}
	for i, it := range batch {
		r.install(it, cmds[i], now)
	}
}

// pipeBroken is true when no command got a reply (a connection problem,
// not one bad script reply).
func pipeBroken(cmds []map[int64]*redis.Cmd) bool {
	for _, m := range cmds {
		for _, c := range m {
			if c.Err() == nil {
				return false
			}
		}
	}
	return true
}

// queueSync queues an entry's pushes; the command under bucket -1 is the
// one whose reply is the global state to install.
func (r *redisCounters) queueSync(ctx context.Context, pipe redis.Pipeliner, it pushItem, now time.Time) map[int64]*redis.Cmd {
	l := it.e.limit
	out := map[int64]*redis.Cmd{}
	if l.Algorithm == TokenBucket {
		w := l.Window.Microseconds()
		out[-1] = gcraScript.Eval(ctx, pipe, []string{r.key(it.e.key, ":t")}, now.UnixMicro(), w, max(1, w/l.Count), it.pending[0], 1)
		return out
	}
	ttl := 2*l.Window.Milliseconds() + 1000
	cur := now.UnixMicro() / l.Window.Microseconds()
	for b, n := range it.pending {
		if b != cur {
			out[b] = slidingSyncScript.Eval(ctx, pipe, r.slidingKeys(it.e.key, b), n, ttl)
		}
	}
	out[-1] = slidingSyncScript.Eval(ctx, pipe, r.slidingKeys(it.e.key, cur), it.pending[cur], ttl)
	return out
}

// install puts back the pushes that failed and adopts the global state
// plus what the node admitted since the snapshot.
func (r *redisCounters) install(it pushItem, cmds map[int64]*redis.Cmd, now time.Time) {
	e, l := it.e, it.e.limit
	e.mu.Lock()
	defer e.mu.Unlock()
	for b, c := range cmds {
		if c.Err() != nil && b != -1 {
			e.pending[b] += it.pending[b]
		}
	}
	got, err := cmds[-1].Int64Slice()
	if err != nil || len(got) != 2 {
		cur := int64(0)
		if l.Algorithm == SlidingWindow {
			cur = now.UnixMicro() / l.Window.Microseconds()
		}
		e.pending[cur] += it.pending[cur]
		return
	}
	if l.Algorithm == TokenBucket {
		t := max(1, l.Window.Microseconds()/l.Count)
		e.tb.tat = got[1]*1000 + e.pending[0]*t*1000
		return
	}
	cur := now.UnixMicro() / l.Window.Microseconds()
	e.sw.roll(now.UnixNano(), l.Window.Nanoseconds())
	if e.sw.idx == cur {
		e.sw.curr, e.sw.prev = got[0]+e.pending[cur], got[1]
	}
}
