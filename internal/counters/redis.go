package counters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Keys are <prefix>{<key>}<suffix>: the hash tag puts every key of one limit
// (both sliding-window buckets) in one Redis Cluster slot, so each script
// touches one slot. Times in scripts are microseconds: exact in a Lua double.

// slidingScript: KEYS = current bucket, previous bucket.
// ARGV = limit, window µs, elapsed µs in the current window, ttl ms.
// Returns {admitted, curr, prev} (curr after the increment when admitted).
var slidingScript = redis.NewScript(`
local limit = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local elapsed = tonumber(ARGV[3])
local curr = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = tonumber(redis.call('GET', KEYS[2]) or '0')
if prev * (w - elapsed) / w + curr + 1 <= limit then
  curr = redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return {1, curr, prev}
end
return {0, curr, prev}
`)

// slidingSyncScript (local mode): adds a node's unsynced admissions to the
// bucket they were made in and returns the global {curr, prev}.
// KEYS = bucket, previous bucket. ARGV = delta, ttl ms.
var slidingSyncScript = redis.NewScript(`
local d = tonumber(ARGV[1])
local curr
if d > 0 then
  curr = redis.call('INCRBY', KEYS[1], d)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  curr = tonumber(redis.call('GET', KEYS[1]) or '0')
end
return {curr, tonumber(redis.call('GET', KEYS[2]) or '0')}
`)

