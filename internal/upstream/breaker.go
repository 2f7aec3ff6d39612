package upstream

import (
	"sync/atomic"
	"time"
)

const (
	breakerClosed int32 = iota
	breakerOpen         // open, or half-open once openUntil has passed
)

// breakerBuckets is how many slices the failure window is cut into: the
// window slides one slice at a time.
const breakerBuckets = 10

// breaker is a per-target circuit breaker. Everything is atomic so that Pick
// and End never take a lock: closed costs one load.
//
// closed -> open when failures/requests >= ratio over >= minReqs requests in the
// window; open until openUntil; after that it is half-open: one request (the
// probe) may claim the slot, its success closes the breaker, its failure re-opens.
type breaker struct {
	state      atomic.Int32
	openUntil  atomic.Int64 // unix nanos
	probeSince atomic.Int64 // when the half-open probe was claimed; 0 = free
	buckets    [breakerBuckets]bucket
}

type bucket struct {
	epoch, total, fail atomic.Int64
}

// mayAdmit reports, without claiming anything, whether the breaker would let a
// request through now.
func (b *breaker) mayAdmit(now int64, s *breakerSettings) bool {
	if b.state.Load() == breakerClosed {
		return true
	}
	if now < b.openUntil.Load() {
		return false
	}
	p := b.probeSince.Load()
	return p == 0 || now-p >= int64(s.staleFor)
}

// claim lets a request through, taking the probe slot when half-open. A probe
// whose result never came back frees the slot after staleFor.
func (b *breaker) claim(now int64, s *breakerSettings) bool {
	if b.state.Load() == breakerClosed {
		return true
	}
	if now < b.openUntil.Load() {
		return false
	}
	p := b.probeSince.Load()
	if p != 0 && now-p < int64(s.staleFor) {
		return false
	}
	return b.probeSince.CompareAndSwap(p, now)
}

// record feeds one result in and reports whether it opened the breaker.
func (b *breaker) record(now int64, failed bool, s *breakerSettings) bool {
	if b.state.Load() == breakerClosed {
		b.add(now, failed, s)
		return failed && b.tripping(now, s) && b.trip(now, s)
	}
	if now < b.openUntil.Load() {
		return false // a request from before the breaker opened
	}
	if failed {
		return b.trip(now, s)
	}
	b.close()
	return false
}

func (b *breaker) trip(now int64, s *breakerSettings) bool {
	// openUntil first: a reader that sees the new state must see the new deadline.
	b.openUntil.Store(now + int64(s.openFor))
	b.probeSince.Store(0)
	return b.state.Swap(breakerOpen) == breakerClosed
}

func (b *breaker) close() {
	b.reset()
	b.probeSince.Store(0)
	b.state.Store(breakerClosed)
}

// reset forgets the window's counts.
func (b *breaker) reset() {
	for i := range b.buckets {
		b.buckets[i].total.Store(0)
		b.buckets[i].fail.Store(0)
		b.buckets[i].epoch.Store(0)
	}
}

func bucketEpoch(now int64, s *breakerSettings) int64 {
	return now/max(int64(s.window)/breakerBuckets, 1) + 1 // +1: epoch 0 means "unused"
}

// add counts one result in the current slice. Two writers racing on a slice
// rollover may lose a count; the breaker is a ratio over many requests, so an
// approximate count is fine and cheaper than a lock.
func (b *breaker) add(now int64, failed bool, s *breakerSettings) {
	e := bucketEpoch(now, s)
	bk := &b.buckets[e%breakerBuckets]
	if old := bk.epoch.Load(); old != e && bk.epoch.CompareAndSwap(old, e) {
		bk.total.Store(0)
		bk.fail.Store(0)
	}
	bk.total.Add(1)
	if failed {
		bk.fail.Add(1)
	}
}

func (b *breaker) tripping(now int64, s *breakerSettings) bool {
	e := bucketEpoch(now, s)
	var total, fail int64
	for i := range b.buckets {
		bk := &b.buckets[i]
		if age := e - bk.epoch.Load(); age >= 0 && age < breakerBuckets {
			total += bk.total.Load()
			fail += bk.fail.Load()
		}
	}
	return total >= int64(s.minReqs) && float64(fail) >= s.ratio*float64(total)
}

// returnsAt is when the breaker may admit again (unix nanos; <= now if it does).
func (b *breaker) returnsAt(now int64) int64 {
	if b.state.Load() == breakerClosed {
		return now
	}
	if until := b.openUntil.Load(); now < until {
		return until
	}
	return now + int64(time.Second) // half-open with the probe in flight
}

func (b *breaker) stateName(now int64) string {
	switch {
	case b.state.Load() == breakerClosed:
		return "closed"
	case now < b.openUntil.Load():
		return "open"
	}
	return "half_open"
}
