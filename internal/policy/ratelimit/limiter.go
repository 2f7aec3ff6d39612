package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

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
	items     []item
	by        clientkey.By
	c         counters.Counters
	policy    string // RateLimit-Policy value, built once
	head      string // "RateLimit-Policy: <policy>\r\nRateLimit: ", the start of the lines
	keyBytes  int    // the items' key prefixes, summed
	lineBytes int    // room for the lines beyond the RateLimit value
}

// The names of the lines check renders: the two fields, and the two plus
// the earlier draft's trio.
var (
	fieldNames = []string{"RateLimit-Policy", "RateLimit"}
	allNames   = []string{"RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
)

const resetLine = "\r\nRateLimit-Reset: "

// itemBytes is room for one item of the RateLimit value (`"name";r=…;t=…`
// is ~40 bytes for a short name); a longer value just grows the buffer.
const itemBytes = 48

type item struct {
	quoted string // item name in the RateLimit fields, as an sf-string
	limit  counters.Limit
	prefix string // counter key prefix: rl:<scope>:<spec>:
	count  string // limit.Count in decimal (the RateLimit-Limit value)
	trio   string // "\r\nRateLimit-Limit: <count>\r\nRateLimit-Remaining: "
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
		count := strconv.FormatInt(lim.Count, 10)
		l.items = append(l.items, item{quoted: strconv.Quote(name), limit: lim, prefix: "rl:" + scope + ":" + lim.Spec() + ":",
			count: count, trio: "\r\nRateLimit-Limit: " + count + "\r\nRateLimit-Remaining: "})
		l.keyBytes += len(l.items[i].prefix)
		l.lineBytes = max(l.lineBytes, len(l.items[i].trio))
		pol[i] = fmt.Sprintf("%s;q=%d;w=%d", strconv.Quote(name), lim.Count, ceilSeconds(lim.Window))
	}
	l.policy = strings.Join(pol, ", ")
	l.head = "RateLimit-Policy: " + l.policy + "\r\nRateLimit: "
	l.lineBytes += len(l.head) + len(resetLine) + 2*20 + 2 // two numbers of up to 20 digits, CRLF
	return l
}

// legacyClaim marks that one limiter already set the RateLimit-Limit/
// -Remaining/-Reset trio on this exchange (a route limit and a plan limit
// both run on authenticated routes; the trio must appear once).
type legacyClaim struct{}

// check counts the request against every limit, adds the headers and
// returns a 429 (or a 503 for fail_closed while Redis is down) when refused.
func (l *limiter) check(ex policy.Exchange) error {
	var idBuf [128]byte
	id := l.by.AppendKey(idBuf[:0], ex) // the client's identity; one counter key per limit below
	now := ex.Now()
	// One buffer from the exchange's scratch memory holds the counter keys
	// and then the header values: written once, never changed while the
	// request lasts. The values die with the request; a backend that keeps
	// a key (a new counter's map key) copies it (Counters.Allow).
	buf := ex.Scratch(l.keyBytes + len(l.items)*(len(id)+itemBytes) + l.lineBytes)
	for i := range l.items { // by index: an item is ~100 bytes to copy
		buf = append(append(buf, l.items[i].prefix...), id...)
	}
	keys := buf[:len(buf):len(buf)]
	var stack [96]byte
	var (
		cur     = stack[:0] // the RateLimit value
		tight   counters.Decision
		tightAt int
		r, t    [2]int // the tightest item's r= and t= digits in cur
		refused bool
		down    bool
		retry   time.Duration
	)
	for i := range l.items {
		it := &l.items[i]
		n := len(it.prefix) + len(id)
		key := unsafe.String(&keys[0], n)
		keys = keys[n:]
		d, err := l.c.Allow(ex.Context(), key, it.limit, now)
		if errors.Is(err, counters.ErrUnavailable) {
			down = true
		} else if err != nil {
			d = counters.Decision{Allowed: true, Remaining: it.limit.Count} // never fail a request on an unexpected backend error
		}
		var rs, ts [2]int
		cur, rs, ts = appendItem(cur, i, it.quoted, d)
		if i == 0 || d.Remaining < tight.Remaining || !d.Allowed && tight.Allowed {
			tight, tightAt, r, t = d, i, rs, ts
		}
		if !d.Allowed {
			refused = true
			retry = max(retry, d.RetryAfter)
		}
	}
	// The headers, rendered as lines after the keys in the same buffer
	// (appends may move it: the keys above keep the old bytes). The
	// earlier draft's trio comes once per exchange: a route limit and a plan
	// limit both run on authenticated routes, and the first one claims it.
	// It repeats the tightest item's numbers: its digits in cur.
	at := len(buf)
	buf = append(buf, l.head...)
	buf = append(buf, cur...)
	names := fieldNames
	if ex.Value(legacyClaim{}) == nil {
		ex.SetValue(legacyClaim{}, true)
		buf = append(buf, l.items[tightAt].trio...)
		buf = append(buf, cur[r[0]:r[1]]...)
		buf = append(buf, resetLine...)
		buf = append(buf, cur[t[0]:t[1]]...)
		names = allNames
	}
	buf = append(buf, '\r', '\n')
	ex.AddResponseLines(unsafe.String(&buf[at], len(buf)-at), names)
	switch {
	case down:
		return problem.Unavailable(1, "rate limiting is temporarily unavailable; retry shortly")
	case refused:
		return problem.TooManyRequests(int(ceilSeconds(retry)), "rate limit exceeded; retry after the time in Retry-After")
	}
	return nil
}

// appendItem appends `"name";r=<remaining>;t=<reset>` to the RateLimit
// field and says where the two numbers are.
func appendItem(b []byte, i int, quoted string, d counters.Decision) (out []byte, r, t [2]int) {
	if i > 0 {
		b = append(b, ", "...)
	}
	b = append(b, quoted...)
	b = append(b, ";r="...)
	r[0] = len(b)
	b = strconv.AppendInt(b, d.Remaining, 10)
	r[1] = len(b)
	b = append(b, ";t="...)
	t[0] = len(b)
	b = strconv.AppendInt(b, ceilSeconds(d.ResetAfter), 10)
	t[1] = len(b)
	return b, r, t
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	return int64(s)
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
