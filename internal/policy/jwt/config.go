// Package jwt is the jwt policy: it authenticates `Authorization: Bearer <jwt>`
// requests against keys given inline or fetched from a JWKS URL, with the
// algorithm pinned per route and per key, and maps a claim to a consumer.
package jwt

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
)

// Definition is the jwt policy.
var Definition = policy.Definition{
	Name:  "jwt",
	Phase: policy.PhaseAuthenticate,
	New:   func() policy.Config { return &Config{} },
	Doc:   "authenticates Authorization: Bearer JWTs (pinned algorithms, inline keys or JWKS)",
}

// Defaults and bounds (SPEC §8: leeway at most 60 s, exp required).
const (
	DefaultLeeway         = 30 * time.Second
	MaxLeeway             = 60 * time.Second
	DefaultJWKSRefresh    = 10 * time.Minute
	DefaultJWKSMinRefetch = 10 * time.Second
	DefaultJWKSTimeout    = 2 * time.Second
	maxJWKSTimeout        = 30 * time.Second
	minHMACSecret         = 32 // bytes: RFC 7518 §3.2 wants a key at least as long as the hash
)

// Config is the `jwt:` block of a route.
type Config struct {
	Algorithms      []string         `yaml:"algorithms" json:"algorithms"`
	Keys            []KeyConfig      `yaml:"keys" json:"keys,omitempty"`
	JWKSURL         string           `yaml:"jwks_url" json:"jwks_url,omitempty"`
	Issuer          string           `yaml:"issuer" json:"issuer,omitempty"`
	Audience        StringList       `yaml:"audience" json:"audience,omitempty"`
	ConsumerClaim   string           `yaml:"consumer_claim" json:"consumer_claim,omitempty"` // default "sub"
	ConsumerBy      string           `yaml:"consumer_by" json:"consumer_by,omitempty"`       // name (default) | id
	Leeway          *config.Duration `yaml:"leeway" json:"leeway,omitempty"`                 // default 30s, max 60s
	RequireExp      *bool            `yaml:"require_exp" json:"require_exp,omitempty"`       // default true
	HideCredentials *bool            `yaml:"hide_credentials" json:"hide_credentials,omitempty"`
	JWKSRefresh     config.Duration  `yaml:"jwks_refresh" json:"jwks_refresh,omitempty"`
	JWKSMinRefetch  config.Duration  `yaml:"jwks_min_refetch" json:"jwks_min_refetch,omitempty"`
	JWKSTimeout     config.Duration  `yaml:"jwks_timeout" json:"jwks_timeout,omitempty"`
}

// KeyConfig is one inline key: an HMAC secret or a PEM public key.
type KeyConfig struct {
	KID       string `yaml:"kid" json:"kid,omitempty"`
	Alg       string `yaml:"alg" json:"alg,omitempty"`
	Secret    string `yaml:"secret" json:"-"`
	PublicKey string `yaml:"public_key" json:"public_key,omitempty"`
}

// StringList is a YAML string or list of strings.
type StringList []string

// UnmarshalYAML accepts `aud` and `[aud1, aud2]`.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = StringList{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return errors.New("audience: write a string or a list of strings")
	}
	*s = l
	return nil
}

// Validate reports every problem with the config.
func (c *Config) Validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf("jwt: "+format, a...)) }
	c.validateAlgorithms(add)
	if len(c.Keys) == 0 && c.JWKSURL == "" {
		add("set keys, jwks_url or both")
	}
	kids := map[string]bool{}
	for i, k := range c.Keys {
		if k.KID != "" && kids[k.KID] {
			add("keys[%d]: kid %q is used twice", i, k.KID)
		}
		kids[k.KID] = true
		if _, err := parseKeyConfig(k, c.Algorithms); err != nil {
			add("keys[%d]: %v", i, err)
		}
	}
	if c.JWKSURL != "" {
		if u, err := url.Parse(c.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			add("jwks_url must be an http(s) URL")
		}
	}
	for i, a := range c.Audience {
		if a == "" {
			add("audience[%d] is empty", i)
		}
	}
	if c.ConsumerBy != "" && c.ConsumerBy != "name" && c.ConsumerBy != "id" {
		add("consumer_by must be name or id, not %q", c.ConsumerBy)
	}
	c.validateDurations(add)
	return errs
}

func (c *Config) validateAlgorithms(add func(string, ...any)) {
	if len(c.Algorithms) == 0 {
		add("algorithms is required: list the algorithms this route accepts, e.g. [RS256]")
	}
	for _, a := range c.Algorithms {
		switch {
		case strings.EqualFold(a, "none"):
			add("algorithm none is never accepted")
		case familyOf(a) == 0:
			add("unknown algorithm %q (use HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 or EdDSA)", a)
		}
	}
}

func (c *Config) validateDurations(add func(string, ...any)) {
	if c.Leeway != nil && (c.Leeway.D() < 0 || c.Leeway.D() > MaxLeeway) {
		add("leeway must be between 0s and %s", MaxLeeway)
	}
	if c.JWKSRefresh.D() < 0 || (c.JWKSRefresh.D() > 0 && c.JWKSRefresh.D() < time.Second) {
		add("jwks_refresh must be at least 1s")
	}
	if c.JWKSMinRefetch.D() < 0 {
		add("jwks_min_refetch must not be negative")
	}
	if c.JWKSTimeout.D() < 0 || c.JWKSTimeout.D() > maxJWKSTimeout {
		add("jwks_timeout must be between 0s (default %s) and %s", DefaultJWKSTimeout, maxJWKSTimeout)
	}
}

// settings are the config with defaults applied.
type settings struct {
	leeway                       time.Duration
	requireExp, hide             bool
	claim                        string
	byID                         bool
	refresh, minRefetch, timeout time.Duration
	audience                     []string
	issuer                       string
}

func (c *Config) settings() settings {
	s := settings{
		leeway: DefaultLeeway, requireExp: true, hide: true, claim: "sub", byID: c.ConsumerBy == "id",
		refresh: or(c.JWKSRefresh.D(), DefaultJWKSRefresh), minRefetch: or(c.JWKSMinRefetch.D(), DefaultJWKSMinRefetch),
		timeout: or(c.JWKSTimeout.D(), DefaultJWKSTimeout), audience: slices.Clone(c.Audience),
		issuer: c.Issuer,
	}
	if c.Leeway != nil {
		s.leeway = c.Leeway.D()
	}
	if c.RequireExp != nil {
		s.requireExp = *c.RequireExp
	}
	if c.HideCredentials != nil {
		s.hide = *c.HideCredentials
	}
	if c.ConsumerClaim != "" {
		s.claim = c.ConsumerClaim
	}
	return s
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
