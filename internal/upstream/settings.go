package upstream

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// Defaults applied where a config field is zero (documented in config/schema.go).
const (
	defaultConnectTimeout     = 2 * time.Second
	defaultResponseTimeout    = 30 * time.Second
	defaultIdleTimeout        = 60 * time.Second
	defaultRetries            = 1
	defaultMaxConns           = 512
	defaultHealthInterval     = 10 * time.Second
	defaultHealthTimeout      = 2 * time.Second
	minHealthInterval         = 10 * time.Millisecond // below this checks become a load test
	defaultHealthyThreshold   = 2
	defaultUnhealthyThreshold = 2
	defaultConsecutiveFails   = 5
	defaultEjectFor           = 30 * time.Second
	defaultFailureRatio       = 0.5
	defaultMinRequests        = 20
	defaultBreakerWindow      = 10 * time.Second
	defaultOpenFor            = 15 * time.Second
)

// Balance modes.
const (
	RoundRobin     = "round_robin"
	Weighted       = "weighted"
	LeastConn      = "least_conn"
	ConsistentHash = "consistent_hash"
)

// settings is one service's config with every default applied: built once per
// Update, read-only afterwards.
type settings struct {
	name      string
	protocol  string
	balance   string
	hashBy    string
	retries   int
	retryPost bool // retry_non_idempotent
	transport transportSettings
	health    *healthSettings // nil: no active checks
	expect    []int           // health expect_status; empty: 200-399
	passive   passiveSettings
	breaker   breakerSettings
}

// transportSettings are what the upstream clients are built from: when they
// change across a reload the target gets new clients (and a new conn pool).
type transportSettings struct {
	protocol      string
	connect       time.Duration
	response      time.Duration
	idle          time.Duration
	maxConns      int
	tlsSkipVerify bool
}

type healthSettings struct {
	path        string
	interval    time.Duration
	timeout     time.Duration
	healthy     int
	unhealthy   int
	expectCodes string // canonical form of ExpectStatus, so settings stay comparable
}

type passiveSettings struct {
	consecutive int
	ejectFor    time.Duration
}

type breakerSettings struct {
	ratio    float64
	minReqs  int
	window   time.Duration
	openFor  time.Duration
	staleFor time.Duration // a claimed half-open probe that never ended frees up after this
}

// targetSpec is one validated target.
type targetSpec struct {
	url    *url.URL
	weight int
}

// serviceErrors collects every problem of one service, located by its line.
type serviceErrors struct {
	list  config.ErrorList
	index int
	line  int
}

func (e *serviceErrors) add(field, msg, hint string) {
	path := fmt.Sprintf("services[%d]", e.index)
	if field != "" {
		path += "." + field
	}
	e.list = append(e.list, &config.FieldError{Line: e.line, Path: path, Msg: msg, Hint: hint})
}

// compileService validates one service and applies defaults.
func compileService(i int, svc config.Service) (*settings, []targetSpec, config.ErrorList) {
	errs := &serviceErrors{index: i, line: svc.Line}
	if svc.Name == "" {
		errs.add("name", "service name is required", "")
	}
	s := &settings{name: svc.Name, retryPost: svc.RetryNonIdempotent}
	s.protocol = oneOf(errs, "protocol", svc.Protocol, "http", "http", "h2c", "h2")
	s.balance = oneOf(errs, "balance", svc.Balance, RoundRobin, RoundRobin, Weighted, LeastConn, ConsistentHash)
	s.hashBy = compileHashBy(errs, svc.HashBy, s.balance)
	s.retries = compileRetries(errs, svc.Retries)
	s.transport = compileTransport(errs, s.protocol, svc)
	s.health = compileHealth(errs, svc.Health)
	if svc.Health != nil {
		s.expect = svc.Health.ExpectStatus
	}
	s.passive = compilePassive(errs, svc.Passive)
	s.breaker = compileBreaker(errs, svc.Breaker, s.transport)
	targets := compileTargets(errs, s.protocol, svc.Targets)
	return s, targets, errs.list
}

func oneOf(errs *serviceErrors, field, v, def string, allowed ...string) string {
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	errs.add(field, fmt.Sprintf("unknown %s %q", field, v), "use one of "+strings.Join(allowed, ", "))
	return def
}

