// Package iprestriction is the ip_restriction policy: CIDR allow and deny
// lists over the client IP the gateway resolved (socket peer, or the first
// untrusted X-Forwarded-For hop when the peer is a trusted proxy).
package iprestriction

import (
	"errors"
	"fmt"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Definition is the ip_restriction policy.
var Definition = policy.Definition{
	Name:  "ip_restriction",
	Phase: policy.PhaseEdge,
	New:   func() policy.Config { return &Config{} },
	Doc:   "allows or denies client IPs by CIDR (deny wins)",
}

// Config is `ip_restriction: {allow: [CIDR or IP], deny: [CIDR or IP]}`.
type Config struct {
	Allow []string `yaml:"allow" json:"allow,omitempty"`
	Deny  []string `yaml:"deny" json:"deny,omitempty"`
}

// Validate reports every entry that does not parse.
func (c *Config) Validate() []error {
	var errs []error
	if len(c.Allow) == 0 && len(c.Deny) == 0 {
		errs = append(errs, errors.New("ip_restriction: set allow, deny or both"))
	}
	errs = append(errs, checkEntries("allow", c.Allow)...)
	return append(errs, checkEntries("deny", c.Deny)...)
}

func checkEntries(list string, entries []string) []error {
	var errs []error
	for i, e := range entries {
		if _, err := ParseEntry(e); err != nil {
			errs = append(errs, fmt.Errorf("ip_restriction: %s[%d]: %w", list, i, err))
		}
	}
	return errs
}

// Build parses every entry into a sorted range set; serving is a binary search.
func (c *Config) Build(policy.BuildEnv) (any, error) {
	if errs := c.Validate(); errs != nil {
		return nil, errors.Join(errs...)
	}
	allow, _ := NewSet(c.Allow)
	deny, _ := NewSet(c.Deny)
	return &restriction{allow: allow, deny: deny, hasAllow: len(c.Allow) > 0}, nil
}

var errForbidden = problem.Forbidden("requests from your IP address are not allowed on this route")

type restriction struct {
	allow, deny *Set
	hasAllow    bool
}

// Handle refuses denied addresses, and, with an allow list, every address not
// on it. An address the gateway could not resolve is refused (fail closed).
func (r *restriction) Handle(ex policy.Exchange, next policy.Next) error {
	ip := ex.ClientIP()
	if !ip.IsValid() || r.deny.Contains(ip) || (r.hasAllow && !r.allow.Contains(ip)) {
		return errForbidden
	}
	return next(ex)
}
