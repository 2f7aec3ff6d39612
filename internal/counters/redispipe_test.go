package counters

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// pipeCounter is a go-redis hook counting pipelines and the script calls
// they carry.
type pipeCounter struct{ pipes, cmds atomic.Int64 }

func (*pipeCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*pipeCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (p *pipeCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		p.pipes.Add(1)
		p.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// TestRedisPipelinesConcurrentDecisions: decisions made at once share
// pipelines (fewer round trips than decisions), and each stays exact: 400
// concurrent requests against a limit of 150 admit exactly 150.
func TestRedisPipelinesConcurrentDecisions(t *testing.T) {
	dsn, _, _ := redisDSN(t)
	c := openT(t, dsn)
	var hook pipeCounter
	c.(*redisCounters).rdb.AddHook(&hook)
	for _, alg := range []Algorithm{SlidingWindow, TokenBucket} {
		hook.pipes.Store(0)
		hook.cmds.Store(0)
		l := Limit{Count: 150, Window: time.Hour, Algorithm: alg}
		now := time.Now()
		var admitted atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 400 {
			wg.Go(func() {
				<-start
				d, err := c.Allow(context.Background(), "pipe-"+alg.String(), l, now)
				if err != nil || d.Degraded {
					t.Errorf("%v: %+v %v", alg, d, err)
				}
				if d.Allowed {
					admitted.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if got := admitted.Load(); got != 150 {
			t.Errorf("%v: admitted %d of 400, want exactly 150", alg, got)
		}
		pipes, cmds := hook.pipes.Load(), hook.cmds.Load()
		t.Logf("%v: 400 decisions in %d pipelines (%d commands)", alg, pipes, cmds)
		if cmds != 400 || pipes >= cmds {
			t.Errorf("%v: %d pipelines for %d commands: not batched", alg, pipes, cmds)
		}
	}
}

// TestRedisPipelineReloadsFlushedScripts: after SCRIPT FLUSH (a Redis
// restart does the same) a pipelined EVALSHA fails with NOSCRIPT; the call
// is sent again in full and the decision still counts.
func TestRedisPipelineReloadsFlushedScripts(t *testing.T) {
	dsn, addr, _ := redisDSN(t)
	c := openT(t, dsn)
	l := Limit{Count: 2, Window: time.Hour}
	now := time.Now()
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	for i, want := range []bool{true, true, false} {
		if err := admin.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		d, err := c.Allow(context.Background(), "flushed", l, now)
		if err != nil || d.Degraded || d.Allowed != want {
			t.Fatalf("request %d after SCRIPT FLUSH: %+v %v, want allowed=%v from Redis", i, d, err, want)
		}
	}
}

// TestRedisCloseWithCallsInFlight: closing the driver while decisions are
// queued answers every one of them (none hangs).
func TestRedisCloseWithCallsInFlight(t *testing.T) {
	dsn, _, _ := redisDSN(t)
	c, err := Open(dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := Limit{Count: 1 << 30, Window: time.Hour}
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() { _, _ = c.Allow(context.Background(), "closing", l, time.Now()) })
	}
	time.Sleep(time.Millisecond)
	c.Close()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("decisions still waiting 5 s after Close")
	}
}
