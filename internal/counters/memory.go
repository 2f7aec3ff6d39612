package counters

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

const shardCount = 64

// memory is the single-node driver: sharded maps behind mutexes. A sweeper
// drops idle limiter state and expired counters so memory stays bounded by
// the number of active keys.
type memory struct {
	shards  [shardCount]memShard
	seed    maphash.Seed
	clock   Clock
	durable Durable
	started time.Time
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type memShard struct {
	mu       sync.Mutex
	limits   map[uint64]*limitEntry // by the key's maphash; a chain holds keys sharing one
	counters map[string]*counterEntry
	dirty    map[string]struct{} // counters changed since the last durable flush
}

type limitEntry struct {
	key     string
	next    *limitEntry // the next key with the same hash (rare: 64 random bits)
	sw      slidingState
	tb      gcraState
	expires int64 // ns; idle state past this is equivalent to fresh state
}

type counterEntry struct {
	n        int64
	expireAt time.Time
}

func newMemory(o options) *memory {
	m := &memory{seed: maphash.MakeSeed(), clock: o.clock, durable: o.durable, started: o.clock.Now(),
		stop: make(chan struct{}), done: make(chan struct{})}
	for i := range m.shards {
		m.shards[i] = memShard{limits: map[uint64]*limitEntry{}, counters: map[string]*counterEntry{}, dirty: map[string]struct{}{}}
	}
	go m.background(o.flush)
	return m
}

func (m *memory) shard(key string) *memShard {
	return &m.shards[maphash.String(m.seed, key)%shardCount]
}

func (m *memory) Allow(_ context.Context, key string, l Limit, now time.Time) (Decision, error) {
	if l.Count <= 0 || l.Window <= 0 {
		return Decision{Allowed: true}, nil // no limit configured (policies validate this away)
	}
	// The hash that picks the shard also keys the map, so the key is hashed
	// once and the map compares 8 bytes, not the ~50 of a key.
	h := maphash.String(m.seed, key)
	sh := &m.shards[h%shardCount]
	sh.mu.Lock()
	e := sh.limits[h]
	for e != nil && e.key != key {
		e = e.next
	}
	if e == nil {
		e = &limitEntry{key: strings.Clone(key), next: sh.limits[h]} // a copy: see Counters.Allow
		sh.limits[h] = e
	}
	d := decide(&e.sw, &e.tb, l, now)
	e.expires = now.UnixNano() + 2*l.Window.Nanoseconds()
	sh.mu.Unlock()
	return d, nil
}

func (m *memory) Add(_ context.Context, key string, n, limit int64, expireAt time.Time) (int64, bool, error) {
	sh := m.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := m.counter(sh, key, expireAt)
	if limit > 0 && e.n+n > limit {
		return e.n, false, nil
	}
	e.n += n
	e.expireAt = expireAt
	sh.dirty[key] = struct{}{}
	return e.n, true, nil
}

// counter finds or creates a live counter; a new one starts from the durable
// copy so a restart keeps quota counts. Caller holds sh.mu.
func (m *memory) counter(sh *memShard, key string, expireAt time.Time) *counterEntry {
	now := m.clock.Now()
	e := sh.counters[key]
	if e != nil && !now.Before(e.expireAt) {
		e = nil
	}
	if e == nil {
		e = &counterEntry{expireAt: expireAt}
		if m.durable != nil {
			if n, err := m.durable.Load(key); err == nil {
				e.n = n
			}
		}
		sh.counters[key] = e
	}
	return e
}

func (m *memory) Get(_ context.Context, key string) (int64, error) {
	sh := m.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if e := sh.counters[key]; e != nil && m.clock.Now().Before(e.expireAt) {
		return e.n, nil
	}
	if m.durable != nil {
		return m.durable.Load(key)
	}
	return 0, nil
}

// Health: an in-process backend is always up, since it started.
func (m *memory) Health() (bool, time.Time, string) { return true, m.started, "" }

func (m *memory) Close() error {
	m.once.Do(func() { close(m.stop) })
	<-m.done
	m.flushDurable()
	if c, ok := m.durable.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// background sweeps idle state and flushes quota counters to the durable hook
// (batched: the request path never does durable I/O).
func (m *memory) background(flush time.Duration) {
	defer close(m.done)
	t := time.NewTicker(flush)
	defer t.Stop()
	sweepEvery, n := 60, 0
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		m.flushDurable()
		if n++; n%sweepEvery == 0 {
			m.sweep()
		}
	}
}

func (m *memory) sweep() {
	now := m.clock.Now()
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for h, first := range sh.limits {
			head := first
			var prev *limitEntry
			for e := first; e != nil; e = e.next {
				switch {
				case e.expires >= now.UnixNano():
					prev = e
				case prev == nil:
					head = e.next
				default:
					prev.next = e.next
				}
			}
			if head == nil {
				delete(sh.limits, h)
			} else if head != first {
				sh.limits[h] = head
			}
		}
		for k, e := range sh.counters {
			if !now.Before(e.expireAt) {
				delete(sh.counters, k)
			}
		}
		sh.mu.Unlock()
	}
}

type savedCounter struct {
	key      string
	n        int64
	expireAt time.Time
}

func (m *memory) flushDurable() {
	if m.durable == nil {
		return
	}
	var batch []savedCounter
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for k := range sh.dirty {
			if e := sh.counters[k]; e != nil {
				batch = append(batch, savedCounter{k, e.n, e.expireAt})
			}
			delete(sh.dirty, k)
		}
		sh.mu.Unlock()
	}
	for _, s := range batch {
		_ = m.durable.Save(s.key, s.n, s.expireAt)
	}
}
