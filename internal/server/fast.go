package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// fastExchange is the HTTP/1.1 front end's Exchange, over fasthttp. One is
// pooled per in-flight request; nothing is allocated for it per request.
type fastExchange struct {
	runtime.Base
	fastState
	// Kept with their buffers across requests (reset empties them).
	own ownHeaders         // the gateway's own request fields (fastReqHeader)
	up  upstream.HeadLines // fields added to the upstream request head
}

// fastState is the front end's own per-request state, reset in one store.
type fastState struct {
	ctx       *fasthttp.RequestCtx
	srv       *Server
	host      string
	names     headerNames   // summary of the request's header names (fastReqHeader)
	reqHeader fastReqHeader // the policy view; Header hands out its address (no allocation)
	peerText  []byte        // Peer as text, cached on the connection (nil: format it)
	upgrade   bool
	prepared  bool
	responded bool
	trusted   bool
}

var fastPool = sync.Pool{New: func() any { return &fastExchange{} }}

var _ runtime.Exchange = (*fastExchange)(nil)

func (s *Server) serveFast(ctx *fasthttp.RequestCtx) {
	x := fastPool.Get().(*fastExchange)
	x.reset(ctx, s)
	x.Start = ctx.Time() // read once by fasthttp just before this handler
	if err := x.edge(); err != nil {
		x.WriteProblem(err)
	} else {
		s.gw.Handle(x)
	}
	x.finish()
	s.gw.Done(x)
	x.ctx = nil
	fastPool.Put(x)
}

// reset readies a pooled exchange for a new request, keeping its buffers.
func (x *fastExchange) reset(ctx *fasthttp.RequestCtx, s *Server) {
	x.Base.Reset()
	x.fastState = fastState{ctx: ctx, srv: s}
	x.own.reset()
	x.up.Reset()
	x.reqHeader = fastReqHeader{&ctx.Request.Header, &x.names, &x.own}
}

// edge applies SPEC §8 to the raw request before any routing or policy.
func (x *fastExchange) edge() *problem.Error {
	h := &x.ctx.Request.Header
	t := x.srv.gw.Table()
	// One pass over the header names validates them and notes which
	// headers need work, so the common request pays for no lookups.
	seen, bad := x.scanHeaders(h, t.Limits)
	if seen&seenRequestID != 0 || bad != nil {
		if id := h.Peek("X-Request-ID"); runtime.SaneRequestID(b2s(id)) {
			x.SetRequestID(id)
		}
	}
	if x.ID == "" {
		// The gateway's id goes upstream as one of its own fields
		// (ownHeaders); a client's id it did not take is removed.
		x.NewRequestID()
		if seen&seenRequestID != 0 {
			x.reqHeader.delFast("X-Request-ID")
		}
		x.own.v[slotRequestID] = x.ID // lives in the exchange until the request ends
	}
	if ec := asEdgeConn(x.ctx.Conn()); ec != nil {
		x.Peer, x.peerText = ec.peerAddr()
	} else {
		x.Peer = addrOf(x.ctx.RemoteAddr())
	}
	x.trusted = runtime.Trusted(x.Peer, t.Trusted)
	x.Client = x.Peer
	if x.trusted {
		x.Client = runtime.ClientIP(x.Peer, x.Values("X-Forwarded-For"), t.Trusted)
	}
	if bad != nil {
		return bad
	}
	if h.ContentLength() == -1 && hasRawHeader(h.RawHeaders(), "content-length") {
		return &problem.Error{Status: 400, Detail: "a request may not carry both Content-Length and Transfer-Encoding", Close: true}
	}
	return x.cleanHeaders(h, seen)
}

func (x *fastExchange) Values(name string) []string {
	return x.Header().Values(name)
}

// seenHeaders are the flags scanHeaders sets.
type seenHeaders uint8

const (
	seenHop seenHeaders = 1 << iota
	seenIdentity
	seenConnection
	seenRequestID
)