func compileHashBy(errs *serviceErrors, v, balance string) string {
	switch {
	case v == "":
		if balance == ConsistentHash {
			return "client_ip"
		}
		return ""
	case balance != ConsistentHash && (v == "client_ip" || strings.HasPrefix(v, "header:")):
		errs.add("hash_by", fmt.Sprintf("hash_by %q has no effect with balance %q", v, balance), `set balance: consistent_hash, or remove hash_by`)
		return ""
	case v == "client_ip":
		return v
	case strings.HasPrefix(v, "header:") && validHeaderName(v[len("header:"):]):
		return v
	}
	errs.add("hash_by", fmt.Sprintf("invalid hash_by %q", v), `use "client_ip" or "header:X-Name"`)
	return ""
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func compileRetries(errs *serviceErrors, v *int) int {
	switch {
	case v == nil:
		return defaultRetries
	case *v < 0:
		errs.add("retries", "retries must not be negative", "use 0 to disable retries")
		return 0
	}
	return *v
}

func compileTransport(errs *serviceErrors, protocol string, svc config.Service) transportSettings {
	ts := transportSettings{
		protocol:      protocol,
		connect:       orDuration(svc.Timeouts.Connect.D(), defaultConnectTimeout),
		response:      orDuration(svc.Timeouts.Response.D(), defaultResponseTimeout),
		idle:          orDuration(svc.Timeouts.Idle.D(), defaultIdleTimeout),
		maxConns:      svc.MaxConnsPerTarget,
		tlsSkipVerify: svc.TLSSkipVerify,
	}
	if svc.Timeouts.Connect < 0 || svc.Timeouts.Response < 0 || svc.Timeouts.Idle < 0 {
		errs.add("timeouts", "timeouts must not be negative", "")
	}
	switch {
	case ts.maxConns == 0:
		ts.maxConns = defaultMaxConns
	case ts.maxConns < 0:
		errs.add("max_conns_per_target", "max_conns_per_target must be positive", "")
		ts.maxConns = defaultMaxConns
	}
	return ts
}

func compileHealth(errs *serviceErrors, h *config.Health) *healthSettings {
	if h == nil {
		return nil
	}
	hs := &healthSettings{
		path:      h.Path,
		interval:  orDuration(h.Interval.D(), defaultHealthInterval),
		timeout:   orDuration(h.Timeout.D(), defaultHealthTimeout),
		healthy:   orInt(h.HealthyThreshold, defaultHealthyThreshold),
		unhealthy: orInt(h.UnhealthyThreshold, defaultUnhealthyThreshold),
	}
	if !strings.HasPrefix(h.Path, "/") {
		errs.add("health.path", "health path must start with /", "e.g. /healthz")
	}
	if h.Interval < 0 || h.Timeout < 0 || h.HealthyThreshold < 0 || h.UnhealthyThreshold < 0 {
		errs.add("health", "health interval, timeout and thresholds must not be negative", "")
	}
	if hs.interval < minHealthInterval {
		errs.add("health.interval", fmt.Sprintf("health interval %s is too short", hs.interval), "use at least 10ms")
	}
	if hs.timeout > hs.interval {
		hs.timeout = hs.interval // a check must finish before the next one starts
	}
	for _, code := range h.ExpectStatus {
		if code < 100 || code > 599 {
			errs.add("health.expect_status", fmt.Sprintf("invalid status code %d", code), "")
		}
		hs.expectCodes += strconv.Itoa(code) + ","
	}
	return hs
}

func compilePassive(errs *serviceErrors, p *config.Passive) passiveSettings {
	ps := passiveSettings{consecutive: defaultConsecutiveFails, ejectFor: defaultEjectFor}
	if p == nil {
		return ps
	}
	if p.ConsecutiveFailures < 0 || p.EjectFor < 0 {
		errs.add("passive", "consecutive_failures and eject_for must not be negative", "")
	}
	ps.consecutive = orInt(p.ConsecutiveFailures, ps.consecutive)
	ps.ejectFor = orDuration(p.EjectFor.D(), ps.ejectFor)
	return ps
}

func compileBreaker(errs *serviceErrors, b *config.Breaker, ts transportSettings) breakerSettings {
	bs := breakerSettings{ratio: defaultFailureRatio, minReqs: defaultMinRequests, window: defaultBreakerWindow, openFor: defaultOpenFor}
	if b != nil {
		if b.FailureRatio < 0 || b.FailureRatio > 1 {
			errs.add("breaker.failure_ratio", "failure_ratio must be between 0 and 1", "e.g. 0.5")
		}
		if b.MinRequests < 0 || b.Window < 0 || b.OpenFor < 0 {
			errs.add("breaker", "min_requests, window and open_for must not be negative", "")
		}
		if b.FailureRatio > 0 {
			bs.ratio = b.FailureRatio
		}
		bs.minReqs = orInt(b.MinRequests, bs.minReqs)
		bs.window = orDuration(b.Window.D(), bs.window)
		bs.openFor = orDuration(b.OpenFor.D(), bs.openFor)
	}
	bs.staleFor = max(bs.openFor, ts.connect+ts.response)
	return bs
}

func compileTargets(errs *serviceErrors, protocol string, targets []config.Target) []targetSpec {
	if len(targets) == 0 {
		errs.add("targets", "a service needs at least one target", `e.g. targets: ["http://127.0.0.1:9001"]`)
	}
	seen := make(map[string]bool, len(targets))
	specs := make([]targetSpec, 0, len(targets))
	for j, t := range targets {
		field := fmt.Sprintf("targets[%d]", j)
		u, msg := parseTargetURL(t.URL, protocol)
		if msg != "" {
			errs.add(field, msg, `write a URL like "http://10.0.0.5:8080"`)
			continue
		}
		if seen[u.String()] {
			errs.add(field, fmt.Sprintf("duplicate target %q", t.URL), "list each target once; use weight to send it more traffic")
			continue
		}
		seen[u.String()] = true
		if t.Weight < 0 {
			errs.add(field+".weight", "weight must not be negative", "")
		}
		specs = append(specs, targetSpec{url: u, weight: orInt(t.Weight, 1)})
	}
	return specs
}

func parseTargetURL(raw, protocol string) (*url.URL, string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Sprintf("invalid target URL %q", raw)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Sprintf("target URL %q must use http or https", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Sprintf("target URL %q must not carry credentials, a query or a fragment", raw)
	}
	if protocol == "h2c" && u.Scheme != "http" {
		return nil, fmt.Sprintf("protocol h2c needs an http:// target, got %q", raw)
	}
	if protocol == "h2" && u.Scheme != "https" {
		return nil, fmt.Sprintf("protocol h2 needs an https:// target, got %q", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, ""
}

// idempotent reports whether a request with this method may be retried after
// it was sent (RFC 9110 §9.2.2).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

func orDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func orInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
