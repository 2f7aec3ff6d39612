package counters

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Script calls to Redis are pipelined: while one batch is on the wire, the
// calls that arrive wait in a queue, and the next batch sends all of them
// in one write and reads their replies in one go. Each script still runs
// atomically in Redis, so a strict decision is exactly what it was; what
// changes is the cost around it. A gateway deciding one request at a time
// paid a write, a read and a network-poller wake-up per decision; with 64
// requests in flight, a batch carries most of them for one of each. A
// lone request waits for nothing: the queue is empty and its batch goes at
// once.

// maxBatch bounds one pipeline (a reply buffer of a few KiB).
const maxBatch = 256

// pipelines is how many batches may be on the wire at once (one
// connection each): one would leave decisions queued for a whole round
// trip behind a batch that has only just left.
const pipelines = 4

// queuedCall is one queued script call and, once done is signalled, its
// result.
type queuedCall struct {
	script *redis.Script
	keys   []string
	args   []any
	res    []int64
	err    error
	done   chan struct{}
}

var queuedCalls = sync.Pool{New: func() any { return &queuedCall{done: make(chan struct{}, 1)} }}

var errClosed = errors.New("counters: closed")

// call runs a script through the pipeline, bounded by the per-call timeout
// (twice it, counting the wait for the batch ahead), and marks an outage
// on error.
func (r *redisCounters) call(ctx context.Context, s *redis.Script, keys []string, args ...any) ([]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*r.timeout)
	defer cancel()
	q := queuedCalls.Get().(*queuedCall)
	q.script, q.keys, q.args = s, keys, args
	var v []int64
	var err error
	select {
	case r.calls <- q:
		select {
		case <-q.done:
			v, err = q.res, q.err
			*q = queuedCall{done: q.done}
			queuedCalls.Put(q)
		case <-ctx.Done():
			err = ctx.Err() // q is the batch's still: it is not reused
		case <-r.stop:
			err = errClosed // q may still be answered: it is not reused
		}
	case <-ctx.Done():
		err = ctx.Err()
	case <-r.stop:
		err = errClosed
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		r.markDown(err)
	}
	return v, err
}

// pipeLoop sends the queued calls, a batch at a time.
func (r *redisCounters) pipeLoop() {
	defer r.wg.Done()
	batch := make([]*queuedCall, 0, maxBatch)
	cmds := make([]*redis.Cmd, 0, maxBatch)
	for {
		select {
		case q := <-r.calls:
			batch = append(batch[:0], q)
		case <-r.stop:
			r.failQueued()
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case q := <-r.calls:
				batch = append(batch, q)
			default:
				break more
			}
		}
		cmds = r.runBatch(batch, cmds[:0])
		clear(batch)
		clear(cmds)
	}
}

// runBatch sends batch as one pipeline of EVALSHAs. A script Redis does
// not know (NOSCRIPT: after a restart or SCRIPT FLUSH) is sent again in
// full, which loads it for the calls after.
func (r *redisCounters) runBatch(batch []*queuedCall, cmds []*redis.Cmd) []*redis.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	pipe := r.rdb.Pipeline()
	for _, q := range batch {
		cmds = append(cmds, q.script.EvalSha(ctx, pipe, q.keys, q.args...))
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, q := range batch {
		q.res, q.err = cmds[i].Int64Slice()
		if q.err != nil && redis.HasErrorPrefix(q.err, "NOSCRIPT") {
			q.res, q.err = q.script.Eval(ctx, r.rdb, q.keys, q.args...).Int64Slice()
		}
		q.done <- struct{}{}
	}
	return cmds
}

// failQueued answers the calls still queued when the driver closes.
func (r *redisCounters) failQueued() {
	for {
		select {
		case q := <-r.calls:
			q.err = errClosed
			q.done <- struct{}{}
		default:
			return
		}
	}
}
