package counters

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testutil/tcpproxy"

	"github.com/redis/go-redis/v9"
)

// redisDSN skips the test unless TOLLGATE_TEST_REDIS is set and returns it
// with a unique key prefix, deleting the test's keys at the end.
func redisDSN(t *testing.T) (dsn, addr, prefix string) {
	t.Helper()
	base := os.Getenv("TOLLGATE_TEST_REDIS")
	if base == "" {
		t.Skip("set TOLLGATE_TEST_REDIS=redis://127.0.0.1:6379/0 to run")
	}
	b := make([]byte, 6)
	rand.Read(b)
	prefix = "tgtest:" + hex.EncodeToString(b) + ":"
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c := redis.NewClient(opt)
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "prefix=" + prefix, opt.Addr, prefix
}

func openT(t *testing.T, dsn string, opts ...Option) Counters {
	t.Helper()
	c, err := Open(dsn, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisAlgorithms(t *testing.T) {
	dsn, _, _ := redisDSN(t)
	c := openT(t, dsn)
	runAlgoCases(t, c, "algo:")
	if up, _, _ := c.Health(); !up {
		t.Fatal("redis should be up")
	}
}

func TestRedisAdd(t *testing.T) {
	dsn, _, _ := redisDSN(t)
	clock := &fakeClock{t: time.Now()}
	c := openT(t, dsn, WithClock(clock))
	runAddCases(t, c, "quota:x", clock)
}

// TestRedisClosedPort: a Redis that is not there must not fail Open nor
// stall or fail requests; each on_redis_error behaves.
func TestRedisClosedPort(t *testing.T) {
	c := openT(t, "redis://127.0.0.1:1/0")
	up, since, lastErr := c.Health()
	if up || since.IsZero() || lastErr == "" {
		t.Fatalf("health = %v %v %q, want down with a cause", up, since, lastErr)
	}
	ctx := context.Background()
	l := Limit{Count: 2, Window: time.Minute}
	for i, want := range []bool{true, true, false} {
		d, err := c.Allow(ctx, "k", l, t0)
		if err != nil || d.Allowed != want || !d.Degraded {
			t.Fatalf("fallback request %d: %+v %v", i, d, err)
		}
	}
	l.OnError = FailOpen
	if d, err := c.Allow(ctx, "k", l, t0); err != nil || !d.Allowed {
		t.Fatalf("fail_open: %+v %v", d, err)
	}
	l.OnError = FailClosed
	if d, err := c.Allow(ctx, "k", l, t0); !errors.Is(err, ErrUnavailable) || d.Allowed {
		t.Fatalf("fail_closed: %+v %v", d, err)
	}
	local := Limit{Count: 1, Window: time.Minute, Mode: Local}
	for i, want := range []bool{true, false} {
		if d, err := c.Allow(ctx, "local", local, t0); err != nil || d.Allowed != want || !d.Degraded {
			t.Fatalf("local fallback request %d: %+v %v", i, d, err)
		}
	}
	local.OnError = FailClosed
	if _, err := c.Allow(ctx, "local", local, t0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("local fail_closed: %v", err)
	}
	if n, ok, err := c.Add(ctx, "q", 1, 5, time.Now().Add(time.Hour)); err != nil || !ok || n != 1 {
		t.Fatalf("quota add falls back per node: %d %v %v", n, ok, err)
	}
}

// proxy is a TCP proxy the test can cut and restore, standing in for a Redis
// that goes away and comes back on the same address.
// countingHandler counts log records at Warn and above.
type countingHandler struct {
	slog.Handler
	warns atomic.Int32
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.warns.Add(1)
	}
	return nil
}

func TestRedisOutageAndRecovery(t *testing.T) {
	dsn, addr, prefix := redisDSN(t)
	p := tcpproxy.Start(t, addr)
	logs := &countingHandler{Handler: slog.DiscardHandler}
	c, err := Open("redis://"+p.Addr()+"/0?prefix="+prefix, slog.New(logs), WithProbeInterval(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = dsn
	ctx := context.Background()
	l := Limit{Count: 1000, Window: time.Minute}
	if d, _ := c.Allow(ctx, "k", l, time.Now()); d.Degraded || !d.Allowed {
		t.Fatalf("through the proxy: %+v", d)
	}

	p.Cut()
	for _, onErr := range []OnError{Fallback, FailOpen, FailClosed} {
		l.OnError = onErr
		for range 20 {
			start := time.Now()
			d, err := c.Allow(ctx, "k", l, time.Now())
			if time.Since(start) > 500*time.Millisecond {
				t.Fatalf("a request waited %v on a dead redis", time.Since(start))
			}
			if !d.Degraded {
				t.Fatalf("decision while down must be degraded: %+v", d)
			}
			if onErr == FailClosed && (!errors.Is(err, ErrUnavailable) || d.Allowed) {
				t.Fatalf("fail_closed admitted: %+v %v", d, err)
			}
			if onErr != FailClosed && (err != nil || !d.Allowed) {
				t.Fatalf("%v refused: %+v %v", onErr, d, err)
			}
		}
	}
	if up, _, lastErr := c.Health(); up || lastErr == "" {
		t.Fatalf("health while down: %v %q", up, lastErr)
	}
	if n := logs.warns.Load(); n != 1 {
		t.Fatalf("outage logged %d times, want once", n)
	}

	back := time.Now()
	p.Restore(t)
	for {
		if up, _, _ := c.Health(); up {
			break
		}
		if time.Since(back) > 5*time.Second {
			t.Fatal("not recovered within 5s of redis returning")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("recovered %v after redis returned", time.Since(back).Round(time.Millisecond))
	l.OnError = Fallback
	if d, err := c.Allow(ctx, "k", l, time.Now()); err != nil || d.Degraded {
		t.Fatalf("after recovery: %+v %v", d, err)
	}
}

// TestMultiInstanceAccuracy: three independent instances on one Redis share
// a 100/10s limit while being hit concurrently.
//
// Local mode is paced so its documented bound is well below what three
// nodes with no sync at all would admit (3 x the limit): each node sends
// 200 req/s, so a node's unsynced admissions over 2 sync intervals are 40,
// far less than the limit, and the run is long enough (800 ms, 160 requests
// a node) that a node left on its own would spend the whole limit.
func TestMultiInstanceAccuracy(t *testing.T) {
	dsn, _, _ := redisDSN(t)
	const nodes, limit = 3, 100
	const window = 10 * time.Second
	syncEvery := 100 * time.Millisecond
	for _, tc := range []struct {
		name  string
		mode  Mode
		alg   Algorithm
		every time.Duration // one request per node every this long
		dur   time.Duration
	}{
		{"strict/sliding", Strict, SlidingWindow, 2 * time.Millisecond, 600 * time.Millisecond},
		{"strict/token", Strict, TokenBucket, 2 * time.Millisecond, 600 * time.Millisecond},
		{"local/sliding", Local, SlidingWindow, 5 * time.Millisecond, 800 * time.Millisecond},
		{"local/token", Local, TokenBucket, 5 * time.Millisecond, 800 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cs []Counters
			for range nodes {
				// A generous timeout: this measures accuracy, not outages, and
				// the shared test machine (and -race) can be slow.
				cs = append(cs, openT(t, dsn, WithSyncInterval(syncEvery), WithTimeout(2*time.Second)))
			}
			l := Limit{Count: limit, Window: window, Mode: tc.mode, Algorithm: tc.alg}
			key := "acc:" + tc.name
			// The sliding window counts per fixed window aligned to the Unix
			// epoch; a run across a boundary would add the algorithm's own
			// edge error (TestSlidingApproximationError) to the figures.
			if into := time.Duration(time.Now().UnixNano() % int64(window)); into > window-tc.dur-500*time.Millisecond {
				time.Sleep(window - into + 50*time.Millisecond)
			}
			var admitted, degraded atomic.Int64
			sent := make([]atomic.Int64, nodes)
			var wg sync.WaitGroup
			for i, c := range cs {
				for range 2 { // two client goroutines per node
					wg.Add(1)
					go func() {
						defer wg.Done()
						// A ticker drops ticks it cannot deliver, so a slow
						// machine sends less, never faster than the rate.
						tick := time.NewTicker(2 * tc.every)
						defer tick.Stop()
						end := time.Now().Add(tc.dur)
						for time.Now().Before(end) {
							<-tick.C
							sent[i].Add(1)
							d, err := c.Allow(context.Background(), key, l, time.Now())
							if err == nil && d.Allowed {
								admitted.Add(1)
							}
							if d.Degraded {
								degraded.Add(1)
							}
						}
					}()
				}
			}
			wg.Wait()
			got := admitted.Load()
			perNodeRate := float64(time.Second / tc.every)
			// A token bucket also refills during the run (10/s x the run).
			refill := int64(0)
			if tc.alg == TokenBucket {
				refill = int64(tc.dur*limit/window) + 1
			}
			strictMax := int64(limit + 5)
			if tc.alg == TokenBucket {
				strictMax = limit + refill
			}
			// Documented bound for local (docs/rate-limiting.md): the other
			// nodes' admissions over 2 sync intervals (a push lands up to one
			// interval after an admission, the others pull up to one interval
			// later), at most (nodes-1) x limit.
			overshoot := min(float64((nodes-1)*limit), float64(nodes-1)*perNodeRate*2*syncEvery.Seconds())
			bound := limit + refill + int64(overshoot)
			// With no sync each node would spend the whole limit (plus its own
			// refill) on its own, or admit all it was sent.
			noSync := int64(0)
			for i := range sent {
				noSync += min(sent[i].Load(), limit+refill)
			}
			want := fmt.Sprintf("want %d..%d", limit, strictMax)
			if tc.mode == Local {
				want = fmt.Sprintf("documented bound %d, sync every %v; no sync would admit %d", bound, syncEvery, noSync)
			}
			t.Logf("%s: %d nodes, limit %d/10s, %v req/s per node for %v: admitted %d (%s)",
				tc.name, nodes, limit, perNodeRate, tc.dur, got, want)
			if n := degraded.Load(); n > 0 {
				t.Fatalf("%d decisions were made without Redis; the figures are meaningless", n)
			}
			if tc.mode == Strict && (got < limit || got > strictMax) {
				t.Fatalf("strict admitted %d, want %d..%d", got, limit, strictMax)
			}
			if tc.mode == Local {
				if bound >= noSync {
					t.Fatalf("the traffic cannot tell sync from no sync: bound %d, no sync %d", bound, noSync)
				}
				if got < limit || got > bound {
					t.Fatalf("local admitted %d, want %d..%d (no sync would admit %d)", got, limit, bound, noSync)
				}
			}
		})
	}
}

func BenchmarkAllowRedisStrict(b *testing.B) {
	base := os.Getenv("TOLLGATE_TEST_REDIS")
	if base == "" {
		b.Skip("set TOLLGATE_TEST_REDIS")
	}
	c, _ := Open(base+"?prefix=tgbench:", nil)
	defer c.Close()
	l := Limit{Count: 1 << 40, Window: time.Second}
	for b.Loop() {
		c.Allow(context.Background(), "bench", l, time.Now())
	}
}

// TestRedisMatchesMemory is a differential test: the Lua scripts must make
// the same decisions as the Go algorithms on the same random traffic.
func TestRedisMatchesMemory(t *testing.T) {
	dsn, _, _ := redisDSN(t)
	rc := openT(t, dsn)
	mc := openT(t, "memory://")
	rng := mathrand.New(mathrand.NewPCG(7, 9))
	for _, alg := range []Algorithm{SlidingWindow, TokenBucket} {
		l := Limit{Count: 7, Window: 2 * time.Second, Algorithm: alg}
		at := t0
		for i := range 400 {
			at = at.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
			dm, _ := mc.Allow(context.Background(), "diff"+alg.String(), l, at)
			dr, _ := rc.Allow(context.Background(), "diff"+alg.String(), l, at)
			if dm.Allowed != dr.Allowed || dm.Remaining != dr.Remaining ||
				absDur(dm.RetryAfter-dr.RetryAfter) > time.Millisecond || absDur(dm.ResetAfter-dr.ResetAfter) > time.Millisecond {
				t.Fatalf("%v request %d at +%v: memory %+v, redis %+v", alg, i, at.Sub(t0), dm, dr)
			}
		}
	}
}
