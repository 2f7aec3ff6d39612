package upstream

import (
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Outcome is how one attempt against a target ended.
type Outcome int

const (
	OK            Outcome = iota // a response that is not a 5xx
	ConnectFailed                // could not connect: nothing was sent
	Timeout                      // connected and sent, no response headers in time
	Failed                       // sent, but no or an invalid response
	Status5xx                    // the target answered with a 5xx
)

func (o Outcome) String() string {
	switch o {
	case OK:
		return "ok"
	case ConnectFailed:
		return "connect_failed"
	case Timeout:
		return "timeout"
	case Failed:
		return "failed"
	case Status5xx:
		return "status_5xx"
	}
	return "unknown"
}

// Target is one upstream address of a pool, as of one config version. Its
// health, ejection, breaker and in-flight state (and its connection pools)
// live on across reloads that keep the same service name and URL.
type Target struct {
	URL *url.URL

	addr    string
	weight  int
	st      *targetState
	cl      *clients
	passive passiveSettings
	breaker *breakerSettings
}

// targetState is the part of a target that survives reloads.
type targetState struct {
	url      string
	service  string
	log      *slog.Logger
	healthy  atomic.Bool
	inFlight atomic.Int64

	// passive ejection
	consecutive  atomic.Int64
	ejectedUntil atomic.Int64 // unix nanos; 0 = never ejected
	ejections    atomic.Uint64
	probation    atomic.Bool // back from an ejection: the next failure re-ejects at once

	brk breaker

	// unhealthyBackoff estimates how long an unhealthy target needs to pass
	// enough checks to come back (for Retry-After); set by its checker.
	unhealthyBackoff atomic.Int64
}

func newTargetState(service, rawURL string, log *slog.Logger) *targetState {
	st := &targetState{url: rawURL, service: service, log: log}
	st.healthy.Store(true) // optimistic: new targets take traffic at once
	return st
}

// Addr is host:port of the target (the scheme's default port filled in).
func (t *Target) Addr() string { return t.addr }

// HTTP1 is the tuned fasthttp client for HTTP/1.1 to this target. The caller
// bounds time to response headers per request (DoDeadline with the pool's
// response timeout); bodies stream (StreamResponseBody).
func (t *Target) HTTP1() *fasthttp.HostClient { return t.cl.http1 }

// RoundTripper is the net/http client for this target (h2c, h2/ALPN or HTTP/1.1
// by the pool's protocol). ResponseHeaderTimeout is the pool's response timeout.
func (t *Target) RoundTripper() http.RoundTripper { return t.cl.rt }

// Weight is the target's configured weight (1 when unset).
func (t *Target) Weight() int { return t.weight }

// eligible reports, without side effects, whether the target may take a
// request now: healthy, not ejected, breaker not refusing.
func (t *Target) eligible(now int64) bool {
	st := t.st
	return st.healthy.Load() && now >= st.ejectedUntil.Load() && st.brk.mayAdmit(now, t.breaker)
}

// claim takes the half-open probe slot when the breaker needs one; a closed
// breaker admits at once.
func (t *Target) claim(now int64) bool { return t.st.brk.claim(now, t.breaker) }

// Attempt is one request in flight to a target.
type Attempt struct {
	t    *Target
	done atomic.Bool
}

// Begin marks a request in flight (least_conn counts these).
func (t *Target) Begin() *Attempt {
	t.st.inFlight.Add(1)
	return &Attempt{t: t}
}

// End records the attempt's outcome for passive ejection and the breaker.
// Calling it more than once has no further effect.
func (a *Attempt) End(o Outcome) { a.EndAt(time.Now(), o) }

// EndAt is End at a clock reading the caller already has.
func (a *Attempt) EndAt(at time.Time, o Outcome) {
	if a == nil || !a.done.CompareAndSwap(false, true) {
		return
	}
	t := a.t
	t.st.inFlight.Add(-1)
	now := at.UnixNano()
	t.recordPassive(now, o)
	if t.st.brk.record(now, o != OK, t.breaker) {
		t.st.log.Warn("upstream circuit opened", "service", t.st.service, "target", t.st.url, "open_for", t.breaker.openFor)
	}
}

// recordPassive ejects a target after consecutive failures of real requests.
func (t *Target) recordPassive(now int64, o Outcome) {
	st := t.st
	if o == OK {
		st.consecutive.Store(0)
		st.probation.Store(false)
		return
	}
	if now < st.ejectedUntil.Load() {
		return // already ejected: late results of older requests change nothing
	}
	if st.probation.Load() || st.consecutive.Add(1) >= int64(t.passive.consecutive) {
		t.eject(now)
	}
}

func (t *Target) eject(now int64) {
	st := t.st
	st.ejectedUntil.Store(now + int64(t.passive.ejectFor))
	st.ejections.Add(1)
	st.consecutive.Store(0)
	st.probation.Store(true)
	st.log.Warn("upstream target ejected", "service", st.service, "target", st.url, "for", t.passive.ejectFor)
}

// returnsAt is when an unavailable target may take requests again (unix nanos).
func (t *Target) returnsAt(now int64) int64 {
	st := t.st
	at := now
	if !st.healthy.Load() {
		at = max(at, now+st.unhealthyBackoff.Load())
	}
	at = max(at, st.ejectedUntil.Load())
	return max(at, st.brk.returnsAt(now))
}

// TargetStatus is one target's state for the admin UI and metrics.
type TargetStatus struct {
	URL          string    `json:"url"`
	Healthy      bool      `json:"healthy"`
	EjectedUntil time.Time `json:"ejected_until,omitzero"`
	Breaker      string    `json:"breaker"` // closed | open | half_open
	InFlight     int64     `json:"in_flight"`
	Weight       int       `json:"weight"`
	Ejections    uint64    `json:"ejections"` // passive ejections since the target was added
}

func (t *Target) status(now int64) TargetStatus {
	s := TargetStatus{
		URL:       t.st.url,
		Healthy:   t.st.healthy.Load(),
		Breaker:   t.st.brk.stateName(now),
		InFlight:  t.st.inFlight.Load(),
		Weight:    t.weight,
		Ejections: t.st.ejections.Load(),
	}
	if until := t.st.ejectedUntil.Load(); until > now {
		s.EjectedUntil = time.Unix(0, until)
	}
	return s
}
