package upstream

import (
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Pool is one service's targets as of one config version. It is immutable;
// the state that must outlive a reload lives in its targets and serviceState.
type Pool struct {
	s       *settings
	targets []*Target
	svc     *serviceState
	ring    []ringNode // consistent_hash only
	seq     []*Target  // weighted only: one smooth weighted round of targets
}

// serviceState is the part of a service that survives reloads.
type serviceState struct {
	rr     atomic.Uint64 // round-robin cursor, shared by every mode that needs one
	budget retryBudget
}

func (p *Pool) Name() string { return p.s.name }

// HashBy is the consistent_hash key source: "client_ip", "header:X-Name", or
// "" when the pool does not hash.
func (p *Pool) HashBy() string { return p.s.hashBy }

// Protocol is "http", "h2c" or "h2".
func (p *Pool) Protocol() string { return p.s.protocol }

// Balance is the pool's balance mode.
func (p *Pool) Balance() string { return p.s.balance }

// Targets lists the pool's targets in config order.
func (p *Pool) Targets() []*Target { return p.targets }

// Timeouts are the connect timeout (-> 502) and the time to response headers (-> 504).
func (p *Pool) Timeouts() (connect, response time.Duration) {
	return p.s.transport.connect, p.s.transport.response
}

// Retries is the most retries one request may make (after its first attempt).
func (p *Pool) Retries() int { return p.s.retries }

// Pick chooses a target by the pool's balance mode. hashKey feeds
// consistent_hash (an empty key falls back to round robin). exclude lists the
// targets this request already tried: they are skipped while another target
// can take the request, and used again only when none can. Unhealthy, ejected
// and breaker-open targets are skipped. When no target can take the request,
// Pick returns a 503 *problem.Error whose Retry-After is the time until the
// earliest target may come back.
//
// A Pick with no exclude counts as a new request for the retry budget.
func (p *Pool) Pick(hashKey string, exclude []*Target) (*Target, error) {
	return p.PickAt(time.Now(), hashKey, exclude)
}

// PickAt is Pick at a clock reading the caller already has.
func (p *Pool) PickAt(at time.Time, hashKey string, exclude []*Target) (*Target, error) {
	now := at.UnixNano()
	if len(exclude) == 0 {
		p.svc.budget.request(now)
	}
	if t := p.pick(now, hashKey, exclude); t != nil {
		return t, nil
	}
	if len(exclude) > 0 {
		if t := p.pick(now, hashKey, nil); t != nil {
			return t, nil
		}
	}
	return nil, p.unavailable(now)
}

func (p *Pool) pick(now int64, hashKey string, exclude []*Target) *Target {
	switch p.s.balance {
	case Weighted:
		return p.pickWeighted(now, exclude)
	case LeastConn:
		return p.pickLeastConn(now, exclude)
	case ConsistentHash:
		if hashKey != "" {
			return p.pickHash(now, hashKey, exclude)
		}
	}
	return p.pickRoundRobin(now, exclude)
}

// usable reports whether t may take this request, claiming the breaker's
// half-open probe slot when it needs one. Call it only on the target you
// will return if it says yes.
func usable(t *Target, now int64, exclude []*Target) bool {
	return !excluded(t, exclude) && t.eligible(now) && t.claim(now)
}

func excluded(t *Target, exclude []*Target) bool {
	for _, x := range exclude {
		if x == t {
			return true
		}
	}
	return false
}

// pickRoundRobin walks the targets from a shared atomic cursor.
func (p *Pool) pickRoundRobin(now int64, exclude []*Target) *Target {
	n := uint64(len(p.targets))
	start := p.svc.rr.Add(1)
	for i := uint64(0); i < n; i++ {
		if t := p.targets[(start+i)%n]; usable(t, now, exclude) {
			return t
		}
	}
	return nil
}

// pickWeighted walks a precomputed smooth weighted round (nginx's algorithm
// run once at build time), so the hot path is one atomic add. A skipped target's
// turns fall to the next entries, which keeps the others' proportions.
func (p *Pool) pickWeighted(now int64, exclude []*Target) *Target {
	n := uint64(len(p.seq))
	start := p.svc.rr.Add(1)
	for i := uint64(0); i < n; i++ {
		if t := p.seq[(start+i)%n]; usable(t, now, exclude) {
			return t
		}
	}
	return nil
}

// pickLeastConn picks the eligible target with the fewest requests in flight.
// Ties go round robin: a shared cursor chooses among the tied targets, so
// equally loaded targets get equal turns whatever their positions.
func (p *Pool) pickLeastConn(now int64, exclude []*Target) *Target {
	least, ties := int64(-1), uint64(0)
	for _, t := range p.targets {
		if excluded(t, exclude) || !t.eligible(now) {
			continue
		}
		switch load := t.st.inFlight.Load(); {
		case least < 0 || load < least:
			least, ties = load, 1
		case load == least:
			ties++
		}
	}
	if ties == 0 {
		return nil
	}
	nth := p.svc.rr.Add(1) % ties
	for _, t := range p.targets {
		if excluded(t, exclude) || !t.eligible(now) || t.st.inFlight.Load() != least {
			continue
		}
		if nth == 0 {
			if t.claim(now) {
				return t
			}
			break
		}
		nth--
	}
	// Loads moved under us, or we lost a half-open probe slot: take any target that admits.
	return p.pickRoundRobin(now, exclude)
}

func (p *Pool) unavailable(now int64) error {
	earliest := int64(-1)
	for _, t := range p.targets {
		if at := t.returnsAt(now); earliest < 0 || at < earliest {
			earliest = at
		}
	}
	secs := int((earliest - now + int64(time.Second) - 1) / int64(time.Second))
	return problem.Unavailable(secs, "no upstream target can take the request right now; retry later")
}

// Snapshot reports every target's state, in config order.
func (p *Pool) Snapshot() []TargetStatus {
	now := time.Now().UnixNano()
	out := make([]TargetStatus, len(p.targets))
	for i, t := range p.targets {
		out[i] = t.status(now)
	}
	return out
}
