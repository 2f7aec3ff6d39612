package counters

import (
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// fakeClock is a settable clock for background work.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time)     { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// t0 is aligned to 10s windows so offsets read as window positions.
var t0 = time.Unix(1_700_000_000, 0)

type step struct {
	at         time.Duration // offset from t0
	n          int           // requests sent at that instant
	allowed    int           // how many must be admitted
	remaining  int64         // Remaining of the last decision
	retry      time.Duration // RetryAfter of the last decision (when refused), 0 = don't check
	resetAfter time.Duration // ResetAfter of the last decision, 0 = don't check
}

type algoCase struct {
	name  string
	limit Limit
	steps []step
}

var algoCases = []algoCase{
	{"sliding/burst then refuse", Limit{Count: 10, Window: 10 * time.Second}, []step{
		{at: 0, n: 11, allowed: 10, remaining: 0, retry: 11 * time.Second, resetAfter: 10 * time.Second},
		{at: 10900 * time.Millisecond, n: 1, allowed: 0, remaining: 0},
		{at: 11 * time.Second, n: 2, allowed: 1, remaining: 0},
	}},
	{"sliding/burst at window end counts fully after the edge", Limit{Count: 10, Window: 10 * time.Second}, []step{
		{at: 9999 * time.Millisecond, n: 10, allowed: 10, remaining: 0},
		{at: 10 * time.Second, n: 1, allowed: 0, remaining: 0, retry: 1 * time.Second},
		{at: 15 * time.Second, n: 6, allowed: 5, remaining: 0},
	}},
	{"sliding/previous window weighted", Limit{Count: 10, Window: 10 * time.Second}, []step{
		{at: 0, n: 4, allowed: 4, remaining: 6},
		{at: 12500 * time.Millisecond, n: 1, allowed: 1, remaining: 6}, // 4*0.75 + 1 = 4 -> 6 left
		{at: 12500 * time.Millisecond, n: 7, allowed: 6, remaining: 0},
	}},
	{"sliding/idle two windows resets", Limit{Count: 3, Window: 10 * time.Second}, []step{
		{at: 0, n: 3, allowed: 3, remaining: 0},
		{at: 25 * time.Second, n: 1, allowed: 1, remaining: 2, resetAfter: 5 * time.Second},
	}},
	{"token/burst then one per interval", Limit{Count: 10, Window: 10 * time.Second, Algorithm: TokenBucket}, []step{
		{at: 0, n: 11, allowed: 10, remaining: 0, retry: time.Second},
		{at: 999 * time.Millisecond, n: 1, allowed: 0, retry: time.Millisecond},
		{at: time.Second, n: 2, allowed: 1, remaining: 0, retry: time.Second},
		{at: 11 * time.Second, n: 1, allowed: 1, remaining: 9, resetAfter: time.Second},
	}},
	{"token/steady rate never refused", Limit{Count: 2, Window: time.Second, Algorithm: TokenBucket}, []step{
		{at: 0, n: 1, allowed: 1, remaining: 1, resetAfter: 500 * time.Millisecond},
		{at: 500 * time.Millisecond, n: 1, allowed: 1, remaining: 1},
		{at: 1000 * time.Millisecond, n: 1, allowed: 1, remaining: 1},
		{at: 1000 * time.Millisecond, n: 2, allowed: 1, remaining: 0, retry: 500 * time.Millisecond},
	}},
}

// runAlgoCases runs the shared algorithm table against a driver; key is
// made unique per case by the caller's prefix.
func runAlgoCases(t *testing.T, c Counters, prefix string) {
	for _, tc := range algoCases {
		t.Run(tc.name, func(t *testing.T) {
			key := prefix + tc.name
			for i, s := range tc.steps {
				var last Decision
				allowed := 0
				for range s.n {
					d, err := c.Allow(context.Background(), key, tc.limit, t0.Add(s.at))
					if err != nil {
						t.Fatalf("step %d: %v", i, err)
					}
					if d.Allowed {
						allowed++
					}
					last = d
				}
				if allowed != s.allowed || last.Remaining != s.remaining {
					t.Fatalf("step %d (+%v): allowed %d remaining %d, want %d and %d (%+v)", i, s.at, allowed, last.Remaining, s.allowed, s.remaining, last)
				}
				if s.retry != 0 && !last.Allowed && absDur(last.RetryAfter-s.retry) > time.Millisecond {
					t.Fatalf("step %d: RetryAfter %v, want %v", i, last.RetryAfter, s.retry)
				}
				if s.resetAfter != 0 && absDur(last.ResetAfter-s.resetAfter) > time.Millisecond {
					t.Fatalf("step %d: ResetAfter %v, want %v", i, last.ResetAfter, s.resetAfter)
				}
			}
		})
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func TestMemoryAlgorithms(t *testing.T) {
	c, err := Open("memory://", nil, WithClock(&fakeClock{t: t0}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runAlgoCases(t, c, "mem:")
}

// TestSlidingRetryIsExact checks that RetryAfter is the first instant a
// request is admitted again: refused just before it, admitted at it.
func TestSlidingRetryIsExact(t *testing.T) {
	for _, n := range []int{3, 7, 10, 13} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			l := Limit{Count: 10, Window: 10 * time.Second}
			s := &slidingState{}
			for i := range n {
				slidingDecide(s, l, t0.Add(time.Duration(i)*time.Second).UnixNano())
			}
			at := t0.Add(9 * time.Second).UnixNano()
			for {
				d := slidingDecide(s, l, at)
				if d.Allowed {
					break
				}
				before := *s
				if d2 := slidingDecide(&before, l, at+int64(d.RetryAfter)-int64(time.Millisecond)); d2.Allowed {
					t.Fatalf("admitted 1ms before RetryAfter %v", d.RetryAfter)
				}
				at += int64(d.RetryAfter)
			}
		})
	}
}

func runAddCases(t *testing.T, c Counters, key string, clock *fakeClock) {
	ctx := context.Background()
	exp := clock.Now().Add(time.Hour)
	for i := 1; i <= 3; i++ {
		n, ok, err := c.Add(ctx, key, 1, 3, exp)
		if err != nil || !ok || n != int64(i) {
			t.Fatalf("add %d: n=%d ok=%v err=%v", i, n, ok, err)
		}
	}
	if n, ok, _ := c.Add(ctx, key, 1, 3, exp); ok || n != 3 {
		t.Fatalf("add over max: n=%d ok=%v, want 3 false", n, ok)
	}
	if n, _ := c.Get(ctx, key); n != 3 {
		t.Fatalf("get = %d, want 3", n)
	}
	if n, ok, _ := c.Add(ctx, key, 5, 0, exp); !ok || n != 8 {
		t.Fatalf("unbounded add: n=%d ok=%v", n, ok)
	}
}

func TestMemoryAdd(t *testing.T) {
	clock := &fakeClock{t: t0}
	c, _ := Open("memory://", nil, WithClock(clock))
	defer c.Close()
	runAddCases(t, c, "k", clock)
	clock.Add(2 * time.Hour)
	if n, _ := c.Get(context.Background(), "k"); n != 0 {
		t.Fatalf("expired counter reads %d", n)
	}
	if n, ok, _ := c.Add(context.Background(), "k", 1, 3, clock.Now().Add(time.Hour)); !ok || n != 1 {
		t.Fatalf("expired counter restarts: n=%d ok=%v", n, ok)
	}
}

// TestMemorySnapshotSurvivesRestart is the single-node durability promise:
// quota counts written before Close are there after reopening.
func TestMemorySnapshotSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counters.json")
	exp := time.Now().Add(time.Hour)
	c, err := Open("memory://?snapshot="+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c.Add(context.Background(), "quota:acme", 1, 100, exp)
	}
	c.Add(context.Background(), "gone", 1, 100, time.Now().Add(-time.Second))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open("memory://?snapshot="+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	n, ok, _ := c2.Add(context.Background(), "quota:acme", 1, 100, exp)
	if !ok || n != 6 {
		t.Fatalf("after restart n=%d, want 6", n)
	}
	if n, _ := c2.Get(context.Background(), "gone"); n != 0 {
		t.Fatalf("expired counter came back: %d", n)
	}
}

func TestOpenRejectsUnknownScheme(t *testing.T) {
	if _, err := Open("mongo://x", nil); err == nil {
		t.Fatal("want error")
	}
}

func TestRedisTimeoutOption(t *testing.T) {
	for _, bad := range []string{"bogus", "0s", "-1s", "11s"} {
		if _, err := Open("redis://127.0.0.1:1/0?timeout="+bad, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("timeout=%s accepted", bad)
		}
	}
	// A closed port: the backend starts degraded, but the option applies.
	c, err := Open("redis://127.0.0.1:1/0?timeout=250ms&prefix=x:", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, ok := c.(*redisCounters); !ok || r.timeout != 250*time.Millisecond || r.prefix != "x:" {
		t.Fatalf("timeout/prefix not applied: %#v", c)
	}
}

func BenchmarkAllowMemory(b *testing.B) {
	c, _ := Open("memory://", nil)
	defer c.Close()
	l := Limit{Count: 1 << 40, Window: time.Second}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		now := time.Now()
		for pb.Next() {
			c.Allow(context.Background(), "bench", l, now)
		}
	})
}

// TestMemoryConcurrentExact: concurrent callers on one key never exceed the limit.
func TestMemoryConcurrentExact(t *testing.T) {
	c, _ := Open("memory://", nil)
	defer c.Close()
	for _, alg := range []Algorithm{SlidingWindow, TokenBucket} {
		l := Limit{Count: 100, Window: time.Hour, Algorithm: alg}
		var wg sync.WaitGroup
		var admitted sync.Map
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := 0
				for range 50 {
					if d, _ := c.Allow(context.Background(), "hot"+alg.String(), l, t0); d.Allowed {
						n++
					}
				}
				admitted.Store(g, n)
			}()
		}
		wg.Wait()
		total := 0
		admitted.Range(func(_, v any) bool { total += v.(int); return true })
		if total != 100 {
			t.Fatalf("%v: admitted %d of 400, want exactly 100", alg, total)
		}
	}
}

