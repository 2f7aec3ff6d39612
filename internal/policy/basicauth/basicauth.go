// Package basicauth is the basic_auth policy: HTTP Basic credentials checked
// against the in-memory credential cache (bcrypt, with successful checks
// remembered briefly so a client does not pay bcrypt on every request).
package basicauth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Definition registers basic_auth (the integrator lists it in internal/policy/builtin).
var Definition = policy.Definition{
	Name:  "basic_auth",
	Phase: policy.PhaseAuthenticate,
	New:   func() policy.Config { return &Config{} },
	Doc:   "HTTP Basic username and password of a consumer",
}

// Config is the `policies.basic_auth` block.
type Config struct {
	// Realm is shown in the challenge; default "tollgate".
	Realm string `yaml:"realm" json:"realm,omitempty"`
	// HideCredentials removes the Authorization header before the request goes upstream; default true.
	HideCredentials *bool `yaml:"hide_credentials" json:"hide_credentials,omitempty"`
}

// ServiceName is the BuildEnv service holding the credential cache.
const ServiceName = "credentials"

// Client-facing details: they never say whether the username exists.
const (
	DetailInvalid   = "the username or password is invalid"
	DetailMalformed = "the Basic credentials are malformed"
)

// BasicChecker is what basic_auth needs from the credential cache
// (*credentials.Cache implements it).
type BasicChecker interface {
	CheckBasic(user, pass string) (*policy.Consumer, error)
}

func (c *Config) realm() string {
	if c.Realm == "" {
		return "tollgate"
	}
	return c.Realm
}

// Validate returns every problem with the block.
func (c *Config) Validate() []error {
	r := c.realm()
	for i := 0; i < len(r); i++ {
		if r[i] < ' ' || r[i] >= 0x7f || r[i] == '"' || r[i] == '\\' {
			return []error{fmt.Errorf("basic_auth.realm: %q must be printable ASCII without quotes or backslashes", r)}
		}
	}
	return nil
}

// Build resolves the credential cache and precomputes the challenge.
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	checker, ok := policy.Service[BasicChecker](env, ServiceName)
	if !ok {
		return nil, errors.New("basic_auth: no credential cache (BuildEnv service \"credentials\"); the gateway needs a store to check passwords")
	}
	challenge := `Basic realm="` + c.realm() + `"`
	return &authenticator{
		checker: checker, challenge: challenge, hide: c.HideCredentials == nil || *c.HideCredentials,
		invalid:   problem.Unauthorized(challenge, DetailInvalid),
		malformed: problem.Unauthorized(challenge, DetailMalformed),
	}, nil
}

type authenticator struct {
	checker            BasicChecker
	challenge          string
	hide               bool
	invalid, malformed *problem.Error
}

func (a *authenticator) Challenge() string { return a.challenge }

// Authenticate implements policy.Authenticator.
func (a *authenticator) Authenticate(ex policy.Exchange) (*policy.Consumer, error) {
	payload, ok := basicPayload(ex.Header().Get("Authorization"))
	if !ok {
		return nil, policy.ErrNoCredentials
	}
	user, pass, ok := ParseBasic(payload)
	if !ok {
		return nil, a.malformed
	}
	c, err := a.checker.CheckBasic(user, pass)
	if err != nil {
		return nil, a.invalid
	}
	if a.hide {
		ex.Header().Del("Authorization")
	}
	return c, nil
}

// basicPayload returns what follows "Basic " (scheme case-insensitive).
func basicPayload(h string) (string, bool) {
	const scheme = "basic "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

// ParseBasic decodes base64(user:pass) (RFC 7617). The user must be non-empty.
func ParseBasic(payload string) (user, pass string, ok bool) {
	if payload == "" || len(payload) > 4096 {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(raw), ":")
	return user, pass, ok && user != ""
}
