package config

import (
	"fmt"
	"net/url"
	"strings"
)

var (
	balances  = []string{"round_robin", "weighted", "least_conn", "consistent_hash"}
	protocols = []string{"http", "h2c", "h2"}
)

// services validates every service and returns the set of service names.
func (v *validator) services() map[string]bool {
	ss := v.c.Services
	names := v.names("services", len(ss), func(i int) string { return ss[i].Name })
	for i := range ss {
		v.service(fmt.Sprintf("services[%d]", i), &ss[i])
	}
	return names
}

func (v *validator) service(path string, s *Service) {
	if len(s.Targets) == 0 {
		v.p.at(path+".targets", "a service needs at least one target", `targets: ["http://127.0.0.1:9001"]`)
	}
	for i, t := range s.Targets {
		v.target(fmt.Sprintf("%s.targets[%d]", path, i), t, s.Protocol)
	}
	if s.Protocol != "" && !contains(protocols, s.Protocol) {
		v.p.at(path+".protocol", "unknown protocol "+quote(s.Protocol), "one of "+strings.Join(protocols, ", "))
	}
	if s.Balance == "weighted" && len(s.Targets) > 0 && totalWeight(s.Targets) == 0 {
		v.p.at(path+".targets", "every target has weight 0: none would get traffic", "give at least one target a weight above 0")
	}
	if s.Balance != "" && !contains(balances, s.Balance) {
		v.p.at(path+".balance", "unknown balance "+quote(s.Balance), suggest(s.Balance, balances))
	}
	if h := s.HashBy; h != "" && h != "client_ip" && !validHashHeader(h) {
		v.p.at(path+".hash_by", "invalid hash_by "+quote(h), `write "client_ip" or "header:X-Name"`)
	} else if h != "" && s.Balance != "consistent_hash" {
		v.p.at(path+".hash_by", "hash_by only picks the key of balance: consistent_hash; here it would be ignored", "set balance: consistent_hash, or remove hash_by")
	}
	v.health(path+".health", s.Health)
	v.resilience(path, s)
}

func totalWeight(ts []Target) int {
	sum := 0
	for _, t := range ts {
		sum += max(t.Weight, 0)
	}
	return sum
}

func validHashHeader(h string) bool {
	name, ok := strings.CutPrefix(h, "header:")
	return ok && isToken(name)
}

// target requires an absolute http(s) URL naming only scheme, host and port.
func (v *validator) target(path string, t Target, protocol string) {
	u, err := url.Parse(t.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.p.at(path, "target must be an absolute http:// or https:// URL with a host, got "+quote(t.URL), `e.g. "http://10.0.0.5:8080"`)
		return
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.User != nil:
		v.p.at(path, "target must not have a path, query or credentials: "+quote(t.URL), "use the route's rewrite or strip_prefix to change paths")
	case protocol == "h2" && u.Scheme != "https":
		v.p.at(path, "protocol h2 needs an https:// target", "use h2c for HTTP/2 without TLS")
	case protocol == "h2c" && u.Scheme != "http":
		v.p.at(path, "protocol h2c needs an http:// target", "use h2 for HTTP/2 over TLS")
	}
	if t.Weight < 0 {
		v.p.at(path+".weight", "weight must not be negative", "")
	}
}

func (v *validator) health(path string, h *Health) {
	if h == nil {
		return
	}
	if !strings.HasPrefix(h.Path, "/") {
		v.p.at(path+".path", "health path must start with /", `e.g. "/healthz"`)
	}
	positive(v.p, path+".interval", h.Interval)
	nonNegative(v.p, path+".timeout", h.Timeout)
	if h.HealthyThreshold < 0 || h.UnhealthyThreshold < 0 {
		v.p.at(path, "thresholds must not be negative", "")
	}
	for i, st := range h.ExpectStatus {
		if st < 100 || st > 599 {
			v.p.at(fmt.Sprintf("%s.expect_status[%d]", path, i), fmt.Sprintf("%d is not an HTTP status", st), "use 100-599")
		}
	}
}

// resilience covers timeouts, retries, passive checks and the breaker.
func (v *validator) resilience(path string, s *Service) {
	nonNegative(v.p, path+".timeouts.connect", s.Timeouts.Connect)
	nonNegative(v.p, path+".timeouts.response", s.Timeouts.Response)
	nonNegative(v.p, path+".timeouts.idle", s.Timeouts.Idle)
	if s.Retries != nil && (*s.Retries < 0 || *s.Retries > 10) {
		v.p.at(path+".retries", fmt.Sprintf("retries must be 0 to 10, got %d", *s.Retries), "")
	}
	if s.MaxConnsPerTarget < 0 {
		v.p.at(path+".max_conns_per_target", "must not be negative", "")
	}
	if ps := s.Passive; ps != nil {
		if ps.ConsecutiveFailures < 0 {
			v.p.at(path+".passive.consecutive_failures", "must not be negative", "")
		}
		nonNegative(v.p, path+".passive.eject_for", ps.EjectFor)
	}
	if b := s.Breaker; b != nil {
		if b.FailureRatio < 0 || b.FailureRatio > 1 {
			v.p.at(path+".breaker.failure_ratio", "must be between 0 and 1", "e.g. 0.5")
		}
		if b.MinRequests < 0 {
			v.p.at(path+".breaker.min_requests", "must not be negative", "")
		}
		nonNegative(v.p, path+".breaker.window", b.Window)
		nonNegative(v.p, path+".breaker.open_for", b.OpenFor)
	}
}

// isToken reports whether s is an HTTP token (RFC 9110), e.g. a header name.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
