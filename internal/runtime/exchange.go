// Package runtime holds the compiled, immutable routing table and the request
// pipeline shared by both front ends: one atomic load of the table, one route
// match, the route's prebuilt chain, the proxy loop, one error renderer.
package runtime

import (
	"net/netip"
	"time"
	"unsafe"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/tracing"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// Exchange is what a front end (fasthttp or net/http) gives the runtime: the
// policy view plus the protocol-specific steps the runtime cannot do itself.
type Exchange interface {
	policy.Exchange
	// State is the protocol-independent per-request state.
	State() *Base
	// RawPath is the request path exactly as received (percent-encoded, no query).
	RawPath() string
	// Forward sends the request, as policies left it, to target and keeps the
	// response for the chain's response side. It reports what happened for
	// health accounting and whether the error is one the client should see.
	Forward(r *Route, t *upstream.Target) (upstream.Outcome, error)
	// Replayable reports whether the request can be sent again (its body was
	// empty or buffered), which retries after a send require.
	Replayable() bool
	// WriteProblem renders a gateway error as the response.
	WriteProblem(e *problem.Error)
}

// Base is the per-request state both front ends share. Front ends embed it,
// reset it per request and reuse it (no allocation per request).
type Base struct {
	// ID is the request id. The fast front end keeps it in memory the
	// exchange reuses (NewRequestID, SetRequestID): like a Scratch buffer it
	// is valid until the request is over, so whatever outlives the request
	// keeps a copy (strings.Clone).
	ID      string
	Start   time.Time
	Peer    netip.Addr
	Client  netip.Addr
	Canon   string // canonical request path
	UpPath  string // path sent upstream (after strip_prefix/rewrite/transform)
	PathSet bool   // a policy set the upstream path
	Limit   int64  // request body limit
	Info    policy.RouteInfo
	R       *Route
	Cons    *policy.Consumer
	Extra   [][2]string
	Lines   []Lines            // headers added as rendered lines (AddResponseLines)
	P       []policy.Param     // route params, reused buffer
	vals    []keyVal           // per-request values (Value/SetValue): a few at most, so a slice
	scratch []byte             // Scratch's memory: the current block, reused from request to request
	idBuf   [RequestIDLen]byte // a generated ID's bytes
	// Span is the request's trace span (nil when no tracer is set).
	Span *tracing.Span

	// Filled while serving, read by observers.
	Status          int
	UpstreamLatency time.Duration
	BytesIn         int64 // request body bytes, when known
	BytesOut        int64 // response body bytes, when known
	Committed       bool  // the response was handed to the client writer
	Err             error
}

// Reset prepares b for a new request, keeping its buffers.
func (b *Base) Reset() {
	extra, params, vals, lines := b.Extra[:0], b.P[:0], b.vals, b.Lines[:0]
	clear(vals) // drop references to the last request's values
	*b = Base{Extra: extra, Lines: lines, P: params, vals: vals[:0], scratch: b.scratch[:0]}
}

// scratchBlock is the size of a fresh scratch block: a few header values.
const scratchBlock = 512

// Scratch hands out room for n bytes from the current block. A request
// that needs more than the block has left gets a new block (at least twice
// as large, so a route settles on one block after a few requests); slices
// handed out before keep the old block alive until they are dropped.
func (b *Base) Scratch(n int) []byte {
	l := len(b.scratch)
	if cap(b.scratch)-l < n {
		b.scratch = make([]byte, 0, max(scratchBlock, 2*cap(b.scratch), n))
		l = 0
	}
	b.scratch = b.scratch[:l+n]
	return b.scratch[l : l : l+n]
}

// SetRequestID makes id the request's id, copied into the exchange's
// scratch memory (Scratch): it stays valid until the request is over, and
// costs the request no allocation.
func (b *Base) SetRequestID(id []byte) {
	buf := append(b.Scratch(len(id)), id...)
	b.ID = unsafe.String(unsafe.SliceData(buf), len(buf))
}

// NewRequestID gives the request a new id (NewRequestID's form) in the
// exchange's own memory, valid as SetRequestID's is. (Not in a Scratch
// block: a request on a route without such policies would then hold one
// just for its id, 512 bytes per connection in flight.)
func (b *Base) NewRequestID() {
	FillRequestID(&b.idBuf)
	b.ID = unsafe.String(&b.idBuf[0], RequestIDLen)
}

func (b *Base) RequestID() string              { return b.ID }
func (b *Base) Now() time.Time                 { return b.Start }
func (b *Base) ClientIP() netip.Addr           { return b.Client }
func (b *Base) Route() *policy.RouteInfo       { return &b.Info }
func (b *Base) Consumer() *policy.Consumer     { return b.Cons }
func (b *Base) SetConsumer(c *policy.Consumer) { b.Cons = c }
func (b *Base) SetBodyLimit(n int64)           { b.Limit = n }
func (b *Base) AddResponseHeader(name, value string) {
	b.Extra = append(b.Extra, [2]string{name, value})
}

// Lines is one AddResponseLines call: the rendered lines, their names, and
// At, the number of Extra headers added before them (their place in the
// order of all policy headers).
type Lines struct {
	Text  string
	Names []string
	At    int
}

func (b *Base) AddResponseLines(lines string, names []string) {
	b.Lines = append(b.Lines, Lines{Text: lines, Names: names, At: len(b.Extra)})
}

// EachResponseHeader calls f for every header policies added, Extra and
// Lines, in the order they were added.
func (b *Base) EachResponseHeader(f func(name, value string)) {
	EachResponseHeader(b.Extra, b.Lines, f)
}

// EachResponseHeader calls f for extra and lines in the order they were added.
func EachResponseHeader(extra [][2]string, lines []Lines, f func(name, value string)) {
	EachPolicyHeader(extra, lines,
		func(kv *[2]string) { f(kv[0], kv[1]) },
		func(l *Lines) { policy.EachLine(l.Text, f) })
}

// EachPolicyHeader walks extra and lines in the order policies added them:
// pair for each AddResponseHeader, block for each AddResponseLines.
func EachPolicyHeader(extra [][2]string, lines []Lines, pair func(*[2]string), block func(*Lines)) {
	li := 0
	for i := range extra {
		for ; li < len(lines) && lines[li].At <= i; li++ {
			block(&lines[li])
		}
		pair(&extra[i])
	}
	for ; li < len(lines); li++ {
		block(&lines[li])
	}
}

// Path is the path as policies see it: the upstream path once set, else the canonical one.
func (b *Base) Path() string {
	if b.PathSet {
		return b.UpPath
	}
	return b.Canon
}

func (b *Base) SetPath(p string) { b.UpPath, b.PathSet = p, true }

func (b *Base) Param(name string) string {
	for i := range b.P {
		if b.P[i].Name == name {
			return b.P[i].Value
		}
	}
	return ""
}

func (b *Base) Params() []policy.Param { return b.P }

type keyVal struct{ k, v any }

// Value returns what SetValue stored under k, or nil. Keys compare with ==,
// so use comparable keys, as for context values (a zero-size struct type
// of the policy's own is the usual key).
func (b *Base) Value(k any) any {
	for i := range b.vals {
		if b.vals[i].k == k {
			return b.vals[i].v
		}
	}
	return nil
}

func (b *Base) SetValue(k, v any) {
	for i := range b.vals {
		if b.vals[i].k == k {
			b.vals[i].v = v
			return
		}
	}
	b.vals = append(b.vals, keyVal{k, v})
}
