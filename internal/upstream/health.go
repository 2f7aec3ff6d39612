package upstream

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// healthBodyLimit is how much of a health response is read (and discarded)
// so the connection can be reused.
const healthBodyLimit = 64 << 10

// checker runs one target's active health checks in its own goroutine.
type checker struct {
	st     *targetState
	hs     healthSettings
	url    string
	rt     http.RoundTripper
	expect map[int]bool // nil: 200-399 pass

	cancel context.CancelFunc
	done   sync.WaitGroup

	passes, fails int // consecutive; touched only by the checker goroutine
}

func startChecker(t *Target, hs healthSettings, expect []int) *checker {
	ctx, cancel := context.WithCancel(context.Background())
	c := &checker{st: t.st, hs: hs, url: t.URL.String() + hs.path, rt: t.cl.rt, cancel: cancel}
	if len(expect) > 0 {
		c.expect = make(map[int]bool, len(expect))
		for _, code := range expect {
			c.expect[code] = true
		}
	}
	// An unhealthy target needs this long (at least) to pass enough checks.
	t.st.unhealthyBackoff.Store(int64(hs.interval) * int64(hs.healthy))
	c.done.Add(1)
	go c.run(ctx)
	return c
}

// stop ends the checker and waits for its goroutine; an in-flight check is
// cancelled.
func (c *checker) stop() {
	c.cancel()
	c.done.Wait()
}

func (c *checker) run(ctx context.Context) {
	defer c.done.Done()
	ticker := time.NewTicker(c.hs.interval)
	defer ticker.Stop()
	for {
		ok := c.check(ctx)
		if ctx.Err() != nil {
			return // stopped mid-check: the cut probe says nothing about the target
		}
		c.observe(ok)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// check makes one GET and reports whether it passed.
func (c *checker) check(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, c.hs.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "tollgate-health-check")
	resp, err := c.rt.RoundTrip(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, healthBodyLimit))
	_ = resp.Body.Close()
	return c.passed(resp.StatusCode)
}

func (c *checker) passed(code int) bool {
	if c.expect != nil {
		return c.expect[code]
	}
	return code >= 200 && code < 400
}

// observe applies the thresholds: a healthy target turns unhealthy after
// `unhealthy` consecutive failures, and back after `healthy` consecutive passes.
func (c *checker) observe(passed bool) {
	if passed {
		c.passes, c.fails = c.passes+1, 0
		if c.passes >= c.hs.healthy && !c.st.healthy.Load() {
			c.st.healthy.Store(true)
			c.st.log.Info("upstream target healthy", "service", c.st.service, "target", c.st.url)
		}
		return
	}
	c.passes, c.fails = 0, c.fails+1
	if c.fails >= c.hs.unhealthy && c.st.healthy.Load() {
		c.st.healthy.Store(false)
		c.st.log.Warn("upstream target unhealthy", "service", c.st.service, "target", c.st.url, "failed_checks", c.fails)
	}
}
