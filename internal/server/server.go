// Package server owns the proxy listeners. One listener serves HTTP/1.1 on
// fasthttp and HTTP/2 (prior-knowledge h2c, gRPC) on net/http + x/net/http2,
// chosen per connection from its first bytes; the TLS listener chooses by
// ALPN. Both front ends feed the same runtime.Gateway.
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/deadline"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/runtime"
)

// h2Preface is what an HTTP/2 prior-knowledge client sends first.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// Server serves the proxy listeners for one gateway.
type Server struct {
	gw  *runtime.Gateway
	log *slog.Logger
	lim config.Server
	// tiers are the HTTP/1.1 front ends, smallest read buffer first: every
	// connection starts on the first, and moves up when a request head
	// outgrows its buffer (spill.go). The last one's buffer is
	// max_header_bytes.
	tiers []frontEnd
	hs    *http.Server
	h2    *http2.Server

	mu      sync.Mutex
	lns     []net.Listener
	h2conns sync.WaitGroup
	closing chan struct{}
	served  sync.WaitGroup
	// conns are the client connections being served, closed by Shutdown
	// at its deadline.
	conns connSet
}

// New builds the front ends with the edge limits of SPEC §8.
func New(gw *runtime.Gateway, lim config.Server, log *slog.Logger) *Server {
	s := &Server{gw: gw, log: log, lim: lim, closing: make(chan struct{})}
	for _, size := range bufferTiers(lim.MaxHeaderBytes) {
		s.tiers = append(s.tiers, frontEnd{srv: s.newFast(size), feed: newConnFeed(), size: size})
	}
	s.hs = &http.Server{
		Handler:           http.HandlerFunc(s.serveStd),
		ReadHeaderTimeout: lim.ReadHeaderTimeout.D(),
		IdleTimeout:       lim.IdleTimeout.D(),
		MaxHeaderBytes:    lim.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	s.h2 = &http2.Server{
		MaxConcurrentStreams:         lim.MaxConcurrentStreams,
		IdleTimeout:                  lim.IdleTimeout.D(),
		MaxUploadBufferPerConnection: 1 << 20,
	}
	_ = http2.ConfigureServer(s.hs, s.h2)
	for _, fe := range s.tiers {
		go func() { _ = fe.srv.Serve(fe.feed) }()
	}
	return s
}

// frontEnd is one HTTP/1.1 front end: a fasthttp server with its read
// buffer size, and the feed it accepts connections from.
type frontEnd struct {
	srv  *fasthttp.Server
	feed *connFeed
	size int
}

// watchAt is the read buffer size an edgeConn on front end i watches for
// a head that overflows it (spill.go): 0 on the last front end, where such
// a head is a 431.
func (s *Server) watchAt(i int) int {
	if i == len(s.tiers)-1 {
		return 0
	}
	return s.tiers[i].size
}

// noBodyLimit is fasthttp's request body limit: none that matters (1 TiB,
// or the largest int on 32-bit platforms). Body limits are per route,
// enforced while the body streams (max_body_bytes, body_limit).
const noBodyLimit = min(1<<40, math.MaxInt)

// newFast builds an HTTP/1.1 front end whose read buffer (and so largest
// request head) is readBuffer bytes.
func (s *Server) newFast(readBuffer int) *fasthttp.Server {
	bodyTimeout := s.lim.ReadTimeout.D()
	return &fasthttp.Server{
		Handler:                       s.serveFast,
		ErrorHandler:                  s.fastError,
		Name:                          "tollgate",
		ReadBufferSize:                readBuffer,
		WriteBufferSize:               4 << 10,
		ReadTimeout:                   s.lim.ReadHeaderTimeout.D(),
		IdleTimeout:                   s.lim.IdleTimeout.D(),
		WriteTimeout:                  s.lim.WriteTimeout.D(),
		MaxRequestBodySize:            noBodyLimit,
		StreamRequestBody:             true,
		DisableHeaderNamesNormalizing: false,
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisablePreParseMultipartForm:  true,
		SecureErrorLogMessage:         true,
		CloseOnShutdown:               true,
		ConnState:                     s.fastConnState,
		// A connection holds its write buffer only while a response is
		// written, not while it waits for its next request or for the
		// upstream. With StreamRequestBody the read buffer stays (fasthttp
		// cannot release it safely), so keep-alive requests pay no extra read.
		ReduceMemoryUsage: true,
		Logger:            fastLogger{s.log},
		// The body's read timeout replaces the head's once the head is in;
		// a request without a body reads nothing more, so it keeps the
		// head's deadline and saves a clock read and a deadline move
		// (fasthttp sets the idle deadline before the next request, and
		// clears both when a WebSocket upgrade hijacks the connection).
		HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
			conf := fasthttp.RequestConfig{MaxRequestBodySize: noBodyLimit}
			if h.ContentLength() != 0 {
				conf.ReadTimeout = bodyTimeout
			}
			return conf
		},
	}
}