// scanHeaders validates every header name (SPEC §8) and reports which of
// the headers the edge acts on are present.
func (x *fastExchange) scanHeaders(h *fasthttp.RequestHeader, lim runtime.Limits) (seenHeaders, *problem.Error) {
	if lim.MaxHeaders > 0 && h.Len() > lim.MaxHeaders {
		x.names = allHeaderNames
		return 0, problem.New(http.StatusRequestHeaderFieldsTooLarge, "the request has too many header fields")
	}
	var seen seenHeaders
	if h.ConnectionClose() {
		seen |= seenHop
	}
	x.names = specialHeaderNames
	if h.ContentLength() == -1 {
		// Chunked: trailer fields join the header while the body streams,
		// after this scan; every lookup asks fasthttp.
		x.names = allHeaderNames
	}
	for k := range h.All() {
		x.names |= headerBit(k)
		if !runtime.ValidHeaderName(k, lim.AllowUnderscoreHeaders) {
			x.names = allHeaderNames
			return seen, problem.BadRequest("header names may only contain letters, digits and '-'")
		}
		hop, identity := runtime.ClassifyHeader(k)
		if hop {
			seen |= seenHop
			if len(k) == len("Connection") && bytes.EqualFold(k, keyConnection) {
				seen |= seenConnection
			}
		}
		if identity {
			seen |= seenIdentity
		}
		if len(k) == len("X-Request-ID") && bytes.EqualFold(k, keyRequestID) {
			seen |= seenRequestID
		}
	}
	return seen, nil
}

// cleanHeaders drops what must not reach the upstream: headers the
// Connection header names, hop-by-hop headers and client-sent identity
// headers.
func (x *fastExchange) cleanHeaders(h *fasthttp.RequestHeader, seen seenHeaders) *problem.Error {
	if seen&seenConnection != 0 {
		conn := string(h.Peek("Connection"))
		if bad := runtime.CheckConnectionHeader(conn); bad != "" {
			return problem.BadRequest("the Connection header may not name " + bad)
		}
		x.upgrade = x.isWebSocket(h, conn)
		runtime.ConnectionTokens(conn, func(n string) bool {
			if !(x.upgrade && strings.EqualFold(n, "upgrade")) {
				h.Del(n)
			}
			return true
		})
	}
	if seen&seenHop != 0 {
		for _, n := range runtime.HopByHop {
			if x.upgrade && (n == "Connection" || n == "Upgrade") {
				continue
			}
			h.Del(n)
		}
	}
	if seen&seenIdentity != 0 {
		runtime.StripIdentityHeaders(fastReqHeader{h: h})
	}
	return nil
}

// Canonical header names for SetCanonical, which skips fasthttp's
// per-call copy and case normalisation of the name.
var (
	keyRequestID      = []byte("X-Request-Id")
	keyConnection     = []byte("Connection")
	keyForwardedFor   = []byte("X-Forwarded-For")
	keyForwardedProto = []byte("X-Forwarded-Proto")
	keyForwardedHost  = []byte("X-Forwarded-Host")
	schemeHTTP        = []byte("http")
	schemeHTTPS       = []byte("https")

	// Their bits in a request's header-name summary, worked out once.
	forwardedForName   = headerBit(keyForwardedFor)
	forwardedProtoName = headerBit(keyForwardedProto)
	forwardedHostName  = headerBit(keyForwardedHost)
)

// responseIDName is X-Request-ID as it goes to clients: fasthttp keeps the
// spelling given to SetCanonical (SPEC §4 and the README write it so).
const responseIDName = "X-Request-ID"

var (
	keyResponseID = []byte(responseIDName)
	responseIDBit = headerBit(responseIDName)
)

// stampResponse sets X-Request-ID and appends the policies' headers. It
// first notes the names the response already holds, so a header known to be
// absent is stored with SetCanonical: fasthttp's Set and Add copy, validate
// and case-normalise the name on every call, which made each RateLimit
// field cost ~500 instructions. A name that may be present takes the plain
// path, so X-Request-ID still replaces and policy headers still append.
func stampResponse(rh *fasthttp.ResponseHeader, id string, extra [][2]string, lines []runtime.Lines) {
	names := stampID(rh, id)
	runtime.EachResponseHeader(extra, lines, func(n, v string) { addResponseHeader(rh, &names, n, v) })
}