// recordingDurable counts hook calls.
type recordingDurable struct {
	mu           sync.Mutex
	loads, saves int
	saved        map[string]int64
}

func (d *recordingDurable) Load(string) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loads++
	return 40, nil
}

func (d *recordingDurable) Save(k string, n int64, _ time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.saves++
	d.saved[k] = n
	return nil
}

// TestDurableHookIsBatched: one Load per key, Saves only at flush, never per request.
func TestDurableHookIsBatched(t *testing.T) {
	d := &recordingDurable{saved: map[string]int64{}}
	c, _ := Open("memory://", nil, WithDurable(d))
	exp := time.Now().Add(time.Hour)
	for range 100 {
		c.Add(context.Background(), "q", 1, 0, exp)
	}
	d.mu.Lock()
	loads, saves := d.loads, d.saves
	d.mu.Unlock()
	if loads != 1 || saves > 1 {
		t.Fatalf("loads %d saves %d after 100 adds; want 1 load, batched saves", loads, saves)
	}
	c.Close()
	if d.saved["q"] != 140 {
		t.Fatalf("saved %d at Close, want 140 (40 loaded + 100)", d.saved["q"])
	}
}

// Keys whose hashes collide share a chain in the memory driver's map: each
// keeps its own state, and the sweep drops expired links anywhere in a
// chain. (Real 64-bit collisions are too rare to meet in a test, so the
// chain is built under one hash by hand.)
func TestMemoryHashChains(t *testing.T) {
	clock := &fakeClock{t: t0}
	c, _ := Open("memory://", nil, WithClock(clock))
	defer c.Close()
	m := c.(*memory)
	ctx := context.Background()
	lim := Limit{Count: 2, Window: time.Second, Algorithm: SlidingWindow}
	// "a" is counted once, then "b" and "c" are hung under a's hash.
	if _, err := m.Allow(ctx, "a", lim, clock.Now()); err != nil {
		t.Fatal(err)
	}
	h := maphash.String(m.seed, "a")
	sh := &m.shards[h%shardCount]
	sh.mu.Lock()
	for _, k := range []string{"b", "c"} {
		sh.limits[h] = &limitEntry{key: k, next: sh.limits[h], expires: clock.Now().Add(time.Hour).UnixNano()}
	}
	sh.mu.Unlock()
	// "a" is found behind them (second request allowed, third refused);
	// "b" and "c" keep their fresh state.
	if d, _ := m.Allow(ctx, "a", lim, clock.Now()); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("a's second request: %+v", d)
	}
	if d, _ := m.Allow(ctx, "a", lim, clock.Now()); d.Allowed {
		t.Fatal("a's third request was allowed: its state was lost in the chain")
	}
	if d, _ := m.Allow(ctx, "b", lim, clock.Now()); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("b's first request: %+v", d)
	}
	chain := func() (keys []string) {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		for e := sh.limits[h]; e != nil; e = e.next {
			keys = append(keys, e.key)
		}
		return keys
	}
	if got := chain(); len(got) != 3 {
		t.Fatalf("chain %q, want a, b and c", got)
	}
	// The chain is c, b, a. c (the head) and a (the tail) expire; b, set
	// to live an hour, stays.
	sh.mu.Lock()
	for e := sh.limits[h]; e != nil; e = e.next {
		switch e.key {
		case "b":
			e.expires = clock.Now().Add(time.Hour).UnixNano()
		case "c":
			e.expires = clock.Now().UnixNano()
		}
	}
	sh.mu.Unlock()
	clock.Add(3 * time.Second)
	m.sweep()
	if got := chain(); len(got) != 1 || got[0] != "b" {
		t.Fatalf("after the sweep: chain %q, want only b", got)
	}
	clock.Add(2 * time.Hour)
	m.sweep()
	sh.mu.Lock()
	_, left := sh.limits[h]
	sh.mu.Unlock()
	if left {
		t.Fatal("an empty chain was left in the map")
	}
}