// spill hands a connection whose request head overflowed its front end's
// buffer to the next front end up; false when it cannot.
func (s *Server) spill(ctx *fasthttp.RequestCtx) bool {
	ec := asEdgeConn(ctx.Conn())
	if ec == nil {
		return false
	}
	for i := range len(s.tiers) - 1 {
		if s.tiers[i].size != ec.bufSize {
			continue
		}
		c := ec.spill(s.watchAt(i + 1))
		if c == nil {
			return false
		}
		if !s.tiers[i+1].feed.push(c) {
			s.drop(ec.Conn)
		}
		return true
	}
	return false
}

type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {}

// fastError renders fasthttp's own parse errors as problem responses.
func (s *Server) fastError(ctx *fasthttp.RequestCtx, err error) {
	status := http.StatusBadRequest
	detail := "the request could not be parsed"
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.As(err, &small):
		if s.spill(ctx) {
			return
		}
		status, detail = http.StatusRequestHeaderFieldsTooLarge, "the request headers are too large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, detail = http.StatusRequestEntityTooLarge, "the request body is too large"
	case isTimeout(err):
		status, detail = http.StatusRequestTimeout, "the request was not received in time"
	}
	pe := &problem.Error{Status: status, Detail: detail, Close: true}
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType(problem.ContentType)
	ctx.SetBody(pe.Body(""))
	ctx.SetConnectionClose()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Serve accepts plain-text connections on ln (HTTP/1.1 and h2c).
func (s *Server) Serve(ln net.Listener) error {
	s.track(ln)
	return s.accept(deadline.Listener(ln), s.sniff)
}

// ServeTLS accepts TLS connections on ln: ALPN h2 goes to the HTTP/2 front
// end, everything else to HTTP/1.1.
func (s *Server) ServeTLS(ln net.Listener, conf *tls.Config) error {
	conf = conf.Clone()
	conf.NextProtos = []string{"h2", "http/1.1"}
	if conf.MinVersion == 0 {
		conf.MinVersion = tls.VersionTLS12
	}
	tl := tls.NewListener(deadline.Listener(ln), conf)
	s.track(tl)
	return s.accept(tl, s.handshake)
}

func (s *Server) track(ln net.Listener) {
	s.mu.Lock()
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
}

func (s *Server) accept(ln net.Listener, handle func(net.Conn)) error {
	s.served.Add(1)
	defer s.served.Done()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.closing:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.conns.add(c)
		go handle(c)
	}
}

// sniff reads just enough of a new connection to tell h2c's preface from
// HTTP/1.1, bounded by the read-header timeout so a silent client cannot
// hold a goroutine for long.
func (s *Server) sniff(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(s.lim.ReadHeaderTimeout.D()))
	br := bufio.NewReaderSize(c, len(h2Preface))
	isH2 := true
	for n := 1; n <= len(h2Preface); n++ {
		b, err := br.Peek(n)
		if err != nil {
			if len(b) == 0 {
				s.drop(c)
				return
			}
			isH2 = false
			break
		}
		if b[n-1] != h2Preface[n-1] {
			isH2 = false
			break
		}
	}
	_ = c.SetReadDeadline(time.Time{})
	if isH2 {
		pc := &peekedConn{Conn: c, r: br}
		s.serveH2(pc)
		s.conns.remove(c)
		return
	}
	if !s.tiers[0].feed.push(newEdgeConn(c, br, s.watchAt(0))) {
		s.drop(c)
	}
}

func (s *Server) handshake(c net.Conn) {
	tc := c.(*tls.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), s.lim.ReadHeaderTimeout.D())
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		s.drop(c)
		return
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		s.serveH2(tc)
		s.conns.remove(c)
		return
	}
	if !s.tiers[0].feed.push(newEdgeConn(tc, nil, s.watchAt(0))) {
		s.drop(c)
	}
}

// drop closes a connection that will not be served.
func (s *Server) drop(c net.Conn) {
	c.Close()
	s.conns.remove(c)
}

// fastConnState keeps conns in step with the HTTP/1.1 front ends: a
// connection leaves the set when fasthttp closes it. A connection that
// spilled to the next front end up belongs to that one now (its copy on
// the front end below is detached). A hijacked connection (a WebSocket
// spliced to its upstream) stays in the set until it is closed.
func (s *Server) fastConnState(c net.Conn, state fasthttp.ConnState) {
	if state != fasthttp.StateClosed && state != fasthttp.StateHijacked {
		return // active and idle, on every request
	}
	if ec := asEdgeConn(c); ec == nil || ec.detached.Load() {
		return
	} else if state == fasthttp.StateClosed {
		s.conns.remove(ec.Conn)
	} else {
		s.conns.hijacked(ec.Conn)
	}
}

func (s *Server) serveH2(c net.Conn) {
	s.h2conns.Add(1)
	defer s.h2conns.Done()
	s.h2.ServeConn(c, &http2.ServeConnOpts{Handler: s.hs.Handler, BaseConfig: s.hs})
}