// stampID sets X-Request-ID and returns the summary of the names the
// response then holds.
func stampID(rh *fasthttp.ResponseHeader, id string) headerNames {
	names := responseNames(rh)
	if names&responseIDBit != 0 {
		rh.Set(responseIDName, id)
	} else {
		rh.SetCanonical(keyResponseID, s2b(id))
		names |= responseIDBit
	}
	return names
}

// responseNames summarises the header names a response already holds.
func responseNames(rh *fasthttp.ResponseHeader) headerNames {
	var n headerNames
	for k := range rh.All() {
		n |= headerBit(k)
	}
	return n
}

// addResponseHeader appends a policy's header (policy.Exchange's
// AddResponseHeader). When the name is certainly absent, SetCanonical
// stores it as Add would, minus the name's copy and normalisation. That
// holds for the names fasthttp keeps apart (Content-*, Connection, Server,
// Set-Cookie, Transfer-Encoding, Trailer, Date) too while they are absent;
// TestStampResponseMatchesSetAndAdd and FuzzStampResponse check it. Names
// that may be present, and names holding control bytes, go through Add.
func addResponseHeader(rh *fasthttp.ResponseHeader, names *headerNames, name, value string) {
	bit := headerBit(name)
	if len(name) == 0 || !noControlBytes(name) {
		// Add may store such a name altered (CR and LF become spaces),
		// under a bit the summary cannot know: trust it no more.
		rh.Add(name, value)
		*names = allHeaderNames
		return
	}
	if *names&bit != 0 {
		rh.Add(name, value)
		return
	}
	rh.SetCanonical(s2b(name), s2b(value))
	*names |= bit
}

// noControlBytes reports whether s is free of bytes below 0x20, eight at a
// time: the test runs on every name a policy adds to every response.
func noControlBytes(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		v := binary.LittleEndian.Uint64(s2b(s[i : i+8]))
		// Some byte is below 0x20 exactly when this is non-zero
		// (the "haszero/hasless" word test).
		if (v-0x2020202020202020)&^v&0x8080808080808080 != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] < 0x20 {
			return false
		}
	}
	return true
}

