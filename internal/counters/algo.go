package counters

import (
	"math"
	"time"
)

// The algorithms are pure functions over a small state so the memory driver,
// the Redis fallback and the local (synced) mode share one implementation.
// The Redis Lua scripts mirror them; tests run the same tables on both.

// slidingState is two fixed-window buckets: idx is the current window number.
type slidingState struct {
	idx, prev, curr int64
}

// roll moves the buckets to the window containing now (ns).
func (s *slidingState) roll(now int64, w int64) {
	idx := now / w
	switch {
	case idx == s.idx:
	case idx == s.idx+1:
		s.prev, s.curr = s.curr, 0
	default:
		s.prev, s.curr = 0, 0
	}
	s.idx = idx
}

// estimate is the weighted count of the rolling window ending at now.
func (s *slidingState) estimate(now, w int64) float64 {
	elapsed := now - s.idx*w
	return float64(s.prev)*float64(w-elapsed)/float64(w) + float64(s.curr)
}

// slidingDecide admits one request if the weighted estimate stays within the limit.
func slidingDecide(s *slidingState, l Limit, now int64) Decision {
	w := l.Window.Nanoseconds()
	s.roll(now, w)
	est := s.estimate(now, w)
	elapsed := now - s.idx*w
	d := Decision{ResetAfter: time.Duration(w - elapsed)}
	if est+1 <= float64(l.Count) {
		s.curr++
		d.Allowed = true
		est++
	} else {
		d.RetryAfter = slidingRetry(s, l.Count, w, elapsed)
	}
	d.Remaining = max(0, int64(math.Floor(float64(l.Count)-est)))
	return d
}

// slidingRetry is the wait until the estimate leaves room for one request.
func slidingRetry(s *slidingState, limit, w, elapsed int64) time.Duration {
	room := float64(limit - 1 - s.curr)
	left := float64(w - elapsed)
	if room >= 0 && s.prev > 0 {
		// prev*(left-d)/w + curr + 1 <= limit
		d := left - room*float64(w)/float64(s.prev)
		if d < left {
			return time.Duration(math.Ceil(max(d, 1)))
		}
	}
	// Next window: curr becomes prev. curr*(w-e)/w + 1 <= limit.
	e := 0.0
	if s.curr > 0 {
		e = max(0, float64(w)-float64(limit-1)*float64(w)/float64(s.curr))
	}
	return time.Duration(math.Ceil(left + e))
}

// gcraState is GCRA's theoretical arrival time (ns).
type gcraState struct{ tat int64 }

// gcraDecide is the generic cell rate algorithm: one token every w/count,
// a full bucket holds count tokens.
func gcraDecide(s *gcraState, l Limit, now int64) Decision {
	w := l.Window.Nanoseconds()
	t := max(1, w/l.Count)
	tat := max(s.tat, now)
	next := tat + t
	if allowAt := next - w; now < allowAt {
		return Decision{RetryAfter: time.Duration(allowAt - now), ResetAfter: time.Duration(tat - now)}
	}
	s.tat = next
	return Decision{Allowed: true, Remaining: (w - (next - now)) / t, ResetAfter: time.Duration(next - now)}
}

// decide runs the limit's algorithm on the matching state.
func decide(sw *slidingState, tb *gcraState, l Limit, now time.Time) Decision {
	if l.Algorithm == TokenBucket {
		return gcraDecide(tb, l, now.UnixNano())
	}
	return slidingDecide(sw, l, now.UnixNano())
}
