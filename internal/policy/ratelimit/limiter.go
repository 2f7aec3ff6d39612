package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/counters"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/ratelimit/clientkey"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// limiter checks one request against a set of limits sharing one `by`. It
// holds no counter state itself: state lives in the counters backend under
// keys derived from a stable scope (route name or plan), so a rebuilt
// limiter after a config reload continues the same counts.
type limiter struct {
	items  []item
	by     clientkey.By
	c      counters.Counters
	policy string // RateLimit-Policy value, built once
}

type item struct {
	quoted string // item name in the RateLimit fields, as an sf-string
	limit  counters.Limit
	prefix string // counter key prefix: rl:<scope>:<spec>:
}

// newLimiter names the limits after name (suffixed by window when several).
func newLimiter(scope, name string, limits []counters.Limit, by clientkey.By, c counters.Counters) *limiter {
	l := &limiter{by: by, c: c}
	pol := make([]string, len(limits))
	for i, lim := range limits {
		name := name
		if len(limits) > 1 {
			name += "-" + shortDuration(lim.Window)
		}
		l.items = append(l.items, item{quoted: strconv.Quote(name), limit: lim, prefix: "rl:" + scope + ":" + lim.Spec() + ":"})
		pol[i] = fmt.Sprintf("%s;q=%d;w=%d", strconv.Quote(name), lim.Count, ceilSeconds(lim.Window))
	}
	l.policy = strings.Join(pol, ", ")
	return l
}

// legacyClaim marks that one limiter already set the RateLimit-Limit/
// -Remaining/-Reset trio on this exchange (a route limit and a plan limit
// both run on authenticated routes; the trio must appear once).
type legacyClaim struct{}

// check counts the request against every limit, adds the headers and
// returns a 429 (or a 503 for fail_closed while Redis is down) when refused.
func (l *limiter) check(ex policy.Exchange) error {
	id := l.by.Key(ex)
	now := ex.Now()
	var (
		cur      = make([]string, len(l.items))
		tight    counters.Decision
		tightLim int64
		refused  bool
		retry    time.Duration
		down     bool
	)
	for i, it := range l.items {
		d, err := l.c.Allow(ex.Context(), it.prefix+id, it.limit, now)
		if errors.Is(err, counters.ErrUnavailable) {
			down = true
		} else if err != nil {
			d = counters.Decision{Allowed: true, Remaining: it.limit.Count} // never fail a request on an unexpected backend error
		}
		cur[i] = it.quoted + ";r=" + strconv.FormatInt(d.Remaining, 10) + ";t=" + strconv.FormatInt(ceilSeconds(d.ResetAfter), 10)
		if i == 0 || d.Remaining < tight.Remaining || !d.Allowed && tight.Allowed {
			tight, tightLim = d, it.limit.Count
		}
		if !d.Allowed {
			refused = true
			retry = max(retry, d.RetryAfter)
		}
	}
	ex.AddResponseHeader("RateLimit-Policy", l.policy)
	ex.AddResponseHeader("RateLimit", strings.Join(cur, ", "))
	if ex.Value(legacyClaim{}) == nil {
		ex.SetValue(legacyClaim{}, true)
		ex.AddResponseHeader("RateLimit-Limit", strconv.FormatInt(tightLim, 10))
		ex.AddResponseHeader("RateLimit-Remaining", strconv.FormatInt(tight.Remaining, 10))
		ex.AddResponseHeader("RateLimit-Reset", strconv.FormatInt(ceilSeconds(tight.ResetAfter), 10))
	}
	switch {
	case down:
		return problem.Unavailable(1, "rate limiting is temporarily unavailable; retry shortly")
	case refused:
		return problem.TooManyRequests(int(ceilSeconds(retry)), "rate limit exceeded; retry after the time in Retry-After")
	}
	return nil
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// shortDuration writes 1s, 10m, 1h instead of Go's 1m0s.
func shortDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}
