// Package policytest gives policy packages an in-memory Exchange for unit
// tests, so a policy can be tested without listeners. End-to-end behaviour is
// tested through a real gateway in internal/server.
package policytest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Header adapts http.Header to policy.Header.
type Header struct{ H http.Header }

func (h Header) Get(n string) string      { return h.H.Get(n) }
func (h Header) Values(n string) []string { return h.H.Values(n) }
func (h Header) Set(n, v string)          { h.H.Set(n, v) }
func (h Header) Add(n, v string)          { h.H.Add(n, v) }
func (h Header) Del(n string)             { h.H.Del(n) }
func (h Header) Range(f func(n, v string) bool) {
	for n, vs := range h.H {
		for _, v := range vs {
			if !f(n, v) {
				return
			}
		}
	}
}

// Response is a buffered response.
type Response struct {
	Code    int
	Hdr     http.Header
	BodyBuf []byte
}

func (r *Response) Status() int           { return r.Code }
func (r *Response) SetStatus(c int)       { r.Code = c }
func (r *Response) Header() policy.Header { return Header{r.Hdr} }
func (r *Response) Body(limit int64) ([]byte, bool, error) {
	if int64(len(r.BodyBuf)) > limit {
		return nil, false, nil
	}
	return r.BodyBuf, true, nil
}
func (r *Response) SetBody(b []byte) { r.BodyBuf = b }

// Exchange is an in-memory policy.Exchange. Fill the exported fields, call a
// handler, then inspect Resp, Extra and the request fields.
type Exchange struct {
	Ctx       context.Context
	ID        string
	At        time.Time
	Meth      string
	Sch       string
	HostName  string
	URLPath   string
	Raw       string
	ReqHeader http.Header
	ParamList []policy.Param
	IP        netip.Addr
	TLSState  *tls.ConnectionState
	ReqBody   []byte
	Limit     int64
	RouteInf  policy.RouteInfo
	Cons      *policy.Consumer
	Values    map[any]any
	// Extra collects AddResponseHeader calls.
	Extra http.Header
	// Resp is set by Respond or by the Upstream stand-in in Next.
	Resp *Response
	// Responded is true when a policy answered with Respond.
	Responded bool
}

// New returns an exchange for method and target ("/path?query").
func New(method, target string) *Exchange {
	u, _ := url.Parse(target)
	return &Exchange{
		Ctx: context.Background(), ID: "test-request-id", At: time.Now(),
		Meth: method, Sch: "http", HostName: "example.com", URLPath: u.Path, Raw: u.RawQuery,
		ReqHeader: http.Header{}, IP: netip.MustParseAddr("192.0.2.1"), Limit: 10 << 20,
		RouteInf: policy.RouteInfo{Name: "test", Service: "test"},
		Values:   map[any]any{}, Extra: http.Header{},
	}
}

// Upstream returns a Next that answers like an upstream with status and body,
// recording the request it saw in *seen (when seen is non-nil).
func Upstream(status int, hdr http.Header, body string, seen **Exchange) policy.Next {
	return func(ex policy.Exchange) error {
		e := ex.(*Exchange)
		if seen != nil {
			*seen = e
		}
		if hdr == nil {
			hdr = http.Header{}
		}
		e.Resp = &Response{Code: status, Hdr: hdr.Clone(), BodyBuf: []byte(body)}
		return nil
	}
}

func (e *Exchange) Context() context.Context       { return e.Ctx }
func (e *Exchange) RequestID() string              { return e.ID }
func (e *Exchange) Now() time.Time                 { return e.At }
func (e *Exchange) Method() string                 { return e.Meth }
func (e *Exchange) Scheme() string                 { return e.Sch }
func (e *Exchange) Host() string                   { return e.HostName }
func (e *Exchange) Path() string                   { return e.URLPath }
func (e *Exchange) SetPath(p string)               { e.URLPath = p }
func (e *Exchange) RawQuery() string               { return e.Raw }
func (e *Exchange) SetRawQuery(q string)           { e.Raw = q }
func (e *Exchange) Header() policy.Header          { return Header{e.ReqHeader} }
func (e *Exchange) Params() []policy.Param         { return e.ParamList }
func (e *Exchange) ClientIP() netip.Addr           { return e.IP }
func (e *Exchange) TLS() *tls.ConnectionState      { return e.TLSState }
func (e *Exchange) SetBodyLimit(n int64)           { e.Limit = n }
func (e *Exchange) Route() *policy.RouteInfo       { return &e.RouteInf }
func (e *Exchange) Consumer() *policy.Consumer     { return e.Cons }
func (e *Exchange) SetConsumer(c *policy.Consumer) { e.Cons = c }
func (e *Exchange) Value(k any) any                { return e.Values[k] }
func (e *Exchange) SetValue(k, v any)              { e.Values[k] = v }
func (e *Exchange) AddResponseHeader(n, v string)  { e.Extra.Add(n, v) }

// AddResponseLines checks what the policy vouches for (each line's name in
// names, in order; no control bytes) and adds the headers to Extra.
func (e *Exchange) AddResponseLines(lines string, names []string) {
	i := 0
	policy.EachLine(lines, func(n, v string) {
		if i >= len(names) || names[i] != n || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			panic(fmt.Sprintf("AddResponseLines: line %d (%q: %q) does not match names %q or has control bytes", i, n, v, names))
		}
		i++
		e.Extra.Add(n, v)
	})
	if i != len(names) {
		panic(fmt.Sprintf("AddResponseLines: %d lines for names %q", i, names))
	}
}
func (e *Exchange) Scratch(n int) []byte { return make([]byte, 0, n) }

func (e *Exchange) Query(name string) string {
	q, _ := url.ParseQuery(e.Raw)
	return q.Get(name)
}

func (e *Exchange) Param(name string) string {
	for _, p := range e.ParamList {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

func (e *Exchange) ContentLength() int64 { return int64(len(e.ReqBody)) }

func (e *Exchange) Body() ([]byte, error) {
	if int64(len(e.ReqBody)) > e.Limit {
		return nil, problem.TooLarge("the request body is larger than this route allows")
	}
	return e.ReqBody, nil
}

func (e *Exchange) SetBody(b []byte) { e.ReqBody = bytes.Clone(b) }

func (e *Exchange) Respond(status int, header [][2]string, body []byte) {
	h := http.Header{}
	for _, kv := range header {
		h.Add(kv[0], kv[1])
	}
	e.Resp = &Response{Code: status, Hdr: h, BodyBuf: body}
	e.Responded = true
}

func (e *Exchange) Response() policy.Response {
	if e.Resp == nil {
		return nil
	}
	return e.Resp
}

var _ policy.Exchange = (*Exchange)(nil)
