// Package counters is the shared state behind rate limits and quotas: an
// in-memory driver for one node (memory://, the default) and a Redis driver
// for several nodes (redis://host:port/db).
//
// Policies key their state by a stable identity (route name + limit spec +
// client identity), never by a built handler, so config reloads keep counts.
package counters

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Algorithm selects how a Limit counts.
type Algorithm int

const (
	// SlidingWindow is the two-bucket weighted approximation: the previous
	// fixed window's count is weighted by how much of it still overlaps the
	// rolling window. See docs/rate-limiting.md for its error.
	SlidingWindow Algorithm = iota
	// TokenBucket is GCRA: Count tokens per Window, bursts up to Count.
	TokenBucket
)

func (a Algorithm) String() string {
	if a == TokenBucket {
		return "token_bucket"
	}
	return "sliding_window"
}

// Mode is the cluster accuracy of a limit on a shared (Redis) backend.
type Mode int

const (
	// Strict makes every decision in Redis with one atomic script.
	Strict Mode = iota
	// Local decides on the node against the last global count plus the
	// node's own unsynced admissions; deltas are pushed and the global count
	// pulled every sync interval in the background.
	Local
)

// OnError is what a limit does while the shared backend is unreachable.
type OnError int

const (
	// Fallback decides with a per-node in-memory limiter (SPEC §8 default).
	Fallback OnError = iota
	// FailOpen admits every request.
	FailOpen
	// FailClosed refuses every request with ErrUnavailable.
	FailClosed
)

// Limit is one rate limit: Count requests per Window.
type Limit struct {
	Count     int64
	Window    time.Duration
	Algorithm Algorithm
	Mode      Mode    // ignored by the memory driver
	OnError   OnError // ignored by the memory driver
}

// Spec is a stable text form of the counting part of the limit, used in keys.
func (l Limit) Spec() string {
	return fmt.Sprintf("%d/%s/%s", l.Count, l.Window, l.Algorithm)
}

// Decision is the outcome of one Allow.
type Decision struct {
	Allowed   bool
	Remaining int64
	// ResetAfter is when the limit is whole again: for token_bucket the time
	// until the bucket is full, for sliding_window the end of the current window.
	ResetAfter time.Duration
	// RetryAfter is, when refused, the wait until one request would be admitted.
	RetryAfter time.Duration
	// Degraded is true when the shared backend was down and the decision was
	// made by the fallback (per-node limiter, fail_open or fail_closed).
	Degraded bool
}

// ErrUnavailable is returned (with a refusing Decision) by a fail_closed limit
// while the shared backend is down.
var ErrUnavailable = errors.New("counters: shared backend unavailable")

// Counters is the state backend of rate limits and quotas.
type Counters interface {
	// Allow counts one request against key under l at time now. key's
	// bytes do not change during the call but are reused once the request
	// is over (rate_limit builds its keys in the request's scratch memory,
	// policy.Exchange.Scratch): a driver that keeps a key copies it
	// (strings.Clone).
	Allow(ctx context.Context, key string, l Limit, now time.Time) (Decision, error)
	// Add adds n to the counter key unless that would take it above max
	// (max <= 0 means no bound). The counter disappears at expireAt.
	// total is the value after the call; added is false when refused.
	Add(ctx context.Context, key string, n, max int64, expireAt time.Time) (total int64, added bool, err error)
	// Get reads a counter (0 when absent).
	Get(ctx context.Context, key string) (int64, error)
	// Health reports whether the backend is reachable, since when, and the
	// last error seen while down.
	Health() (up bool, since time.Time, lastErr string)
	Close() error
}

// Clock is injected so tests control time.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the wall clock.
var SystemClock Clock = systemClock{}

// Option configures Open.
type Option func(*options)

type options struct {
	clock        Clock
	durable      Durable
	snapshot     string
	syncInterval time.Duration
	timeout      time.Duration
	probe        time.Duration
	flush        time.Duration
}

// WithClock injects the clock used for background work (sync, sweeps, health).
func WithClock(c Clock) Option { return func(o *options) { o.clock = c } }

// WithDurable makes the memory driver's Add counters (quotas) survive
// restarts through d, in place of any snapshot file (the DSN's ?snapshot=
// and WithDefaultSnapshot are then ignored). Redis persists on its own and
// ignores it.
func WithDurable(d Durable) Option { return func(o *options) { o.durable = d } }

// WithDefaultSnapshot is the memory driver's quota snapshot file when the
// DSN names none: memory://?snapshot=PATH wins over it. The gateway passes
// <data directory>/counters.json. Redis ignores it.
func WithDefaultSnapshot(path string) Option { return func(o *options) { o.snapshot = path } }

// WithSyncInterval sets how often local-mode limits sync with Redis (default 100ms).
func WithSyncInterval(d time.Duration) Option { return func(o *options) { o.syncInterval = d } }

// WithTimeout bounds every Redis call (default 100ms) so a dead Redis never stalls requests.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithProbeInterval sets how often a down Redis is probed (default 500ms).
func WithProbeInterval(d time.Duration) Option { return func(o *options) { o.probe = d } }

// Open opens a counters backend from a DSN:
//
//	memory://                      one node, in process (default for "")
//	memory://?snapshot=FILE        same, quota counters snapshotted to FILE
//	                               (a relative FILE is relative to the working directory)
//	redis://host:port/db?prefix=P  Redis, keys under P (default "tg:")
//	redis://host:port?cluster=true&addr=host2:port  Redis Cluster (keys are hash-tagged)
func Open(dsn string, log *slog.Logger, opts ...Option) (Counters, error) {
	o := options{clock: SystemClock, syncInterval: 100 * time.Millisecond, timeout: 100 * time.Millisecond,
		probe: 500 * time.Millisecond, flush: time.Second}
	for _, f := range opts {
		f(&o)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dsn == "" {
		dsn = "memory://"
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("counters: invalid DSN: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "memory":
		p := u.Query().Get("snapshot")
		if p == "" {
			p = o.snapshot
		}
		if p != "" && o.durable == nil {
			fd, err := NewFileDurable(p)
			if err != nil {
				return nil, err
			}
			o.durable = fd
		}
		return newMemory(o), nil
	case "redis", "rediss":
		return openRedis(dsn, u, log, o)
	}
	return nil, fmt.Errorf("counters: unsupported DSN scheme %q (want memory:// or redis://)", u.Scheme)
}
