package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// stdExchange is the net/http front end's Exchange: HTTP/2 over TLS, h2c and
// gRPC. The upstream response is kept until the chain's response side has
// run, then written with a flush per read and trailers at the end.
type stdExchange struct {
	runtime.Base
	w        http.ResponseWriter
	r        *http.Request
	srv      *Server
	host     string
	query    url.Values
	resp     *http.Response
	status   int
	rheader  http.Header
	body     []byte // buffered response body (Respond or SetBody)
	buffered bool
	cancel   context.CancelFunc
	trusted  bool
}

var _ runtime.Exchange = (*stdExchange)(nil)

func (s *Server) serveStd(w http.ResponseWriter, r *http.Request) {
	x := &stdExchange{w: w, r: r, srv: s, rheader: http.Header{}}
	x.Start = time.Now()
	if err := x.edge(); err != nil {
		x.WriteProblem(err)
	} else {
		s.gw.Handle(x)
	}
	x.commit()
	if x.cancel != nil {
		x.cancel()
	}
	s.gw.Done(x)
}

func (x *stdExchange) edge() *problem.Error {
	h := x.r.Header
	x.ID = h.Get("X-Request-ID")
	if !runtime.SaneRequestID(x.ID) {
		x.ID = runtime.NewRequestID()
		h.Set("X-Request-ID", x.ID)
	}
	if ap, err := netip.ParseAddrPort(x.r.RemoteAddr); err == nil {
		x.Peer = ap.Addr().Unmap()
	}
	t := x.srv.gw.Table()
	x.trusted = runtime.Trusted(x.Peer, t.Trusted)
	x.Client = runtime.ClientIP(x.Peer, h.Values("X-Forwarded-For"), t.Trusted)
	if t.Limits.MaxHeaders > 0 && len(h) > t.Limits.MaxHeaders {
		return problem.New(http.StatusRequestHeaderFieldsTooLarge, "the request has too many header fields")
	}
	for k := range h {
		if !runtime.ValidHeaderName([]byte(k), t.Limits.AllowUnderscoreHeaders) {
			return problem.BadRequest("header names may only contain letters, digits and '-'")
		}
	}
	for _, v := range h.Values("Connection") {
		if bad := runtime.CheckConnectionHeader(v); bad != "" {
			return problem.BadRequest("the Connection header may not name " + bad)
		}
		runtime.ConnectionTokens(v, func(n string) bool { h.Del(n); return true })
	}
	te := h.Get("Te")
	for _, n := range runtime.HopByHop {
		h.Del(n)
	}
	if strings.EqualFold(strings.TrimSpace(te), "trailers") {
		h.Set("Te", "trailers") // gRPC needs it end to end
	}
	runtime.StripIdentityHeaders(x.Header())
	return nil
}

func (x *stdExchange) State() *runtime.Base      { return &x.Base }
func (x *stdExchange) Context() context.Context  { return x.r.Context() }
func (x *stdExchange) Method() string            { return x.r.Method }
func (x *stdExchange) RawPath() string           { return x.r.URL.EscapedPath() }
func (x *stdExchange) RawQuery() string          { return x.r.URL.RawQuery }
func (x *stdExchange) SetRawQuery(q string)      { x.r.URL.RawQuery, x.query = q, nil }
func (x *stdExchange) Header() policy.Header     { return stdHeader{x.r.Header} }
func (x *stdExchange) TLS() *tls.ConnectionState { return x.r.TLS }
func (x *stdExchange) ContentLength() int64      { return x.r.ContentLength }
func (x *stdExchange) Response() policy.Response { return stdResponse{x} }
func (x *stdExchange) Replayable() bool {
	return x.r.Body == nil || x.r.Body == http.NoBody || x.r.ContentLength == 0
}
func (x *stdExchange) Scheme() string {
	if x.r.TLS != nil {
		return "https"
	}
	return "http"
}

