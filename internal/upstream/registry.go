package upstream

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// Registry keeps upstream state alive across config reloads: a target with the
// same service name and URL keeps its health, ejection, breaker, in-flight
// count and (while its transport settings are unchanged) its connection pools.
type Registry struct {
	log *slog.Logger

	mu       sync.Mutex
	closed   bool
	targets  map[string]*targetEntry // by service name + "\x00" + URL
	services map[string]*serviceState
}

// targetEntry is what the registry owns for one live target.
type targetEntry struct {
	st      *targetState
	cl      *clients
	ts      transportSettings
	window  breakerSettings
	checker *checker // nil: no active health checks
	hs      healthSettings
}

// NewRegistry returns an empty registry; log may be nil.
func NewRegistry(log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{log: log, targets: map[string]*targetEntry{}, services: map[string]*serviceState{}}
}

type compiledService struct {
	s       *settings
	targets []targetSpec
}

// Update validates services and returns one pool per service name. On any
// error nothing changes and the error lists every problem of every service.
// Targets and services no longer configured are retired before Update
// returns: health checks stop and idle connections close; requests in
// flight on them finish normally.
func (r *Registry) Update(services []config.Service) (map[string]*Pool, error) {
	compiled, err := compileAll(services)
	if err != nil {
		return nil, err
	}
	var retire []func()
	defer func() { // after the registry lock is released
		for _, f := range retire {
			f()
		}
	}()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("upstream: registry is closed")
	}
	nextTargets := make(map[string]*targetEntry, len(r.targets))
	nextServices := make(map[string]*serviceState, len(compiled))
	pools := make(map[string]*Pool, len(compiled))
	for _, c := range compiled {
		svc := r.services[c.s.name]
		if svc == nil {
			svc = &serviceState{}
		}
		nextServices[c.s.name] = svc
		pools[c.s.name] = r.buildPool(c, svc, nextTargets, &retire)
	}
	for key, e := range r.targets {
		if nextTargets[key] == nil {
			retire = append(retire, e.retire)
		}
	}
	r.targets, r.services = nextTargets, nextServices
	return pools, nil
}

func compileAll(services []config.Service) ([]compiledService, error) {
	var errs config.ErrorList
	seen := make(map[string]bool, len(services))
	out := make([]compiledService, 0, len(services))
	for i, svc := range services {
		s, targets, list := compileService(i, svc)
		errs = append(errs, list...)
		if svc.Name != "" && seen[svc.Name] {
			errs = append(errs, &config.FieldError{Line: svc.Line, Path: fmt.Sprintf("services[%d].name", i),
				Msg: fmt.Sprintf("duplicate service name %q", svc.Name), Hint: "service names must be unique"})
		}
		seen[svc.Name] = true
		out = append(out, compiledService{s: s, targets: targets})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func (r *Registry) buildPool(c compiledService, svc *serviceState, next map[string]*targetEntry, retire *[]func()) *Pool {
	p := &Pool{s: c.s, svc: svc, targets: make([]*Target, 0, len(c.targets))}
	for _, spec := range c.targets {
		key := c.s.name + "\x00" + spec.url.String()
		e := r.entry(key, c.s, spec, retire)
		next[key] = e
		t := &Target{URL: spec.url, addr: hostPort(spec.url), weight: spec.weight,
			st: e.st, cl: e.cl, passive: c.s.passive, breaker: &c.s.breaker}
		e.syncChecker(t, c.s, retire)
		p.targets = append(p.targets, t)
	}
	switch c.s.balance {
	case ConsistentHash:
		p.ring = buildRing(p.targets)
	case Weighted:
		p.seq = buildWeightedSeq(p.targets)
	}
	return p
}

// entry returns the live entry for key, creating it or renewing its clients
// when the transport settings changed.
func (r *Registry) entry(key string, s *settings, spec targetSpec, retire *[]func()) *targetEntry {
	e := r.targets[key]
	if e == nil {
		st := newTargetState(s.name, spec.url.String(), r.log)
		return &targetEntry{st: st, cl: newClients(spec.url, s.transport), ts: s.transport, window: s.breaker}
	}
	if e.ts != s.transport {
		*retire = append(*retire, e.cl.close)
		e.cl, e.ts = newClients(spec.url, s.transport), s.transport
	}
	if e.window.window != s.breaker.window {
		e.st.brk.reset() // bucket slices were cut for the old window
	}
	e.window = s.breaker
	return e
}

// syncChecker keeps the running checker when nothing it depends on changed,
// else replaces (or stops) it.
func (e *targetEntry) syncChecker(t *Target, s *settings, retire *[]func()) {
	if e.checker != nil && s.health != nil && e.hs == *s.health && e.checker.rt == http.RoundTripper(e.cl.rt) {
		return
	}
	old := e.checker
	e.checker = nil
	if s.health == nil {
		// No active checks: nothing could bring the target back, so it is
		// healthy. Marked once the old checker has stopped (retire runs
		// before Update returns): a probe of its still in flight would
		// otherwise mark the target down again, for good.
		st := e.st
		retireFirst(retire, func() {
			if old != nil {
				old.stop()
			}
			st.healthy.Store(true)
		})
		return
	}
	if old != nil {
		retireFirst(retire, old.stop)
	}
	e.hs = *s.health
	e.checker = startChecker(t, e.hs, s.expect)
}

// retireFirst queues f ahead of everything retired so far. Checkers stop
// before any client closes its idle connections: a probe begun after that
// close would leave a new idle connection (and its goroutines) behind on
// the retired client until its idle timeout.
func retireFirst(retire *[]func(), f func()) {
	*retire = append([]func(){f}, *retire...)
}

// retire stops the target's checker and closes its idle connections.
func (e *targetEntry) retire() {
	if e.checker != nil {
		e.checker.stop()
	}
	e.cl.close()
}

// Close stops every health checker and closes idle connections. Pools
// returned earlier must not be used afterwards.
func (r *Registry) Close() {
	r.mu.Lock()
	entries := r.targets
	r.targets, r.closed = map[string]*targetEntry{}, true
	r.mu.Unlock()
	for _, e := range entries {
		e.retire()
	}
}
