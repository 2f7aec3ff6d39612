// Package cors is the cors policy: browser preflights are answered at the
// gateway (they never reach the upstream) and actual cross-origin requests
// get the Access-Control-* response headers for allowed origins.
package cors

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
)

// Definition is the cors policy.
var Definition = policy.Definition{
	Name:  "cors",
	Phase: policy.PhaseEdge,
	New:   func() policy.Config { return &Config{} },
	Doc:   "answers CORS preflights at the gateway and adds Access-Control-* headers",
}

// DefaultMaxAge is how long browsers may cache a preflight answer.
const DefaultMaxAge = 10 * time.Minute

var defaultMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

// Config is the `cors:` block of a route.
type Config struct {
	// Origins are exact origins ("https://app.example.com"), "*" (any), or
	// one leading-wildcard pattern per entry ("https://*.example.com").
	Origins       []string        `yaml:"origins" json:"origins"`
	Methods       []string        `yaml:"methods" json:"methods,omitempty"`               // default GET, HEAD, POST, PUT, PATCH, DELETE
	Headers       []string        `yaml:"headers" json:"headers,omitempty"`               // default: any the browser asks for
	ExposeHeaders []string        `yaml:"expose_headers" json:"expose_headers,omitempty"` // response headers scripts may read
	Credentials   bool            `yaml:"credentials" json:"credentials,omitempty"`
	MaxAge        config.Duration `yaml:"max_age" json:"max_age,omitempty"` // default 10m
}

// Validate reports every problem with the config.
func (c *Config) Validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf("cors: "+format, a...)) }
	if len(c.Origins) == 0 {
		add(`origins is required (exact origins, "*", or "https://*.example.com")`)
	}
	for i, o := range c.Origins {
		if o == "*" {
			if c.Credentials {
				add(`origins "*" cannot be combined with credentials: true (browsers refuse it); list the origins`)
			}
			continue
		}
		if _, err := parseOrigin(o); err != nil {
			add("origins[%d]: %v", i, err)
		}
	}
	for i, m := range c.Methods {
		if !isToken(m) {
			add("methods[%d]: %q is not an HTTP method", i, m)
		}
	}
	for i, h := range append(append([]string(nil), c.Headers...), c.ExposeHeaders...) {
		if h != "*" && !isToken(h) {
			add("headers[%d]: %q is not a header name", i, h)
		}
	}
	if c.MaxAge < 0 {
		add("max_age must not be negative")
	}
	return errs
}

// isToken reports whether s is an RFC 9110 token (method and header names).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b <= ' ' || b >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, b) >= 0 {
			return false
		}
	}
	return true
}

// originPattern is an exact origin or "scheme://*.suffix[:port]".
type originPattern struct {
	exact          string // lower-case; "" for a wildcard pattern
	prefix, suffix string // "https://" and ".example.com[:port]" for a wildcard
}

// parseOrigin validates one configured origin: scheme://host[:port], no path,
// a wildcard only as the whole first label.
func parseOrigin(o string) (originPattern, error) {
	low := strings.ToLower(strings.TrimSuffix(o, "/"))
	scheme, rest, ok := strings.Cut(low, "://")
	if !ok || (scheme != "http" && scheme != "https") || rest == "" {
		return originPattern{}, fmt.Errorf("%q is not an origin like https://app.example.com", o)
	}
	if strings.HasPrefix(rest, "*.") {
		if strings.Contains(rest[2:], "*") || !validHostPort(rest[2:]) {
			return originPattern{}, fmt.Errorf("%q: a wildcard must be the whole first label, e.g. https://*.example.com", o)
		}
		return originPattern{prefix: scheme + "://", suffix: rest[1:]}, nil
	}
	if !validHostPort(rest) {
		return originPattern{}, fmt.Errorf("%q is not an origin like https://app.example.com (no path, no wildcard inside)", o)
	}
	return originPattern{exact: scheme + "://" + rest}, nil
}

func validHostPort(hp string) bool {
	u, err := url.Parse("http://" + hp)
	return err == nil && u.Host == hp && u.Path == "" && u.User == nil && u.Hostname() != "" &&
		!strings.ContainsAny(hp, "*?#")
}

// match reports whether the (lower-cased) request origin fits p.
func (p originPattern) match(origin string) bool {
	if p.exact != "" {
		return origin == p.exact
	}
	if len(origin) <= len(p.prefix)+len(p.suffix) || !strings.HasPrefix(origin, p.prefix) || !strings.HasSuffix(origin, p.suffix) {
		return false
	}
	label := origin[len(p.prefix) : len(origin)-len(p.suffix)]
	return !strings.ContainsAny(label, "/:@?#") // sub-domains only: no port, path or userinfo smuggled in
}

// Build parses origins and renders every header value once.
func (c *Config) Build(policy.BuildEnv) (any, error) {
	if errs := c.Validate(); errs != nil {
		return nil, errors.Join(errs...)
	}
	p := &corsPolicy{credentials: c.Credentials, methods: map[string]bool{}}
	for _, o := range c.Origins {
		if o == "*" {
			p.anyOrigin = true
			continue
		}
		op, _ := parseOrigin(o)
		p.origins = append(p.origins, op)
	}
	methods := c.Methods
	if len(methods) == 0 {
		methods = defaultMethods
	}
	for _, m := range methods {
		p.methods[strings.ToUpper(m)] = true
		p.allowMethods = appendList(p.allowMethods, strings.ToUpper(m))
	}
	p.headers, p.allowHeaders, p.anyHeader = headerSet(c.Headers)
	for _, h := range c.ExposeHeaders {
		p.exposeHeaders = appendList(p.exposeHeaders, h)
	}
	maxAge := c.MaxAge.D()
	if maxAge == 0 {
		maxAge = DefaultMaxAge
	}
	p.maxAge = strconv.FormatInt(int64(maxAge/time.Second), 10)
	return p, nil
}

func appendList(list, item string) string {
	if list == "" {
		return item
	}
	return list + ", " + item
}

// headerSet lower-cases the allowed request headers; none configured (or
// "*") means any header the browser asks for is allowed.
func headerSet(hs []string) (set map[string]bool, joined string, anyHeader bool) {
	set = map[string]bool{}
	for _, h := range hs {
		if h == "*" {
			return nil, "", true
		}
		set[strings.ToLower(h)] = true
		joined = appendList(joined, h)
	}
	return set, joined, len(hs) == 0
}