// Shutdown stops accepting, lets in-flight requests finish and closes
// connections as they go idle. When ctx ends first, it closes every client
// connection still open (requests in flight, HTTP/2 connections, spliced
// WebSockets) and returns a *DrainError.
func (s *Server) Shutdown(ctx context.Context) error {
	close(s.closing)
	s.mu.Lock()
	for _, ln := range s.lns {
		_ = ln.Close()
	}
	s.mu.Unlock()
	drained := make(chan error, 1)
	go func() {
		var wg sync.WaitGroup
		errs := make([]error, len(s.tiers)+1)
		for i, fe := range s.tiers {
			wg.Go(func() { errs[i] = fe.srv.ShutdownWithContext(ctx) })
		}
		wg.Go(func() {
			errs[len(s.tiers)] = s.hs.Shutdown(ctx) // sends GOAWAY on HTTP/2 connections
			s.h2conns.Wait()
		})
		wg.Wait()
		drained <- errors.Join(errs...)
	}()
	select {
	case err := <-drained:
		if err == nil || ctx.Err() == nil {
			s.served.Wait()
			return err
		}
	case <-ctx.Done():
	}
	return &DrainError{Closed: s.conns.closeAll(), Err: ctx.Err()}
}

// DrainError is Shutdown's answer when its deadline passed before the
// connections drained: Closed is how many it then closed.
type DrainError struct {
	Closed int
	Err    error // the context's error
}

func (e *DrainError) Error() string {
	return fmt.Sprintf("drain deadline passed: closed %d connections still open", e.Closed)
}

func (e *DrainError) Unwrap() error { return e.Err }

// connSet is the set of client connections a Server holds, as accepted
// (below fasthttp's, the spill's and HTTP/2's wrappers), so that Shutdown
// can close them at its deadline.
type connSet struct {
	mu   sync.Mutex
	open map[net.Conn]struct{}
	// hijacked are connections handed off by fasthttp. Nothing reports
	// when they close, so they are swept for closed sockets whenever
	// their number doubles.
	hijack  map[net.Conn]struct{}
	sweepAt int
	closed  bool // closeAll ran: connections added later are closed at once
}

func (cs *connSet) add(c net.Conn) {
	cs.mu.Lock()
	if cs.closed {
		cs.mu.Unlock()
		_ = closeSocket(c)
		return
	}
	if cs.open == nil {
		cs.open = make(map[net.Conn]struct{})
	}
	cs.open[c] = struct{}{}
	cs.mu.Unlock()
}

func (cs *connSet) remove(c net.Conn) {
	cs.mu.Lock()
	delete(cs.open, c)
	cs.mu.Unlock()
}

func (cs *connSet) hijacked(c net.Conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if _, ok := cs.open[c]; !ok {
		return
	}
	delete(cs.open, c)
	if cs.hijack == nil {
		cs.hijack = make(map[net.Conn]struct{})
	}
	cs.hijack[c] = struct{}{}
	if len(cs.hijack) < cs.sweepAt {
		return
	}
	for h := range cs.hijack {
		if socketClosed(h) {
			delete(cs.hijack, h)
		}
	}
	cs.sweepAt = max(64, 2*len(cs.hijack))
}

// closeAll closes every connection in the set, and any added later, and
// returns how many were still open.
func (cs *connSet) closeAll() int {
	cs.mu.Lock()
	cs.closed = true
	conns := make([]net.Conn, 0, len(cs.open)+len(cs.hijack))
	for c := range cs.open {
		conns = append(conns, c)
	}
	for c := range cs.hijack {
		conns = append(conns, c)
	}
	cs.open, cs.hijack = nil, nil
	cs.mu.Unlock()
	n := 0
	for _, c := range conns {
		if closeSocket(c) == nil {
			n++
		}
	}
	return n
}

// closeSocket closes c's socket without a TLS close_notify, which could
// block on a peer that does not read; it fails when c was closed already.
func closeSocket(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	return c.Close()
}

// socketClosed reports whether c's socket is closed.
func socketClosed(c net.Conn) bool {
	for {
		switch x := c.(type) {
		case *tls.Conn:
			c = x.NetConn()
		case *deadline.Conn:
			c = x.Conn
		case syscall.Conn:
			rc, err := x.SyscallConn()
			return err != nil || rc.Control(func(uintptr) {}) != nil
		default:
			return false
		}
	}
}

// peekedConn replays the sniffed bytes before the rest of the connection.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (p *peekedConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// connFeed is a net.Listener that hands sniffed connections to fasthttp.
type connFeed struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newConnFeed() *connFeed {
	return &connFeed{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (f *connFeed) push(c net.Conn) bool {
	select {
	case f.ch <- c:
		return true
	case <-f.done:
		return false
	}
}

func (f *connFeed) Accept() (net.Conn, error) {
	select {
	case c := <-f.ch:
		return c, nil
	case <-f.done:
		return nil, net.ErrClosed
	}
}

func (f *connFeed) Close() error {
	f.once.Do(func() { close(f.done) })
	return nil
}

func (f *connFeed) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero} }

func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	return strings.ToLower(h)
}

func itoa(n int) string { return strconv.Itoa(n) }
