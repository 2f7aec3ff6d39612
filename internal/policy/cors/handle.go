package cors

import (
	"net/http"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

type corsPolicy struct {
	anyOrigin   bool
	origins     []originPattern
	credentials bool

	methods      map[string]bool
	allowMethods string // rendered once: "GET, POST"
	headers      map[string]bool
	allowHeaders string
	anyHeader    bool

	exposeHeaders string
	maxAge        string // seconds
}

var (
	errOrigin  = problem.Forbidden("this origin is not allowed to call this API from a browser").With("Vary", "Origin")
	errMethod  = problem.Forbidden("this method is not allowed for cross-origin requests").With("Vary", "Origin")
	errHeaders = problem.Forbidden("a requested header is not allowed for cross-origin requests").With("Vary", "Origin")
)

// Handle answers preflights itself and decorates actual requests.
func (p *corsPolicy) Handle(ex policy.Exchange, next policy.Next) error {
	origin := ex.Header().Get("Origin")
	if origin == "" {
		if !p.anyOrigin || p.credentials {
			ex.AddResponseHeader("Vary", "Origin")
		}
		return next(ex)
	}
	if ex.Method() == http.MethodOptions && ex.Header().Get("Access-Control-Request-Method") != "" {
		return p.preflight(ex, origin)
	}
	if allowOrigin, ok := p.allowOrigin(origin); ok {
		ex.AddResponseHeader("Access-Control-Allow-Origin", allowOrigin)
		if p.credentials {
			ex.AddResponseHeader("Access-Control-Allow-Credentials", "true")
		}
		if p.exposeHeaders != "" {
			ex.AddResponseHeader("Access-Control-Expose-Headers", p.exposeHeaders)
		}
	}
	ex.AddResponseHeader("Vary", "Origin")
	return next(ex)
}

// allowOrigin returns the Access-Control-Allow-Origin value for origin: "*"
// for a public API without credentials, else the origin itself.
func (p *corsPolicy) allowOrigin(origin string) (string, bool) {
	if p.anyOrigin {
		return "*", true
	}
	low := strings.ToLower(origin)
	for _, o := range p.origins {
		if o.match(low) {
			return origin, true
		}
	}
	return "", false
}

// preflight answers OPTIONS + Origin + Access-Control-Request-Method with 204
// (allowed) or a 403 problem; the upstream never sees it.
func (p *corsPolicy) preflight(ex policy.Exchange, origin string) error {
	allowOrigin, ok := p.allowOrigin(origin)
	if !ok {
		return errOrigin
	}
	if !p.methods[strings.ToUpper(ex.Header().Get("Access-Control-Request-Method"))] {
		return errMethod
	}
	requested := ex.Header().Get("Access-Control-Request-Headers")
	if !p.headersAllowed(requested) {
		return errHeaders
	}
	h := [][2]string{
		{"Access-Control-Allow-Origin", allowOrigin},
		{"Access-Control-Allow-Methods", p.allowMethods},
		{"Access-Control-Max-Age", p.maxAge},
		{"Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"},
	}
	if allow := p.allowHeadersFor(requested); allow != "" {
		h = append(h, [2]string{"Access-Control-Allow-Headers", allow})
	}
	if p.credentials {
		h = append(h, [2]string{"Access-Control-Allow-Credentials", "true"})
	}
	ex.Respond(http.StatusNoContent, h, nil)
	return nil
}

func (p *corsPolicy) headersAllowed(requested string) bool {
	if p.anyHeader || requested == "" {
		return true
	}
	for _, h := range strings.Split(requested, ",") {
		if h = strings.ToLower(strings.TrimSpace(h)); h != "" && !p.headers[h] {
			return false
		}
	}
	return true
}

// allowHeadersFor echoes what the browser asked for when any header is
// allowed (only token characters, so nothing can be injected), else the list.
func (p *corsPolicy) allowHeadersFor(requested string) string {
	if !p.anyHeader {
		return p.allowHeaders
	}
	var out []string
	for _, h := range strings.Split(requested, ",") {
		if h = strings.TrimSpace(h); isToken(h) {
			out = append(out, h)
		}
	}
	return strings.Join(out, ", ")
}
