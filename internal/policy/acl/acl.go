// Package acl is the acl policy: it lets a route through only for consumers
// in the allowed groups and never for consumers in a denied group.
package acl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Definition is the acl policy.
var Definition = policy.Definition{
	Name:  "acl",
	Phase: policy.PhaseAuthorize,
	New:   func() policy.Config { return &Config{} },
	Doc:   "allows or denies consumer groups (deny wins)",
}

// Config is `acl: {allow: [groups], deny: [groups]}`. With an allow list only
// its members pass; a group in deny refuses the consumer whatever else holds.
type Config struct {
	Allow []string `yaml:"allow" json:"allow,omitempty"`
	Deny  []string `yaml:"deny" json:"deny,omitempty"`
}

// Validate reports every problem with the config.
func (c *Config) Validate() []error {
	var errs []error
	if len(c.Allow) == 0 && len(c.Deny) == 0 {
		errs = append(errs, errors.New("acl: set allow, deny or both"))
	}
	allowed := map[string]bool{}
	for _, g := range c.Allow {
		if strings.TrimSpace(g) == "" {
			errs = append(errs, errors.New("acl: allow has an empty group name"))
		}
		allowed[g] = true
	}
	for _, g := range c.Deny {
		if strings.TrimSpace(g) == "" {
			errs = append(errs, errors.New("acl: deny has an empty group name"))
		}
		if allowed[g] {
			errs = append(errs, fmt.Errorf("acl: group %q is in both allow and deny", g))
		}
	}
	return errs
}

// Build turns the lists into sets.
func (c *Config) Build(policy.BuildEnv) (any, error) {
	if errs := c.Validate(); errs != nil {
		return nil, errors.Join(errs...)
	}
	return &guard{allow: toSet(c.Allow), deny: toSet(c.Deny)}, nil
}

func toSet(groups []string) map[string]struct{} {
	s := make(map[string]struct{}, len(groups))
	for _, g := range groups {
		s[g] = struct{}{}
	}
	return s
}

var (
	errNoConsumer = problem.Forbidden("this route requires an authenticated consumer")
	errNotAllowed = problem.Forbidden("the consumer is not allowed to use this route")
)

type guard struct {
	allow, deny map[string]struct{}
}

func (g *guard) Handle(ex policy.Exchange, next policy.Next) error {
	if err := g.check(ex.Consumer()); err != nil {
		return err
	}
	return next(ex)
}

// check returns nil when c may pass. A nil consumer means no authenticator ran
// on the route (a config mistake caught at compile time); refuse rather than
// fail open.
func (g *guard) check(c *policy.Consumer) error {
	if c == nil {
		return errNoConsumer
	}
	inAllow := false
	for _, grp := range c.Groups {
		if _, ok := g.deny[grp]; ok {
			return errNotAllowed
		}
		if _, ok := g.allow[grp]; ok {
			inAllow = true
		}
	}
	if len(g.allow) > 0 && !inAllow {
		return errNotAllowed
	}
	return nil
}
