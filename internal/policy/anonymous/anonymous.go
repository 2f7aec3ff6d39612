// Package anonymous is the anonymous policy: a fallback consumer for requests
// that present no credential at all, so a route can serve the public with
// lower limits and identified consumers with theirs.
package anonymous

import (
	"errors"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// Definition is the anonymous policy.
var Definition = policy.Definition{
	Name:  "anonymous",
	Phase: policy.PhaseAuthenticate,
	New:   func() policy.Config { return &Config{} },
	Doc:   "names the consumer used when no credential is presented",
}

// Config is `anonymous: {consumer: name}`.
type Config struct {
	Consumer string `yaml:"consumer" json:"consumer"`
}

// Validate reports every problem with the config.
func (c *Config) Validate() []error {
	if strings.TrimSpace(c.Consumer) == "" {
		return []error{errors.New("anonymous: consumer is required (the name of the consumer used for anonymous requests)")}
	}
	return nil
}

// Build needs the consumer directory; the consumer itself is looked up per
// request, because it may be created (or changed) after the config loads.
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	if errs := c.Validate(); errs != nil {
		return nil, errs[0]
	}
	dir, ok := policy.Service[policy.Directory](env, "consumers")
	if !ok {
		return nil, errors.New("anonymous: the consumer directory is not available")
	}
	return &Authenticator{name: c.Consumer, dir: dir}, nil
}

// Authenticator attaches the anonymous consumer. The gateway tries it last,
// and only when no other authenticator found a credential (Fallback).
type Authenticator struct {
	name string
	dir  policy.Directory
}

// Authenticate returns a copy of the named consumer marked Anonymous. When
// that consumer does not exist (or is disabled) it reports no credentials, so
// the route answers the usual 401 instead of letting the request through
// without an identity.
func (a *Authenticator) Authenticate(policy.Exchange) (*policy.Consumer, error) {
	c, ok := a.dir.ConsumerByName(a.name)
	if !ok || c == nil {
		return nil, policy.ErrNoCredentials
	}
	anon := *c
	anon.Anonymous = true
	return &anon, nil
}

// Challenge is empty: anonymous access has nothing to ask the client for.
func (a *Authenticator) Challenge() string { return "" }

// Fallback tells the gateway to try this authenticator after every other one,
// and only when none of them saw a credential.
func (a *Authenticator) Fallback() bool { return true }

var _ policy.Authenticator = (*Authenticator)(nil)
