package e2e

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 4: three gateway processes share the real Redis; a limit of 100 per
// 10 s admits between 100 and 105 in strict mode, and local mode stays
// within its documented bound.
func TestThreeNodesShareARateLimitInRedis(t *testing.T) {
	redisURL := os.Getenv("TOLLGATE_TEST_REDIS")
	if redisURL == "" {
		t.Skip("set TOLLGATE_TEST_REDIS=redis://127.0.0.1:6379/0 to run")
	}
	for _, mode := range []string{"strict", "local"} {
		t.Run(mode, func(t *testing.T) {
			up := upstream(t)
			prefix := "tg-e2e-" + rand.Text()[:8] + ":"
			sep := "?"
			// A generous per-call timeout: this test is about accuracy, and a
			// -race CI run can stall a call past the 100 ms default, which
			// (rightly) switches to the per-node fallback and over-admits.
			// Outages are TestRedisOutageAndRecovery's subject.
			settings := fmt.Sprintf("counters: %q\n", redisURL+sep+"prefix="+prefix+"&timeout=2s")
			doc := fmt.Sprintf(`services:
  - name: s
    targets: [%q]
routes:
  - name: limited
    service: s
    match: { paths: ["/limited"] }
    policies:
      rate_limit: { limit: 100, window: 10s, by: route, mode: %s }
`, up, mode)
			var nodes []*node
			for i := 0; i < 3; i++ {
				st := fmt.Sprintf("store: \"sqlite://%s/db\"\n", t.TempDir())
				nodes = append(nodes, startNode(t, fmt.Sprintf("%s-%d", mode, i), st+settings, doc))
			}
			// The sliding window counts per fixed 10 s window (aligned to the
			// Unix epoch) and weights the previous one as it slides, so a
			// burst that crosses a boundary may admit more than the limit in
			// that rolling window: the algorithm's documented edge error
			// (docs/rate-limiting.md, TestSlidingApproximationError). This
			// test is about cluster accuracy, so its burst stays inside one
			// fixed window.
			const window, burst = 10 * time.Second, 1500 * time.Millisecond
			if into := time.Duration(time.Now().UnixNano() % int64(window)); into > window-burst-500*time.Millisecond {
				time.Sleep(window - into + 50*time.Millisecond)
			}
			var admitted, limited, other atomic.Int64
			var wg sync.WaitGroup
			deadline := time.Now().Add(burst)
			for _, n := range nodes {
				for w := 0; w < 4; w++ {
					wg.Add(1)
					go func(n *node) {
						defer wg.Done()
						for time.Now().Before(deadline) {
							switch n.status("/limited") {
							case http.StatusOK:
								admitted.Add(1)
							case http.StatusTooManyRequests:
								limited.Add(1)
							default:
								other.Add(1)
							}
						}
					}(n)
				}
			}
			wg.Wait()
			t.Logf("mode %s: 3 nodes, limit 100/10s: admitted %d, limited %d, other %d",
				mode, admitted.Load(), limited.Load(), other.Load())
			if other.Load() != 0 {
				t.Fatalf("%d requests failed otherwise", other.Load())
			}
			lo, hi := int64(100), int64(105)
			if mode == "local" {
				hi = 300 // documented bound: (nodes-1) x limit at most; see docs/rate-limiting.md
			}
			if n := admitted.Load(); n < lo || n > hi {
				t.Fatalf("admitted %d, want %d..%d", n, lo, hi)
			}
		})
	}
}
