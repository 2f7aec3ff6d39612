// Package keyauth is the key_auth policy: an API key from a header, a query
// parameter or an `Authorization: Bearer tg_...` token, checked against the
// in-memory credential cache (no store I/O per request).
package keyauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Definition registers key_auth (the integrator lists it in internal/policy/builtin).
var Definition = policy.Definition{
	Name:  "key_auth",
	Phase: policy.PhaseAuthenticate,
	New:   func() policy.Config { return &Config{} },
	Doc:   "API key from a header (X-API-Key), a query parameter or a Bearer token",
}

// Config is the `policies.key_auth` block.
type Config struct {
	// Header carries the key; default X-API-Key.
	Header string `yaml:"header" json:"header,omitempty"`
	// Query, when set, also accepts the key as this query parameter.
	Query string `yaml:"query" json:"query,omitempty"`
	// Bearer also accepts `Authorization: Bearer tg_...`.
	Bearer bool `yaml:"bearer" json:"bearer,omitempty"`
	// HideCredentials removes the key before the request goes upstream; default true.
	HideCredentials *bool `yaml:"hide_credentials" json:"hide_credentials,omitempty"`
}

// DefaultHeader is where clients send keys unless the route says otherwise.
const DefaultHeader = "X-API-Key"

// ServiceName is the BuildEnv service holding the credential cache.
const ServiceName = "credentials"

// Detail is the one message a client gets for any bad key: it does not say
// which of invalid, expired or revoked applies.
const Detail = "the API key is invalid, expired or revoked"

// KeyLookup is what key_auth needs from the credential cache
// (*credentials.Cache implements it). key is lent (policy.Lend): valid
// only during the call, never kept.
type KeyLookup interface {
	LookupKey(key string, now time.Time) (*policy.Consumer, error)
}

func (c *Config) header() string {
	if c.Header == "" {
		return DefaultHeader
	}
	return c.Header
}

// Validate returns every problem with the block.
func (c *Config) Validate() []error {
	var errs []error
	if h := c.header(); !httpguts.ValidHeaderFieldName(h) {
		errs = append(errs, fmt.Errorf("key_auth.header: %q is not a valid header name", h))
	} else if strings.Contains(h, "_") {
		errs = append(errs, fmt.Errorf("key_auth.header: %q contains '_', and the server rejects such headers", h))
	}
	if c.Query != "" && (strings.ContainsAny(c.Query, "&=#?+% ") || !isPrintable(c.Query)) {
		errs = append(errs, fmt.Errorf("key_auth.query: %q is not a plain query parameter name", c.Query))
	}
	return errs
}

func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// Build resolves the credential cache and precomputes the challenge.
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	keys, ok := policy.Service[KeyLookup](env, ServiceName)
	if !ok {
		return nil, errors.New("key_auth: no credential cache (BuildEnv service \"credentials\"); the gateway needs a store to check API keys")
	}
	a := &authenticator{keys: keys, header: c.header(), query: c.Query, bearer: c.Bearer,
		hide: c.HideCredentials == nil || *c.HideCredentials}
	a.challenge = fmt.Sprintf(`Key realm="tollgate", header=%q`, a.header)
	a.denied = problem.Unauthorized(a.challenge, Detail)
	return a, nil
}

type authenticator struct {
	keys      KeyLookup
	header    string
	query     string
	bearer    bool
	hide      bool
	challenge string
	denied    *problem.Error
}

func (a *authenticator) Challenge() string { return a.challenge }

// where a key was found, so the same place is cleaned.
type source int

const (
	fromHeader source = iota
	fromQuery
	fromBearer
)

// Authenticate implements policy.Authenticator.
func (a *authenticator) Authenticate(ex policy.Exchange) (*policy.Consumer, error) {
	key, src := a.find(ex)
	if key == "" {
		return nil, policy.ErrNoCredentials
	}
	c, err := a.keys.LookupKey(key, ex.Now())
	if err != nil {
		return nil, a.denied
	}
	if a.hide {
		a.strip(ex, src)
	}
	return c, nil
}

// find returns the key lent by the header where it can (policy.Lend): it
// is only looked up, before strip changes the header.
func (a *authenticator) find(ex policy.Exchange) (string, source) {
	if k := strings.TrimSpace(policy.Lend(ex.Header(), a.header)); k != "" {
		return k, fromHeader
	}
	if a.query != "" {
		if k := ex.Query(a.query); k != "" {
			return k, fromQuery
		}
	}
	if a.bearer {
		if k, ok := bearerKey(policy.Lend(ex.Header(), "Authorization")); ok {
			return k, fromBearer
		}
	}
	return "", fromHeader
}

// bearerKey returns the token of `Bearer tg_...`. Other bearer tokens (JWTs)
// are left for the jwt policy.
func bearerKey(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(scheme):])
	return tok, strings.HasPrefix(tok, "tg_")
}

func (a *authenticator) strip(ex policy.Exchange, src source) {
	switch src {
	case fromHeader:
		ex.Header().Del(a.header)
	case fromQuery:
		ex.SetRawQuery(RemoveQueryParam(ex.RawQuery(), a.query))
	case fromBearer:
		ex.Header().Del("Authorization")
	}
}

// RemoveQueryParam drops every occurrence of name from a raw query and keeps
// the other parameters byte for byte, in order.
func RemoveQueryParam(raw, name string) string {
	if raw == "" {
		return raw
	}
	var b strings.Builder
	for part := range strings.SplitSeq(raw, "&") {
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); (err == nil && uk == name) || k == name {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(part)
	}
	return b.String()
}
