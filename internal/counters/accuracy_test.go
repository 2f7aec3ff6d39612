package counters

import (
	"math/rand/v2"
	"testing"
	"time"
)

// maxInAnyWindow is the largest number of timestamps (sorted, ns) in any
// half-open interval of length w: the exact rolling-window count.
func maxInAnyWindow(ts []int64, w int64) int {
	best, j := 0, 0
	for i := range ts {
		for ts[i]-ts[j] >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// TestSlidingApproximationError measures the two-bucket approximation
// against an exact rolling window (figures quoted in docs/rate-limiting.md):
// uniform random traffic at twice the limit, and the adversarial pattern
// (a full burst at the very end of a window, then steady traffic).
func TestSlidingApproximationError(t *testing.T) {
	const limit = 100
	w := (10 * time.Second).Nanoseconds()
	l := Limit{Count: limit, Window: 10 * time.Second}
	run := func(arrivals []int64) int {
		s := &slidingState{}
		var admitted []int64
		for _, at := range arrivals {
			if slidingDecide(s, l, at).Allowed {
				admitted = append(admitted, at)
			}
		}
		return maxInAnyWindow(admitted, w)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var uniform []int64
	at := int64(0)
	for at < 200*w { // 200 windows at ~2x the limit
		at += rng.Int64N(2 * w / (2 * limit))
		uniform = append(uniform, at)
	}
	var burst []int64
	for i := range limit {
		burst = append(burst, w-1-int64(limit-i)) // last instants of window 0
	}
	for at := w; at < 2*w; at += w / (10 * limit) { // then 10x the rate through window 1
		burst = append(burst, at)
	}
	u, b := run(uniform), run(burst)
	t.Logf("limit %d/10s: uniform 2x traffic -> max %d in any rolling window (+%.1f%%); end-of-window burst -> max %d (+%.0f%%)",
		limit, u, 100*float64(u-limit)/limit, b, 100*float64(b-limit)/limit)
	if u > limit*11/10 {
		t.Fatalf("uniform traffic over-admitted %d (> 10%%)", u)
	}
	if b > 2*limit {
		t.Fatalf("never more than two buckets' worth: %d", b)
	}
}
