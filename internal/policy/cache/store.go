package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"
)

// entry is one stored response, or (Vary != nil, Status 0) the index entry
// that records which request headers a base key varies on.
type entry struct {
	Status  int         `json:"s,omitempty"`
	Header  [][2]string `json:"h,omitempty"`
	Body    []byte      `json:"b,omitempty"`
	Stored  time.Time   `json:"t"`
	Expires time.Time   `json:"e"`
	Path    string      `json:"p"`
	Vary    []string    `json:"v,omitempty"`
}

func (e *entry) weight(key string) uint32 {
	n := len(key) + len(e.Body) + len(e.Path) + 96
	for _, kv := range e.Header {
		n += len(kv[0]) + len(kv[1]) + 32
	}
	return uint32(min(n, math.MaxInt32))
}

// store is a route's cache storage. It outlives config reloads (kept in
// BuildEnv.State and in the purge registry by route name).
type store interface {
	// path is the request path the key belongs to (purge matches on it).
	get(ctx context.Context, path, key string) *entry
	set(ctx context.Context, path, key string, e *entry)
	purge(pathPrefix string) int
	resize(maxBytes int64)
}

// memStore is a size-bounded (bytes) otter cache.
type memStore struct{ c *otter.Cache[string, *entry] }

func newMemStore(maxBytes int64) (*memStore, error) {
	c, err := otter.New(&otter.Options[string, *entry]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       func(k string, e *entry) uint32 { return e.weight(k) },
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *entry]) time.Duration {
			return max(time.Second, time.Until(e.Value.Expires))
		}),
	})
	if err != nil {
		return nil, err
	}
	return &memStore{c: c}, nil
}

func (m *memStore) get(_ context.Context, _, key string) *entry {
	e, _ := m.c.GetIfPresent(key)
	return e
}

func (m *memStore) set(_ context.Context, _, key string, e *entry) { m.c.Set(key, e) }

func (m *memStore) resize(maxBytes int64) { m.c.SetMaximum(uint64(maxBytes)) }

func (m *memStore) purge(prefix string) int {
	n := 0
	for k, e := range m.c.All() {
		if strings.HasPrefix(e.Path, prefix) {
			if _, ok := m.c.Invalidate(k); ok {
				n++
			}
		}
	}
	return n
}

// redisStore shares entries between nodes. Keys keep the route and path
// readable (so purge can SCAN by path prefix) and hash the rest.
type redisStore struct {
	rdb     redis.UniversalClient
	prefix  string // <counters prefix>cache:<route>|
	timeout time.Duration
}

func (r *redisStore) key(path, k string) string {
	sum := sha256.Sum256([]byte(k))
	return r.prefix + path + "|" + hex.EncodeToString(sum[:16])
}

func (r *redisStore) get(ctx context.Context, path, key string) *entry {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	b, err := r.rdb.Get(ctx, r.key(path, key)).Bytes()
	if err != nil {
		return nil // a miss; Redis trouble must never fail the request
	}
	var e entry
	if json.Unmarshal(b, &e) != nil {
		return nil
	}
	return &e
}

func (r *redisStore) set(ctx context.Context, path, key string, e *entry) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	r.rdb.Set(ctx, r.key(path, key), b, max(time.Second, time.Until(e.Expires)))
}

func (r *redisStore) resize(int64) {}

func (r *redisStore) purge(prefix string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n atomic.Int64
	match := globEscape(r.prefix+prefix) + "*"
	scan := func(ctx context.Context, c redis.Cmdable) error {
		iter := c.Scan(ctx, 0, match, 500).Iterator()
		for iter.Next(ctx) {
			n.Add(c.Del(ctx, iter.Val()).Val())
		}
		return iter.Err()
	}
	if cc, ok := r.rdb.(*redis.ClusterClient); ok { // a cluster SCAN covers one node
		_ = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		_ = scan(ctx, r.rdb)
	}
	return int(n.Load())
}

func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// live maps each built cache (route name and version) to its store, for Purge.
var live sync.Map

type liveKey struct{ route, version string }

// Purge drops the cached responses of route (all its versions; every route
// when "") whose
// path starts with pathPrefix ("" = all) and reports how many entries went.
// The admin API calls it; it is safe while requests are served.
func Purge(route, pathPrefix string) int {
	n := 0
	live.Range(func(k, v any) bool {
		if route == "" || k.(liveKey).route == route {
			n += v.(store).purge(pathPrefix)
		}
		return true
	})
	return n
}

// flight is one in-progress upstream fetch other requests for the same key wait on.
type flight struct{ done chan struct{} }

// flights coalesces concurrent misses per key.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// join returns the flight for key and whether the caller leads it.
func (f *flights) join(key string) (*flight, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl, ok := f.m[key]; ok {
		return fl, false
	}
	fl := &flight{done: make(chan struct{})}
	f.m[key] = fl
	return fl, true
}

func (f *flights) leave(key string, fl *flight) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	close(fl.done)
}