// gcraScript: KEYS = tat key. ARGV = now µs, window µs, emission interval µs,
// n tokens, force (1 = take n without checking: local-mode sync).
// Returns {admitted, tat} (tat after the call).
var gcraScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local t = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if n == 0 then return {1, tat} end
local nxt = tat + t * n
if ARGV[5] ~= '1' and now < nxt - w then return {0, tat} end
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1000)
return {1, nxt}
`)

// addScript: KEYS = counter. ARGV = n, max (<=0: none), expire at (unix ms).
var addScript = redis.NewScript(`
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
if m > 0 and v + n > m then return {v, 0} end
v = redis.call('INCRBY', KEYS[1], n)
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {v, 1}
`)

// redisCounters is the shared driver. While Redis is unreachable, requests
// never wait on it: they go to the per-limit OnError behaviour (default: a
// per-node memory limiter) until a background probe sees Redis again.
type redisCounters struct {
	rdb      redis.UniversalClient
	prefix   string
	log      *slog.Logger
	clock    Clock
	timeout  time.Duration
	fallback *memory

	up      atomic.Bool
	hmu     sync.Mutex
	since   time.Time
	lastErr string

	lmu   sync.RWMutex
	local map[string]*localEntry

	calls chan *queuedCall // to pipeLoop (redispipe.go)
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func openRedis(dsn string, u *url.URL, log *slog.Logger, o options) (Counters, error) {
	q := u.Query()
	prefix := "tg:"
	if q.Has("prefix") {
		prefix = q.Get("prefix")
		if err := CheckPrefix(prefix); err != nil {
			return nil, fmt.Errorf("counters: %w", err)
		}
	}
	cluster := q.Get("cluster") == "true"
	if q.Has("timeout") { // the budget of one Redis call; past it the call counts as an outage
		d, err := time.ParseDuration(q.Get("timeout"))
		if err != nil || d <= 0 || d > 10*time.Second {
			return nil, fmt.Errorf("counters: timeout=%q: want a duration between 1ms and 10s, e.g. timeout=250ms", q.Get("timeout"))
		}
		o.timeout = d
	}
	q.Del("prefix")
	q.Del("cluster")
	q.Del("timeout")
	u.RawQuery = q.Encode()
	rdb, err := newRedisClient(u.String(), cluster, o.timeout)
	if err != nil {
		return nil, err
	}
	r := &redisCounters{rdb: rdb, prefix: prefix, log: log, clock: o.clock, timeout: o.timeout,
		fallback: newMemory(o), local: map[string]*localEntry{}, stop: make(chan struct{}),
		calls: make(chan *queuedCall, maxBatch)}
	quietRedisLog.Do(func() { redis.SetLogger(debugLogger{log}) })
	r.since = o.clock.Now()
	r.up.Store(true)
	if err := r.ping(); err != nil {
		r.markDown(err) // start degraded; the probe recovers
	}
	r.wg.Add(2 + pipelines)
	go r.probeLoop(o.probe)
	go r.syncLoop(o.syncInterval)
	for range pipelines {
		go r.pipeLoop()
	}
	return r, nil
}

// CheckPrefix reports why p cannot be the Redis driver's key prefix
// (?prefix=). Keys are <prefix>{<key>}<suffix> and Redis Cluster hashes the
// first {...} of a key, so a brace in the prefix would move a limit's keys
// into different slots (CROSSSLOT); whitespace and control characters make
// keys that redis-cli and key patterns mishandle. The config validator
// calls it too, so `tollgate validate` refuses what Open would.
func CheckPrefix(p string) error {
	for _, r := range p {
		var what string
		switch {
		case r == '{' || r == '}':
			what = fmt.Sprintf("%q: keys are <prefix>{key} and Redis Cluster hashes the first {...}", r)
		case unicode.IsSpace(r):
			what = fmt.Sprintf("whitespace %q (a + in a URL query is a space)", r)
		case unicode.IsControl(r) || r == utf8.RuneError:
			what = fmt.Sprintf("the control or invalid character %q", r)
		default:
			continue
		}
		return fmt.Errorf("prefix=%q contains %s; use letters, digits and : - _ . instead, e.g. prefix=tg:prod: (default tg:)", p, what)
	}
	return nil
}

// newRedisClient opens a single node, or a Redis Cluster with ?cluster=true
// (more seed nodes as &addr=host:port). Every call is bounded by timeout and
// never retried: a retry doubles the stall and the fallback handles failures.
func newRedisClient(dsn string, cluster bool, timeout time.Duration) (redis.UniversalClient, error) {
	noMaint := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if cluster {
		co, err := redis.ParseClusterURL(dsn)
		if err != nil {
			return nil, fmt.Errorf("counters: invalid redis cluster DSN: %w", err)
		}
		co.DialTimeout, co.ReadTimeout, co.WriteTimeout, co.PoolTimeout = timeout, timeout, timeout, timeout
		co.ContextTimeoutEnabled, co.MaxRetries, co.DialerRetries, co.DisableIdentity = true, -1, 1, true
		co.MaintNotificationsConfig = noMaint
		return redis.NewClusterClient(co), nil
	}
	ro, err := redis.ParseURL(dsn)
	if err != nil {
		return nil, fmt.Errorf("counters: invalid redis DSN: %w", err)
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout, ro.PoolTimeout = timeout, timeout, timeout, timeout
	ro.ContextTimeoutEnabled, ro.MaxRetries, ro.DialerRetries, ro.DisableIdentity = true, -1, 1, true
	ro.MaintNotificationsConfig = noMaint
	return redis.NewClient(ro), nil
}

// go-redis logs every failed dial on its own (a line per probe while Redis is
// down); outages are logged once by markDown, so its lines go to debug.
var quietRedisLog sync.Once

type debugLogger struct{ log *slog.Logger }

func (d debugLogger) Printf(ctx context.Context, format string, v ...any) {
	d.log.Debug("go-redis: " + fmt.Sprintf(format, v...))
}

func (r *redisCounters) key(k, suffix string) string { return r.prefix + "{" + k + "}" + suffix }

func (r *redisCounters) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	return r.rdb.Ping(ctx).Err()
}

// markDown records an outage; only its first failure logs (never per request).
func (r *redisCounters) markDown(err error) {
	r.hmu.Lock()
	defer r.hmu.Unlock()
	r.lastErr = err.Error()
	if !r.up.Swap(false) {
		return
	}
	r.since = r.clock.Now()
	r.log.Warn("counters: redis unreachable; limits use their on_redis_error behaviour until it is back", "err", err)
}

func (r *redisCounters) markUp() {
	r.hmu.Lock()
	defer r.hmu.Unlock()
	if r.up.Swap(true) {
		return
	}
	r.log.Info("counters: redis reachable again", "down_for", r.clock.Now().Sub(r.since).Round(time.Millisecond).String())
	r.since, r.lastErr = r.clock.Now(), ""
}

func (r *redisCounters) Health() (bool, time.Time, string) {
	r.hmu.Lock()
	defer r.hmu.Unlock()
	return r.up.Load(), r.since, r.lastErr
}

// probeLoop pings while Redis is down, so recovery is seen within one probe
// interval without any request paying for a dead connection.
func (r *redisCounters) probeLoop(every time.Duration) {
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
			continue
		}
		if err := r.ping(); err != nil {
			r.hmu.Lock()
			r.lastErr = err.Error()
			r.hmu.Unlock()
			continue
		}
		r.markUp()
	}
}

// degraded decides while Redis is down, by the limit's OnError.
func (r *redisCounters) degraded(ctx context.Context, key string, l Limit, now time.Time) (Decision, error) {
	switch l.OnError {
	case FailOpen:
		return Decision{Allowed: true, Remaining: l.Count, ResetAfter: l.Window, Degraded: true}, nil
	case FailClosed:
		return Decision{RetryAfter: time.Second, ResetAfter: l.Window, Degraded: true}, ErrUnavailable
	}
	d, err := r.fallback.Allow(ctx, key, l, now)
	d.Degraded = true
	return d, err
}

func (r *redisCounters) Allow(ctx context.Context, key string, l Limit, now time.Time) (Decision, error) {
	if l.Count <= 0 || l.Window < time.Microsecond {
		return Decision{Allowed: true}, nil // no limit configured (policies validate this away)
	}
	if l.Mode == Local {
		return r.allowLocal(ctx, key, l, now)
	}
	if !r.up.Load() {
		return r.degraded(ctx, key, l, now)
	}
	var (
		d   Decision
		err error
	)
	if l.Algorithm == TokenBucket {
		d, err = r.allowGCRA(ctx, key, l, now)
	} else {
		d, err = r.allowSliding(ctx, key, l, now)
	}
	if err != nil {
		return r.degraded(ctx, key, l, now)
	}
	return d, nil
}

func (r *redisCounters) allowSliding(ctx context.Context, key string, l Limit, now time.Time) (Decision, error) {
	w, nowUs := l.Window.Microseconds(), now.UnixMicro()
	idx := nowUs / w
	elapsed := nowUs - idx*w
	ttl := 2*l.Window.Milliseconds() + 1000
	v, err := r.call(ctx, slidingScript, r.slidingKeys(key, idx), l.Count, w, elapsed, ttl)
	if err != nil || len(v) != 3 {
		return Decision{}, errors.Join(err, errors.New("counters: bad script reply"))
	}
	s := slidingState{idx: idx, prev: v[2], curr: v[1]}
	return slidingOutcome(&s, l, v[0] == 1, elapsed*1000), nil
}

func (r *redisCounters) slidingKeys(key string, idx int64) []string {
	return []string{r.key(key, ":s:"+strconv.FormatInt(idx, 10)), r.key(key, ":s:"+strconv.FormatInt(idx-1, 10))}
}

// slidingOutcome fills a Decision from bucket counts after a script decided.
func slidingOutcome(s *slidingState, l Limit, allowed bool, elapsedNs int64) Decision {
	w := l.Window.Nanoseconds()
	est := float64(s.prev)*float64(w-elapsedNs)/float64(w) + float64(s.curr)
	d := Decision{Allowed: allowed, ResetAfter: time.Duration(w - elapsedNs)}
	d.Remaining = max(0, int64(float64(l.Count)-est))
	if !allowed {
		d.RetryAfter = slidingRetry(s, l.Count, w, elapsedNs)
	}
	return d
}

func (r *redisCounters) allowGCRA(ctx context.Context, key string, l Limit, now time.Time) (Decision, error) {
	w, nowUs := l.Window.Microseconds(), now.UnixMicro()
	t := max(1, w/l.Count)
	v, err := r.call(ctx, gcraScript, []string{r.key(key, ":t")}, nowUs, w, t, 1, 0)
	if err != nil || len(v) != 2 {
		return Decision{}, errors.Join(err, errors.New("counters: bad script reply"))
	}
	us := time.Microsecond
	if v[0] == 1 {
		return Decision{Allowed: true, Remaining: (w - (v[1] - nowUs)) / t, ResetAfter: time.Duration(v[1]-nowUs) * us}, nil
	}
	return Decision{RetryAfter: time.Duration(v[1]+t-w-nowUs) * us, ResetAfter: time.Duration(v[1]-nowUs) * us}, nil
}

func (r *redisCounters) Add(ctx context.Context, key string, n, limit int64, expireAt time.Time) (int64, bool, error) {
	if !r.up.Load() {
		return r.fallback.Add(ctx, key, n, limit, expireAt)
	}
	v, err := r.call(ctx, addScript, []string{r.key(key, "")}, n, limit, expireAt.UnixMilli())
	if err != nil || len(v) != 2 {
		return r.fallback.Add(ctx, key, n, limit, expireAt)
	}
	return v[0], v[1] == 1, nil
}

func (r *redisCounters) Get(ctx context.Context, key string) (int64, error) {
	if !r.up.Load() {
		return r.fallback.Get(ctx, key)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	n, err := r.rdb.Get(ctx, r.key(key, "")).Int64()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, nil
	case err != nil:
		r.markDown(err)
		return r.fallback.Get(ctx, key)
	}
	return n, nil
}

func (r *redisCounters) Close() error {
	var err error
	r.once.Do(func() {
		close(r.stop)
		r.wg.Wait()
		if r.up.Load() {
			r.syncAll() // push the last local admissions
		}
		r.fallback.Close()
		err = r.rdb.Close()
	})
	return err
}

// RedisClient returns the Redis client and key prefix behind c when c is
// the Redis driver, so other shared state (the response cache) can use the
// same server without a second DSN.
func RedisClient(c Counters) (redis.UniversalClient, string, bool) {
	r, ok := c.(*redisCounters)
	if !ok {
		return nil, "", false
	}
	return r.rdb, r.prefix, true
}