// s2b views s as bytes for a fasthttp setter that copies them.
func s2b(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// b2s views b as a string for a call that does not keep it.
func b2s(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// isWebSocket: only websocket upgrades pass (SPEC §8); any other upgrade,
// h2c included, is refused by serving the request as plain HTTP/1.1.
func (x *fastExchange) isWebSocket(h *fasthttp.RequestHeader, conn string) bool {
	if !strings.EqualFold(string(h.Peek("Upgrade")), "websocket") {
		return false
	}
	up := false
	runtime.ConnectionTokens(conn, func(n string) bool {
		up = up || strings.EqualFold(n, "upgrade")
		return !up
	})
	return up
}

func hasRawHeader(raw []byte, lowerName string) bool {
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		if c := bytes.IndexByte(line, ':'); c > 0 && strings.EqualFold(string(bytes.TrimSpace(line[:c])), lowerName) {
			return true
		}
	}
	return false
}

func addrOf(a net.Addr) netip.Addr {
	switch v := a.(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(v.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// finish stamps what every response carries, whoever produced it.
func (x *fastExchange) finish() {
	stampInjected(&x.ctx.Response.Header, x.ID, x.Extra, x.Lines, x.injector())
	x.Status = x.ctx.Response.StatusCode()
	x.Committed = true
	if n := x.ctx.Request.Header.ContentLength(); n > 0 {
		x.BytesIn = int64(n)
	}
	if n := x.ctx.Response.Header.ContentLength(); n >= 0 {
		x.BytesOut = int64(n)
	} else if !x.ctx.Response.IsBodyStream() {
		x.BytesOut = int64(len(x.ctx.Response.Body()))
	}
}

func (x *fastExchange) State() *runtime.Base { return &x.Base }
func (x *fastExchange) Context() context.Context {
	return x.ctx
}
func (x *fastExchange) Method() string { return methodString(x.ctx.Method()) }

// methodString returns the standard methods as constants (no allocation).
func methodString(m []byte) string {
	switch string(m) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPatch:
		return http.MethodPatch
	case http.MethodOptions:
		return http.MethodOptions
	}
	return string(m)
}
func (x *fastExchange) Scheme() string {
	if x.ctx.IsTLS() {
		return "https"
	}
	return "http"
}

func (x *fastExchange) Host() string {
	if x.host == "" {
		x.host = normalizeHost(string(x.ctx.Host()))
	}
	return x.host
}

func (x *fastExchange) RawPath() string {
	uri := x.ctx.Request.Header.RequestURI()
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	return string(uri)
}

func (x *fastExchange) RawQuery() string     { return string(x.ctx.URI().QueryString()) }
func (x *fastExchange) SetRawQuery(q string) { x.ctx.URI().SetQueryString(q) }
func (x *fastExchange) Query(name string) string {
	return string(x.ctx.QueryArgs().Peek(name))
}
func (x *fastExchange) Header() policy.Header { return &x.reqHeader }
func (x *fastExchange) TLS() *tls.ConnectionState {
	return x.ctx.TLSConnectionState()
}
func (x *fastExchange) ContentLength() int64 {
	n := x.ctx.Request.Header.ContentLength()
	if n < 0 {
		return -1
	}
	return int64(n)
}

// Body buffers the request body, enforcing the route's limit.
func (x *fastExchange) Body() ([]byte, error) {
	req := &x.ctx.Request
	if cl := x.ContentLength(); cl > x.Limit {
		return nil, tooLarge()
	}
	if !req.IsBodyStream() {
		b := req.Body()
		if int64(len(b)) > x.Limit {
			return nil, tooLarge()
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(req.BodyStream(), x.Limit+1))
	if err != nil {
		return nil, problem.BadRequest("the request body could not be read")
	}
	if int64(len(b)) > x.Limit {
		return nil, tooLarge()
	}
	req.SetBody(b)
	return b, nil
}

func tooLarge() *problem.Error {
	return problem.TooLarge("the request body is larger than this route allows")
}

func (x *fastExchange) SetBody(b []byte) { x.ctx.Request.SetBody(b) }

func (x *fastExchange) Respond(status int, header [][2]string, body []byte) {
	resp := &x.ctx.Response
	_ = resp.CloseBodyStream()
	resp.Reset()
	resp.SetStatusCode(status)
	for _, kv := range header {
		resp.Header.Add(kv[0], kv[1])
	}
	resp.SetBody(body)
	x.responded = true
}

func (x *fastExchange) Response() policy.Response { return fastResponse{x} }

func (x *fastExchange) WriteProblem(e *problem.Error) {
	x.Respond(e.Status, e.Headers, e.Body(x.ID))
	x.ctx.Response.Header.SetContentType(problem.ContentType)
	x.ctx.Response.Header.Set("Cache-Control", "no-store")
	if e.Close {
		x.ctx.SetConnectionClose()
	}
}

func (x *fastExchange) Replayable() bool {
	return !x.ctx.Request.IsBodyStream()
}

// prepare turns the client's request into the upstream request, in place
// (fasthttp lets us reuse it: no copy of headers or body).
func (x *fastExchange) prepare(r *runtime.Route, t *upstream.Target) error {
	req := &x.ctx.Request
	uri := req.URI()
	if !x.prepared {
		x.prepared = true
		if err := x.prepareOnce(); err != nil {
			return err
		}
	}
	// Per target (a retry goes to another). fasthttp's Request.Write takes
	// the Host header from the URI: the URI's host is what the upstream
	// sees, the client's unless the route preserves it.
	uri.DisablePathNormalizing = true
	uri.SetScheme(t.URL.Scheme)
	uri.SetPath(x.UpPath)
	if !r.PreserveHost {
		uri.SetHost(t.URL.Host)
	}
	return nil
}

// prepareOnce does what a request needs once whatever its targets: the
// body limit, and the gateway's fields, which read the client's Host
// before the URI's host becomes the target's.
func (x *fastExchange) prepareOnce() error {
	req := &x.ctx.Request
	if cl := x.ContentLength(); cl > x.Limit {
		return tooLarge()
	}
	if req.IsBodyStream() {
		req.SetBodyStream(&limitedBody{r: req.BodyStream(), left: x.Limit}, req.Header.ContentLength())
	}
	// The gateway's fields go to the upstream as lines written with the
	// head (upstream.HeadLines). A field of the same name the request
	// holds is removed first, or kept instead when a trusted proxy sent
	// it; the header-name summary rules most of them out without a lookup.
	h := &req.Header
	client := x.peerText
	var buf [64]byte
	if client == nil {
		client = x.Peer.AppendTo(buf[:0])
	}
	if x.names&forwardedForName != 0 {
		if prior := h.PeekCanonical(keyForwardedFor); len(prior) > 0 {
			if x.trusted {
				client = append(append(append([]byte(nil), prior...), ", "...), client...)
			}
			x.reqHeader.Del("X-Forwarded-For")
		}
	}
	// The client address is the gateway's text, or a trusted proxy's
	// parsed field line plus it: no line break either way.
	upstream.AddGenerated(&x.up, "X-Forwarded-For", client)
	if !x.keepForwarded(forwardedProtoName, keyForwardedProto) {
		scheme := schemeHTTP
		if x.ctx.IsTLS() {
			scheme = schemeHTTPS
		}
		upstream.AddGenerated(&x.up, "X-Forwarded-Proto", scheme)
	}
	if !x.keepForwarded(forwardedHostName, keyForwardedHost) {
		upstream.Add(&x.up, "X-Forwarded-Host", x.ctx.Host())
	}
	x.own.render(&x.up)
	return nil
}

// keepForwarded reports whether the request's own X-Forwarded-Proto or
// -Host (canonical name key, summary bit bit) goes upstream: only a trusted
// proxy's does. An untrusted client's is removed, and the gateway's own
// line replaces it.
func (x *fastExchange) keepForwarded(bit headerNames, key []byte) bool {
	if x.names&bit == 0 {
		return false
	}
	h := &x.ctx.Request.Header
	if x.trusted && len(h.PeekCanonical(key)) > 0 {
		return true
	}
	x.reqHeader.Del(b2s(key))
	return false
}

// errBodyTooLarge aborts an upstream send when a streamed body passes the limit.
var errBodyTooLarge = errors.New("request body over the route limit")

// limitedBody streams a request body and fails once it passes the limit, so
// a chunked upload cannot bypass the route's body limit.
type limitedBody struct {
	r    io.Reader
	left int64
	over bool
}

func (l *limitedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		l.over = true
		return 0, errBodyTooLarge
	}
	return n, err
}

// Forward sends the request to t with fasthttp's HostClient; the response
// (headers read, body still streaming) lands in the server's response.
func (x *fastExchange) Forward(r *runtime.Route, t *upstream.Target) (upstream.Outcome, error) {
	if err := x.prepare(r, t); err != nil {
		return upstream.OK, err
	}
	if x.upgrade {
		return x.forwardUpgrade(r, t)
	}
	err := upstream.Do(t.HTTP1(), &x.ctx.Request, &x.ctx.Response, &x.up)
	if err != nil {
		if lb, ok := x.ctx.Request.BodyStream().(*limitedBody); ok && lb.over {
			return upstream.OK, tooLarge()
		}
		o := upstream.Classify(err, 0)
		return o, upstream.ClientError(o)
	}
	rh := &x.ctx.Response.Header
	if rh.ConnectionClose() || hasHopHeader(rh) {
		if v := rh.Peek("Connection"); len(v) > 0 {
			runtime.ResponseConnectionNames(string(v), rh.Del)
		}
		for _, n := range runtime.HopByHop {
			if n != "Transfer-Encoding" {
				rh.Del(n)
			}
		}
	}
	if x.ctx.Response.StatusCode() >= 500 {
		return upstream.Status5xx, nil
	}
	return upstream.OK, nil
}

// forwardUpgrade proxies a WebSocket handshake on its own connection and,
// on 101, splices the client and upstream connections together.
func (x *fastExchange) forwardUpgrade(r *runtime.Route, t *upstream.Target) (upstream.Outcome, error) {
	connect, response := r.Pool.Timeouts()
	conn, err := dialTarget(t, connect)
	if err != nil {
		return upstream.ConnectFailed, upstream.ClientError(upstream.ConnectFailed)
	}
	_ = conn.SetDeadline(time.Now().Add(response))
	req := &x.ctx.Request
	req.Header.Set("Connection", "Upgrade")
	bw := bufio.NewWriter(x.up.Wrap(conn, false))
	if err := req.Write(bw); err != nil || bw.Flush() != nil {
		conn.Close()
		return upstream.Failed, upstream.ClientError(upstream.Failed)
	}
	br := bufio.NewReader(conn)
	resp := &x.ctx.Response
	if err := resp.Header.Read(br); err != nil {
		conn.Close()
		o := upstream.Classify(err, 0)
		return o, upstream.ClientError(o)
	}
	if resp.StatusCode() != fasthttp.StatusSwitchingProtocols {
		err := resp.ReadBody(br, 1<<20)
		conn.Close()
		if err != nil {
			return upstream.Failed, upstream.ClientError(upstream.Failed)
		}
		return upstream.OK, nil
	}
	_ = conn.SetDeadline(time.Time{})
	x.ctx.Hijack(func(client net.Conn) { splice(client, conn, br) })
	return upstream.OK, nil
}

func dialTarget(t *upstream.Target, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if t.URL.Scheme == "https" {
		return tls.DialWithDialer(d, "tcp", t.Addr(), &tls.Config{ServerName: t.URL.Hostname(), NextProtos: []string{"http/1.1"}})
	}
	return d.Dial("tcp", t.Addr())
}

// splice copies bytes both ways until either side closes.
func splice(client net.Conn, up net.Conn, upReader *bufio.Reader) {
	done := make(chan struct{}, 2)
	go func() {
		// A client that went away (or was closed by Shutdown at its
		// deadline) takes the upstream connection with it: a half-close
		// would leave a silent upstream, and the copy below, waiting.
		if _, err := io.Copy(up, client); err != nil {
			up.Close()
		} else {
			closeWrite(up)
		}
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, upReader)
		closeWrite(client)
		done <- struct{}{}
	}()
	<-done
	<-done
	up.Close()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// fastResponse is the policy view of the response being built.
type fastResponse struct{ x *fastExchange }

func (r fastResponse) Status() int     { return r.x.ctx.Response.StatusCode() }
func (r fastResponse) SetStatus(c int) { r.x.ctx.Response.SetStatusCode(c) }
func (r fastResponse) Header() policy.Header {
	return fastRespHeader{&r.x.ctx.Response.Header}
}

// Body buffers up to limit bytes; a longer body keeps streaming untouched.
func (r fastResponse) Body(limit int64) ([]byte, bool, error) {
	resp := &r.x.ctx.Response
	if !resp.IsBodyStream() {
		b := resp.Body()
		return b, int64(len(b)) <= limit, nil
	}
	if cl := resp.Header.ContentLength(); cl > 0 && int64(cl) > limit {
		return nil, false, nil
	}
	stream := resp.BodyStream()
	buf, err := io.ReadAll(io.LimitReader(stream, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(buf)) <= limit {
		_ = resp.CloseBodyStream()
		resp.SetBody(buf)
		return resp.Body(), true, nil
	}
	// Too long: put the bytes back in front of the rest of the stream. An
	// upstream body takes them back itself; replacing the response's stream
	// would close it (fasthttp closes the stream it replaces).
	if u, ok := stream.(interface{ Unread([]byte) }); ok {
		u.Unread(buf)
		return nil, false, nil
	}
	rest := &prefixedStream{r: io.MultiReader(bytes.NewReader(buf), stream), orig: stream}
	resp.SetBodyStream(rest, resp.Header.ContentLength())
	return nil, false, nil
}

func (r fastResponse) SetBody(b []byte) {
	resp := &r.x.ctx.Response
	_ = resp.CloseBodyStream()
	resp.SetBody(b)
}

type prefixedStream struct {
	r    io.Reader
	orig io.Reader
}

func (p *prefixedStream) Read(b []byte) (int, error) { return p.r.Read(b) }
func (p *prefixedStream) Close() error {
	if c, ok := p.orig.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// hasHopHeader reports whether an upstream response carries a hop-by-hop
// header we must drop (Transfer-Encoding is fasthttp's to manage).
func hasHopHeader(rh *fasthttp.ResponseHeader) bool {
	for k := range rh.All() {
		if hop, _ := runtime.ClassifyHeader(k); hop && !strings.EqualFold(string(k), "Transfer-Encoding") {
			return true
		}
	}
	return false
}