// The memory driver keeps its own copy of a key: a caller that reuses the
// key's bytes afterwards (against Allow's contract, or by a bug) does not
// change the counter's name, so the next request under the same key finds
// its state.
func TestMemoryKeepsItsOwnKey(t *testing.T) {
	clock := &fakeClock{t: t0}
	c, _ := Open("memory://", nil, WithClock(clock))
	defer c.Close()
	ctx := context.Background()
	lim := Limit{Count: 1, Window: time.Minute, Algorithm: SlidingWindow}
	buf := []byte("rl:route:key-one")
	key := unsafe.String(&buf[0], len(buf))
	if d, _ := c.Allow(ctx, key, lim, clock.Now()); !d.Allowed {
		t.Fatal("first request refused")
	}
	copy(buf, "rl:route:key-two")
	if d, _ := c.Allow(ctx, "rl:route:key-one", lim, clock.Now()); d.Allowed {
		t.Fatal("key-one's second request was allowed: the counter kept the caller's bytes as its name")
	}
}

// TestSnapshotPathPrecedence: the DSN's ?snapshot=PATH wins over the
// gateway's default (WithDefaultSnapshot, <data dir>/counters.json), which
// applies when the DSN names none; only the chosen file is written.
func TestSnapshotPathPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name, query, want, unwritten string
	}{
		{"dsn wins", "?snapshot={dir}/dsn.json", "dsn.json", "default.json"},
		{"default without snapshot=", "", "default.json", "dsn.json"},
		{"default with empty snapshot=", "?snapshot=", "default.json", "dsn.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dsn := "memory://" + strings.ReplaceAll(tc.query, "{dir}", dir)
			c, err := Open(dsn, nil, WithDefaultSnapshot(filepath.Join(dir, "default.json")))
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				c.Add(context.Background(), "quota:acme", 1, 100, time.Now().Add(time.Hour))
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			fd, err := NewFileDurable(filepath.Join(dir, tc.want))
			if err != nil {
				t.Fatal(err)
			}
			defer fd.Close()
			if n, _ := fd.Load("quota:acme"); n != 4 {
				t.Fatalf("%s holds %d for quota:acme, want 4", tc.want, n)
			}
			if _, err := os.Stat(filepath.Join(dir, tc.unwritten)); !os.IsNotExist(err) {
				t.Fatalf("%s was written too (stat: %v)", tc.unwritten, err)
			}
		})
	}
}

