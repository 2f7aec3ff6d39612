// Package compile turns a validated config into an immutable runtime table:
// routes with their prebuilt handler chains, matched by one router. It is
// pure: no listeners, no goroutines, no I/O. Long-lived state (upstream pools,
// limiter buckets, caches) is passed in, so a reload keeps it.
package compile

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/router"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// Env is what compilation may use besides the config.
type Env struct {
	Pools    map[string]*upstream.Pool
	Services map[string]any // shared components for policies (credentials, counters...)
	State    *State
	// PlanHandler, when set, enforces the consumer's plan on authenticated routes.
	PlanHandler policy.Handler
	// NewVersions builds a route's version selector.
	NewVersions func(*config.Versions) (runtime.VersionSelector, error)

	attached func(name string) ([]byte, bool) // the document's attachments (set by Compile)
}

// State keeps per-route policy state across reloads, keyed by a stable identity.
type State struct {
	mu sync.Mutex
	m  map[string]any
}

// NewState returns an empty state store.
func NewState() *State { return &State{m: map[string]any{}} }

// For returns the State function a policy on one route gets.
func (s *State) For(route string) func(key string, make func() any) any {
	return func(key string, mk func() any) any {
		s.mu.Lock()
		defer s.mu.Unlock()
		k := route + "\x00" + key
		if v, ok := s.m[k]; ok {
			return v
		}
		v := mk()
		s.m[k] = v
		return v
	}
}

// Compile builds the table. Every route must build: a route whose policy
// failed to build must never serve, so any error rejects the whole document.
func Compile(cfg *config.Config, env Env) (*runtime.Table, error) {
	t := &runtime.Table{Config: cfg, Hash: cfg.Hash(), Limits: limits(cfg)}
	env.attached = attachments(cfg.Attachments)
	var errs config.ErrorList
	add := func(line int, path string, err error) {
		errs = append(errs, &config.FieldError{File: cfg.Source, Line: line, Path: path, Msg: err.Error()})
	}
	for _, s := range cfg.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			add(0, "trusted_proxies", err)
			continue
		}
		t.Trusted = append(t.Trusted, p)
	}
	rr := make([]router.Route, 0, len(cfg.Routes))
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		r, err := compileRoute(rc, env)
		if err != nil {
			add(rc.Line, fmt.Sprintf("routes[%d] (%s)", i, rc.Name), err)
			continue
		}
		rr = append(rr, router.Route{ID: len(t.Routes), Hosts: rc.Match.Hosts, Paths: rc.Match.Paths,
			Methods: rc.Match.Methods, Headers: rc.Match.Headers})
		t.Routes = append(t.Routes, r)
	}
	rt, err := router.New(rr)
	if err != nil {
		add(0, "routes", err)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	t.Router = rt
	return t, nil
}

// attachments looks files up by the exact name the document writes, so
// policies build from the revision's content rather than this node's disk.
func attachments(m map[string]string) func(string) ([]byte, bool) {
	return func(name string) ([]byte, bool) {
		s, ok := m[name]
		return []byte(s), ok
	}
}