func (x *stdExchange) Host() string {
	if x.host == "" {
		x.host = normalizeHost(x.r.Host)
	}
	return x.host
}

func (x *stdExchange) Query(name string) string {
	if x.query == nil {
		x.query = x.r.URL.Query()
	}
	return x.query.Get(name)
}

func (x *stdExchange) Body() ([]byte, error) {
	if x.r.ContentLength > x.Limit {
		return nil, tooLarge()
	}
	if x.r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(io.LimitReader(x.r.Body, x.Limit+1))
	if err != nil {
		return nil, problem.BadRequest("the request body could not be read")
	}
	if int64(len(b)) > x.Limit {
		return nil, tooLarge()
	}
	x.SetBody(b)
	return b, nil
}

func (x *stdExchange) SetBody(b []byte) {
	x.r.Body = io.NopCloser(bytes.NewReader(b))
	x.r.ContentLength = int64(len(b))
	x.r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

func (x *stdExchange) Respond(status int, header [][2]string, body []byte) {
	x.dropUpstream()
	x.status, x.rheader, x.body, x.buffered = status, http.Header{}, body, true
	for _, kv := range header {
		x.rheader.Add(kv[0], kv[1])
	}
}

func (x *stdExchange) WriteProblem(e *problem.Error) {
	x.Respond(e.Status, e.Headers, e.Body(x.ID))
	x.rheader.Set("Content-Type", problem.ContentType)
	x.rheader.Set("Cache-Control", "no-store")
}

func (x *stdExchange) dropUpstream() {
	if x.resp != nil {
		x.resp.Body.Close()
		x.resp = nil
	}
}

// Forward sends the request upstream with the target's RoundTripper. The
// response-header timeout is enforced here so it also holds for HTTP/2
// transports, which have no such setting.
func (x *stdExchange) Forward(r *runtime.Route, t *upstream.Target) (upstream.Outcome, error) {
	out := x.outgoing(r, t)
	_, respTimeout := r.Pool.Timeouts()
	ctx, cancel := context.WithCancel(x.r.Context())
	timer := time.AfterFunc(respTimeout, cancel)
	resp, err := t.RoundTripper().RoundTrip(out.WithContext(ctx))
	fired := !timer.Stop()
	if err != nil {
		cancel()
		o := upstream.Classify(err, 0)
		if fired {
			o = upstream.Timeout
		}
		return o, upstream.ClientError(o)
	}
	x.dropUpstream()
	if x.cancel != nil {
		x.cancel()
	}
	x.resp, x.cancel, x.status, x.buffered = resp, cancel, resp.StatusCode, false
	x.rheader = resp.Header
	for _, v := range x.rheader.Values("Connection") {
		runtime.ResponseConnectionNames(v, x.rheader.Del)
	}
	for _, n := range runtime.HopByHop {
		if n != "Trailer" {
			x.rheader.Del(n)
		}
	}
	if resp.StatusCode >= 500 {
		return upstream.Status5xx, nil
	}
	return upstream.OK, nil
}

func (x *stdExchange) outgoing(r *runtime.Route, t *upstream.Target) *http.Request {
	out := x.r.Clone(x.r.Context())
	out.RequestURI = ""
	u := *t.URL
	u.Path, u.RawPath, u.RawQuery = "", x.UpPath, x.r.URL.RawQuery
	if p, err := url.PathUnescape(x.UpPath); err == nil {
		u.Path = p
	}
	out.URL = &u
	out.Host = t.URL.Host
	if r.PreserveHost {
		out.Host = x.r.Host
	}
	h := out.Header
	client := x.Peer.String()
	if prior := strings.Join(x.r.Header.Values("X-Forwarded-For"), ", "); x.trusted && prior != "" {
		client = prior + ", " + client
	}
	h.Set("X-Forwarded-For", client)
	if !x.trusted || h.Get("X-Forwarded-Proto") == "" {
		h.Set("X-Forwarded-Proto", x.Scheme())
	}
	if !x.trusted || h.Get("X-Forwarded-Host") == "" {
		h.Set("X-Forwarded-Host", x.r.Host)
	}
	if out.ContentLength == 0 && x.r.ProtoMajor == 2 && x.r.Body != nil && x.r.Body != http.NoBody {
		out.ContentLength = -1 // HTTP/2 without content-length: stream it
	}
	if out.Body != nil && out.Body != http.NoBody {
		out.Body = &stdLimitedBody{rc: out.Body, left: x.Limit}
	}
	return out
}

// commit writes the response: headers, the body with a flush per read (SSE,
// gRPC streams), then trailers.
func (x *stdExchange) commit() {
	x.Committed = true
	h := x.w.Header()
	for k, v := range x.rheader {
		h[k] = v
	}
	h.Set("X-Request-ID", x.ID)
	x.EachResponseHeader(h.Add)
	x.Status = x.status
	if x.r.ContentLength > 0 {
		x.BytesIn = x.r.ContentLength
	}
	if x.resp == nil {
		x.BytesOut = int64(len(x.body))
		if x.buffered {
			h.Set("Content-Length", itoa(len(x.body)))
		}
		x.w.WriteHeader(x.status)
		_, _ = x.w.Write(x.body)
		return
	}
	resp := x.resp
	announced := len(resp.Trailer) > 0
	if announced {
		for k := range resp.Trailer {
			h.Add("Trailer", k)
		}
	}
	x.w.WriteHeader(x.status)
	x.BytesOut = copyFlush(x.w, resp.Body)
	resp.Body.Close()
	for k, vs := range resp.Trailer {
		for _, v := range vs {
			h.Add(http.TrailerPrefix+k, v)
		}
	}
}

func copyFlush(w http.ResponseWriter, r io.Reader) (written int64) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return written
			}
			written += int64(n)
			_ = rc.Flush()
		}
		if err != nil {
			return written
		}
	}
}

type stdLimitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (l *stdLimitedBody) Read(p []byte) (int, error) {
	n, err := l.rc.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, errBodyTooLarge
	}
	return n, err
}

func (l *stdLimitedBody) Close() error { return l.rc.Close() }

// stdHeader adapts http.Header to policy.Header.
type stdHeader struct{ h http.Header }

func (a stdHeader) Get(n string) string      { return a.h.Get(n) }
func (a stdHeader) Values(n string) []string { return a.h.Values(n) }
func (a stdHeader) Set(n, v string)          { a.h.Set(n, v) }
func (a stdHeader) Add(n, v string)          { a.h.Add(n, v) }
func (a stdHeader) Del(n string)             { a.h.Del(n) }
func (a stdHeader) Range(f func(n, v string) bool) {
	for k, vs := range a.h {
		for _, v := range vs {
			if !f(k, v) {
				return
			}
		}
	}
}

type stdResponse struct{ x *stdExchange }

func (r stdResponse) Status() int           { return r.x.status }
func (r stdResponse) SetStatus(c int)       { r.x.status = c }
func (r stdResponse) Header() policy.Header { return stdHeader{r.x.rheader} }
func (r stdResponse) Body(limit int64) ([]byte, bool, error) {
	x := r.x
	if x.resp == nil {
		return x.body, int64(len(x.body)) <= limit, nil
	}
	if x.resp.ContentLength > limit {
		return nil, false, nil
	}
	buf, err := io.ReadAll(io.LimitReader(x.resp.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(buf)) > limit {
		x.resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), x.resp.Body), x.resp.Body}
		return nil, false, nil
	}
	r.SetBody(buf)
	return buf, true, nil
}

func (r stdResponse) SetBody(b []byte) {
	x := r.x
	x.dropUpstream()
	x.body, x.buffered = b, true
	x.rheader.Del("Content-Length")
}
