package runtime

import (
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// maxAttempts bounds the retry loop whatever the pool says.
const maxAttempts = 8

// Proxy is the last step of every chain that has a service: pick a target,
// forward, retry on another target when the rules allow (SPEC §8).
func (r *Route) Proxy(ex policy.Exchange) error {
	rx := ex.(Exchange)
	b := rx.State()
	if !b.PathSet {
		b.UpPath = r.upstreamPath(b)
	}
	key := r.hashKey(rx)
	span := b.Span.Child("upstream")
	span.Inject(rx.Header())
	err := r.forward(rx, key)
	if resp := rx.Response(); err == nil && resp != nil {
		span.End(resp.Status())
	} else {
		span.End(0)
	}
	return err
}

func (r *Route) forward(rx Exchange, key string) error {
	var tried [maxAttempts]*upstream.Target
	b := rx.State()
	for attempt := 1; ; attempt++ {
		// Two clock reads per attempt serve the pick, the attempt's
		// outcome and the upstream latency (time to response headers).
		began := time.Now()
		t, err := r.Pool.PickAt(began, key, tried[:attempt-1])
		if err != nil {
			return err
		}
		tried[attempt-1] = t
		a := t.Begin()
		outcome, ferr := rx.Forward(r, t)
		ended := time.Now()
		b.UpstreamLatency += ended.Sub(began)
		a.EndAt(ended, outcome)
		if ferr == nil {
			return nil
		}
		if attempt >= maxAttempts || (outcome != upstream.ConnectFailed && !rx.Replayable()) ||
			!r.Pool.RetryAllowed(attempt, rx.Method(), outcome) {
			return ferr
		}
	}
}

// upstreamPath applies rewrite or strip_prefix to the canonical path.
func (r *Route) upstreamPath(b *Base) string {
	if r.Rewrite != nil {
		return r.Rewrite.Expand(b.P)
	}
	p := b.Canon
	if r.StripPrefix != "" && strings.HasPrefix(p, r.StripPrefix) {
		p = p[len(r.StripPrefix):]
		if p == "" || p[0] != '/' {
			p = "/" + p
		}
	}
	return p
}

func (r *Route) hashKey(ex Exchange) string {
	switch hb := r.Pool.HashBy(); {
	case hb == "":
		return ""
	case strings.HasPrefix(hb, "header:"):
		return ex.Header().Get(hb[len("header:"):])
	default:
		return ex.ClientIP().String()
	}
}
