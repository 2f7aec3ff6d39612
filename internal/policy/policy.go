// Package policy is the contract between the gateway and its policies.
//
// A policy is written once against Exchange, a small gateway-owned view of one
// request/response. Both front ends (fasthttp for HTTP/1.1, net/http for HTTP/2,
// h2c and gRPC) implement Exchange, so a policy runs unchanged on every protocol
// path and never imports fasthttp or net/http server types.
//
// A policy package exports one Definition and is listed once in
// internal/policy/builtin. Its config type is decoded strictly from the route's
// `policies.<name>` block, validated (Validate returns every problem at once)
// and built once at config load (Build parses CIDRs, compiles templates,
// resolves keys). The request path only runs the built Handler.
package policy

import (
	"context"
	"crypto/tls"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Phase orders policies on a route. Policies run in phase order, never in the
// order a user listed them; within a phase they run by name.
type Phase int

const (
	PhaseObserve      Phase = 10 // tracing, logging hooks
	PhaseEdge         Phase = 20 // cors preflight, ip_restriction, request_size_limit
	PhaseAuthenticate Phase = 30 // key_auth, basic_auth, jwt, mtls (any of them)
	PhaseAuthorize    Phase = 40 // acl
	PhaseLimit        Phase = 50 // rate_limit, quota
	PhaseValidate     Phase = 60 // validate_request
	PhaseCache        Phase = 70 // cache lookup before, cache store after
	PhaseTransform    Phase = 80 // transform request before, response after
	PhaseTerminal     Phase = 90 // mock: answers instead of the upstream
)

func (p Phase) String() string {
	switch p {
	case PhaseObserve:
		return "observe"
	case PhaseEdge:
		return "edge"
	case PhaseAuthenticate:
		return "authenticate"
	case PhaseAuthorize:
		return "authorize"
	case PhaseLimit:
		return "limit"
	case PhaseValidate:
		return "validate"
	case PhaseCache:
		return "cache"
	case PhaseTransform:
		return "transform"
	case PhaseTerminal:
		return "terminal"
	}
	return "unknown"
}

// Next continues the chain: the next policy, and in the end the upstream.
type Next func(ex Exchange) error

// Handler is a built policy instance on one route. It may stop the chain by
// returning an error (usually a *problem.Error) or by calling ex.Respond and
// returning nil without calling next. Code after next(ex) sees the response.
type Handler interface {
	Handle(ex Exchange, next Next) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ex Exchange, next Next) error

func (f HandlerFunc) Handle(ex Exchange, next Next) error { return f(ex, next) }

// Authenticator is what a PhaseAuthenticate policy builds instead of a Handler.
// Several authenticators on a route mean "any of them": the gateway tries them
// in order and the first that returns a consumer wins.
type Authenticator interface {
	// Authenticate returns the consumer, or ErrNoCredentials when this method's
	// credential is absent, or a *problem.Error (401) when it is present but bad.
	// It strips the credential from the request unless configured otherwise.
	Authenticate(ex Exchange) (*Consumer, error)
	// Challenge is the WWW-Authenticate value for this method, e.g. `Bearer realm="tollgate"`.
	Challenge() string
}

// Config is a policy's decoded configuration.
type Config interface {
	// Validate returns every problem with the config (nil when valid). Pure.
	Validate() []error
	// Build does everything that can be done before the first request and
	// returns a Handler or an Authenticator.
	Build(env BuildEnv) (any, error)
}

// Definition is what a policy package exports.
type Definition struct {
	Name  string        // config key under `policies:`
	Phase Phase         // where it runs in the chain
	New   func() Config // a zero config to decode into (strictly)
	// Doc is one line shown by the admin API's chain dump.
	Doc string
	// Files names the settings whose value is a file the config document
	// carries in its attachments: (e.g. "spec"), so every node and every
	// rollback builds from the content that was applied. Build reads such a
	// file through BuildEnv.Attached.
	Files []string
}

// Consumer is the identity attached to a request after authentication.
type Consumer struct {
	ID        string
	Name      string
	Plan      string
	Groups    []string
	Metadata  map[string]string
	Anonymous bool
}

// InGroup reports whether the consumer belongs to group g.
func (c *Consumer) InGroup(g string) bool {
	for _, x := range c.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// Header is a mutable view of request or response headers. Names are
// case-insensitive.
type Header interface {
	Get(name string) string
	Values(name string) []string
	Set(name, value string)
	Add(name, value string)
	Del(name string)
	// Range calls f for every header line until f returns false.
	Range(f func(name, value string) bool)
}

// Lend returns h.Get(name) without copying the value where h can lend it
// (the HTTP/1.1 front end's request header). A lent value is valid only
// until the header is next changed or the request ends: use it at once
// (compare, hash, look up) and never keep it.
func Lend(h Header, name string) string {
	if l, ok := h.(interface{ Lend(string) string }); ok {
		return l.Lend(name)
	}
	return h.Get(name)
}

// Param is one captured path parameter.
type Param struct{ Name, Value string }

// RouteInfo identifies the matched route to policies.
type RouteInfo struct {
	Name    string
	Service string
	Version string // API version resolved by the router ("" when unversioned)
	Pattern string // the path pattern that matched
}

// Response is the upstream's (or a policy's) answer, valid after next returned
// nil or after Respond.
type Response interface {
	Status() int
	SetStatus(code int)
	Header() Header
	// Body buffers the body up to limit bytes. ok is false (and the body keeps
	// streaming untouched) when it is longer than limit or of unknown size
	// beyond limit.
	Body(limit int64) (b []byte, ok bool, err error)
	// SetBody replaces the body and fixes Content-Length.
	SetBody(b []byte)
}

// Exchange is one request/response as policies see it.
type Exchange interface {
	Context() context.Context
	RequestID() string
	// Now is the time the request arrived (one clock read per request).
	Now() time.Time

	Method() string
	Scheme() string // "http" or "https" as the client used
	Host() string   // request host without port, lower-case
	// Path is the canonical path as routed; SetPath changes what the upstream gets.
	Path() string
	SetPath(p string)
	RawQuery() string
	SetRawQuery(q string)
	// Query returns the first value of a query parameter.
	Query(name string) string
	Header() Header
	Param(name string) string
	Params() []Param
	// ClientIP is the socket peer, or the first untrusted hop of
	// X-Forwarded-For when the peer is a trusted proxy.
	ClientIP() netip.Addr
	// TLS is the client connection's TLS state, nil for plain text.
	TLS() *tls.ConnectionState
	// ContentLength is the request body length, -1 when unknown (chunked).
	ContentLength() int64
	// SetBodyLimit caps the request body; a longer body fails with 413.
	SetBodyLimit(n int64)
	// Body reads and buffers the whole request body (up to the body limit).
	Body() ([]byte, error)
	// SetBody replaces the request body sent upstream and fixes Content-Length.
	SetBody(b []byte)

	Route() *RouteInfo
	Consumer() *Consumer
	SetConsumer(c *Consumer)
	// Value and SetValue carry per-request data between policies.
	Value(key any) any
	SetValue(key, val any)

	// AddResponseHeader adds a header to whatever response the client gets:
	// the upstream's, a policy's, or an error (e.g. RateLimit-* on a 502).
	AddResponseHeader(name, value string)
	// AddResponseLines adds headers already rendered as lines, each
	// "Name: value\r\n", whose names are names in order: the same as
	// AddResponseHeader for each, for a policy that adds the same names to
	// every response (rate_limit), at a fraction of the cost. The caller
	// vouches that every name is a token that fasthttp keeps in its general
	// store (not Content-*, Connection, Date, Server, Set-Cookie,
	// Transfer-Encoding or Trailer) and every value is free of control
	// bytes; lines must stay unchanged until the request is over (Scratch
	// memory suits). Observers read only AddResponseHeader's headers
	// (X-Cache, X-Quota-Remaining).
	AddResponseLines(lines string, names []string)
	// Scratch returns an empty buffer with room for n bytes, from memory the
	// exchange reuses for its next request. Bytes in it stay valid until the
	// request is over (its response written, its observers run), so it suits
	// values that die with the request, such as a header value passed to
	// AddResponseHeader, and nothing kept after it (a cache or counter key).
	// It saves the request an allocation, and the GC the garbage.
	Scratch(n int) []byte
	// Respond answers the request without calling the upstream.
	Respond(status int, header [][2]string, body []byte)
	// Response is the response, valid after next returned nil or after Respond.
	Response() Response
}

// ErrNoCredentials is returned by an Authenticator whose credential is absent.
var ErrNoCredentials = errNoCredentials{}

type errNoCredentials struct{}

func (errNoCredentials) Error() string { return "no credentials" }

// BuildEnv gives a policy's Build what it may use: long-lived shared state
// that survives reloads. Fields are nil when the feature is not configured.
type BuildEnv struct {
	// Route is the route being compiled.
	Route RouteInfo
	// Services are optional shared components keyed by a well-known name
	// (e.g. "credentials", "counters", "cache", "clock"). A policy that needs
	// one and finds it missing fails Build with a clear message.
	Services map[string]any
	// State keeps per-route state across reloads (limiter buckets, caches):
	// State(key, make) returns the existing value for key or stores make().
	State func(key string, make func() any) any
	// Attached returns a file the config document carries (attachments:),
	// by the exact name the config writes; ok is false (or Attached nil)
	// when it is not attached and the file is read from disk.
	Attached func(name string) (content []byte, ok bool)
}

// Service returns a shared component by name, typed.
func Service[T any](env BuildEnv, name string) (T, bool) {
	v, ok := env.Services[name].(T)
	return v, ok
}

var registry = map[string]Definition{}

// Register adds a policy definition. It is called only from
// internal/policy/builtin, the one list of built-in policies (and, in tests,
// by policytest.CheckREADME for a policy not registered yet).
func Register(d Definition) {
	if _, dup := registry[d.Name]; dup {
		panic("policy: duplicate definition " + d.Name)
	}
	registry[d.Name] = d
}

// Lookup finds a registered policy definition.
func Lookup(name string) (Definition, bool) {
	d, ok := registry[name]
	return d, ok
}

// Names lists the registered policies, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Directory resolves consumers from the gateway's in-memory cache; it never
// touches the store on the request path. BuildEnv.Services["consumers"].
type Directory interface {
	ConsumerByID(id string) (*Consumer, bool)
	ConsumerByName(name string) (*Consumer, bool)
}

// EachLine calls f with the name and value of each "Name: value\r\n" line
// of lines (AddResponseLines), for a front end that sets headers one by one.
func EachLine(lines string, f func(name, value string)) {
	for lines != "" {
		line, rest, _ := strings.Cut(lines, "\r\n")
		name, value, _ := strings.Cut(line, ": ")
		f(name, value)
		lines = rest
	}
}