// TestRedisPrefixValidation: a prefix that would break the driver's keys
// (<prefix>{key}<suffix>, hash-tagged for Redis Cluster) is refused at
// Open with an actionable error; ordinary prefixes open (against a closed
// port: the backend starts degraded) and are used as given.
func TestRedisPrefixValidation(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		bad    string // substring of the error; "" = accepted
	}{
		{"tg:", ""},
		{"", ""},
		{"app-1_prod.v2:", ""},
		{"équipe/α:", ""},
		{"tg{x}:", `contains '{'`},
		{"{tg}:", `contains '{'`},
		{"tg}:", `contains '}'`},
		{"tg prod:", "whitespace"},
		{"tg\t:", "whitespace"},
		{"tg:\n", "whitespace"},
		{"tg\x00:", "control"},
		{"tg\x7f:", "control"},
		{"tg\xff:", "invalid"},
	} {
		t.Run(fmt.Sprintf("%q", tc.prefix), func(t *testing.T) {
			for _, cluster := range []string{"", "&cluster=true"} {
				dsn := "redis://127.0.0.1:1/0?timeout=50ms&prefix=" + url.QueryEscape(tc.prefix) + cluster
				c, err := Open(dsn, slog.New(slog.DiscardHandler))
				if tc.bad == "" {
					if err != nil {
						t.Fatalf("Open(%q): %v", dsn, err)
					}
					r, _ := c.(*redisCounters)
					c.Close()
					if r == nil || r.prefix != tc.prefix {
						t.Fatalf("prefix not applied: %#v", c)
					}
					continue
				}
				if err == nil {
					c.Close()
					t.Fatalf("Open(%q) accepted the prefix", dsn)
				}
				for _, want := range []string{tc.bad, "prefix=", "e.g. prefix=tg:prod:"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				if CheckPrefix(tc.prefix) == nil {
					t.Errorf("CheckPrefix(%q) = nil, but Open refused it", tc.prefix)
				}
			}
		})
	}
	// An unescaped + in the URL decodes to a space: the error says so.
	if _, err := Open("redis://127.0.0.1:1/0?prefix=tg+prod:", nil); err == nil || !strings.Contains(err.Error(), "a + in a URL query is a space") {
		t.Fatalf("prefix=tg+prod: gave %v", err)
	}
}