func limits(cfg *config.Config) runtime.Limits {
	return runtime.Limits{
		MaxBodyBytes:           cfg.Server.MaxBodyBytes,
		MaxHeaders:             cfg.Server.MaxHeaders,
		AllowUnderscoreHeaders: cfg.Server.AllowUnderscoreHeaders,
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func compileRoute(rc *config.Route, env Env) (*runtime.Route, error) {
	base := &runtime.Route{
		Info:         policy.RouteInfo{Name: rc.Name, Service: rc.Service},
		StripPrefix:  rc.StripPrefix,
		PreserveHost: rc.PreserveHost,
	}
	if rc.Rewrite != "" {
		pt, err := runtime.ParsePathTemplate(rc.Rewrite)
		if err != nil {
			return nil, err
		}
		base.Rewrite = pt
	}
	if rc.Versions == nil {
		return base, finish(base, rc.Service, rc.PolicyConfigs, env)
	}
	return base, compileVersions(base, rc, env)
}

func compileVersions(base *runtime.Route, rc *config.Route, env Env) error {
	if env.NewVersions == nil {
		return errors.New("API versions are not available in this build")
	}
	sel, err := env.NewVersions(rc.Versions)
	if err != nil {
		return err
	}
	base.Versions = sel
	base.ByVersion = map[string]*runtime.Route{}
	var errs []error
	for name, v := range rc.Versions.List {
		vr := *base
		vr.Versions, vr.ByVersion = nil, nil
		vr.Info.Version = name
		svc := v.Service
		if svc == "" {
			svc = rc.Service
		}
		vr.Info.Service = svc
		if err := finish(&vr, svc, mergePolicies(rc.PolicyConfigs, v.PolicyConfigs), env); err != nil {
			errs = append(errs, fmt.Errorf("version %q: %w", name, err))
			continue
		}
		base.ByVersion[name] = &vr
	}
	return errors.Join(errs...)
}

func mergePolicies(route, version map[string]policy.Config) map[string]policy.Config {
	out := make(map[string]policy.Config, len(route)+len(version))
	for k, v := range route {
		out[k] = v
	}
	for k, v := range version {
		out[k] = v
	}
	return out
}

type step struct {
	phase policy.Phase
	name  string
	h     policy.Handler
}

// finish builds the route's chain: policies sorted by phase then name, the
// authenticators grouped as "any of them", the plan enforcer after auth, and
// the proxy step last.
func finish(r *runtime.Route, service string, pcs map[string]policy.Config, env Env) error {
	if service != "" {
		r.Pool = env.Pools[service]
		if r.Pool == nil {
			return fmt.Errorf("service %q is not defined", service)
		}
	}
	steps, auths, terminal, err := buildPolicies(r, pcs, env)
	if err != nil {
		return err
	}
	if len(auths) == 0 {
		for _, s := range steps {
			if s.phase == policy.PhaseAuthorize {
				return fmt.Errorf("policy %s needs an authentication policy on the route (key_auth, jwt, basic_auth, mtls)", s.name)
			}
		}
	}
	if len(auths) > 0 {
		steps = append(steps, step{policy.PhaseAuthenticate, "auth", runtime.NewAuthGroup(auths)})
		if env.PlanHandler != nil {
			steps = append(steps, step{policy.PhaseLimit, "plan", env.PlanHandler})
		}
	}
	sort.SliceStable(steps, func(i, j int) bool {
		if steps[i].phase != steps[j].phase {
			return steps[i].phase < steps[j].phase
		}
		return steps[i].name < steps[j].name
	})
	handlers := make([]policy.Handler, len(steps))
	for i, s := range steps {
		handlers[i] = s.h
		if s.phase == policy.PhaseLimit {
			handlers[i] = runtime.Traced("limit", s.h)
		}
		r.Dump = append(r.Dump, runtime.ChainEntry{Phase: s.phase.String(), Policy: s.name})
	}
	final := r.Proxy
	if r.Pool == nil {
		if !terminal {
			return errors.New("the route has no service and no terminal policy (such as mock)")
		}
		final = noUpstream
	}
	r.Dump = append(r.Dump, runtime.ChainEntry{Phase: "upstream", Policy: "proxy:" + service})
	r.Chain = runtime.Compose(handlers, final)
	return nil
}

func buildPolicies(r *runtime.Route, pcs map[string]policy.Config, env Env) ([]step, []policy.Authenticator, bool, error) {
	names := make([]string, 0, len(pcs))
	for n := range pcs {
		names = append(names, n)
	}
	sort.Strings(names)
	var (
		steps    []step
		auths    []policy.Authenticator
		terminal bool
		errs     []error
	)
	for _, name := range names {
		def, ok := policy.Lookup(name)
		if !ok {
			errs = append(errs, fmt.Errorf("unknown policy %q", name))
			continue
		}
		built, err := pcs[name].Build(policy.BuildEnv{Route: r.Info, Services: env.Services, State: env.State.For(r.Info.Name + "/" + r.Info.Version), Attached: env.attached})
		if err != nil {
			errs = append(errs, fmt.Errorf("policy %s: %w", name, err))
			continue
		}
		switch b := built.(type) {
		case policy.Authenticator:
			auths = append(auths, b)
		case policy.Handler:
			steps = append(steps, step{def.Phase, name, b})
			terminal = terminal || def.Phase == policy.PhaseTerminal
		default:
			errs = append(errs, fmt.Errorf("policy %s built neither a handler nor an authenticator", name))
		}
	}
	return steps, auths, terminal, errors.Join(errs...)
}

func noUpstream(ex policy.Exchange) error {
	return upstream.ClientError(upstream.Failed)
}
