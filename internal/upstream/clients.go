package upstream

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-dev/tollgate/internal/deadline"
)

const (
	// readBufferSize bounds one upstream response head; 16 KiB fits the
	// large cookie/JWT headers some upstreams send without per-read growth.
	readBufferSize = 16 << 10
	// minWriteTimeout bounds how long writing one request (head + body) to a
	// target may take; it matches the edge's whole-request read limit (SPEC §8)
	// so a slow client upload is cut by the edge, not by us first.
	// writeBufferSize holds a request head; bodies stream through it.
	writeBufferSize = 4 << 10
	minWriteTimeout = 60 * time.Second
	tcpKeepAlive    = 30 * time.Second
)

// clients are the connection pools to one target. They are shared by every
// config version whose transport settings for the target are unchanged.
type clients struct {
	http1 *fasthttp.HostClient
	rt    *http.Transport
}

func newClients(u *url.URL, ts transportSettings) *clients {
	dialer := &net.Dialer{Timeout: ts.connect, KeepAlive: tcpKeepAlive}
	return &clients{http1: newHostClient(u, ts, dialer), rt: newTransport(u, ts, dialer)}
}

// newHostClient builds the HTTP/1.1 fast-path client.
//
// ReadTimeout stays zero: fasthttp applies it to the whole response including
// a streamed body, which would cut SSE and long downloads. Instead every
// connection re-arms its read deadline on each read (idleConn): the response
// timeout bounds the wait for the response head and each silence inside a
// streamed body, never the total length of a stream. WriteTimeout bounds a
// target that stops reading our request.
func newHostClient(u *url.URL, ts transportSettings, dialer *net.Dialer) *fasthttp.HostClient {
	hc := &fasthttp.HostClient{
		Addr:     hostPort(u),
		MaxConns: ts.maxConns,
		// A burst over MaxConns waits for a free connection as long as it would
		// wait for a new one, instead of failing at once with ErrNoFreeConns.
		MaxConnWaitTimeout:            ts.connect,
		MaxIdleConnDuration:           ts.idle,
		Dial:                          idleDial(dialer, ts.response),
		WriteTimeout:                  max(ts.response, minWriteTimeout),
		ReadBufferSize:                readBufferSize,
		WriteBufferSize:               writeBufferSize,
		MaxResponseBodySize:           0, // unlimited: bodies stream through
		StreamResponseBody:            true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		NoDefaultUserAgentHeader:      true,
		Transport:                     transport{},
		// Retries are the pool's decision (RetryAllowed), never the client's.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}
	if u.Scheme == "https" {
		hc.IsTLS = true
		hc.TLSConfig = tlsConfig(u, ts, nil)
	}
	return hc
}

// newTransport builds the net/http client: h2c with prior knowledge for
// protocol h2c, HTTP/2 only for protocol h2, HTTP/2 via ALPN (falling back to
// HTTP/1.1) for other https targets, plain HTTP/1.1 otherwise. h2c uses the standard Transport's unencrypted HTTP/2
// support rather than x/net's http2.Transport because only the former honours
// ResponseHeaderTimeout, IdleConnTimeout and the connection limits.
func newTransport(u *url.URL, ts transportSettings, dialer *net.Dialer) *http.Transport {
	tr := &http.Transport{
		Proxy:                  nil, // never route upstream traffic through an environment proxy
		DialContext:            dialer.DialContext,
		MaxIdleConns:           ts.maxConns,
		MaxIdleConnsPerHost:    ts.maxConns,
		MaxConnsPerHost:        ts.maxConns,
		IdleConnTimeout:        ts.idle,
		ResponseHeaderTimeout:  ts.response,
		TLSHandshakeTimeout:    ts.connect,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true, // a proxy must pass Content-Encoding through untouched
		MaxResponseHeaderBytes: 64 << 10,
		ReadBufferSize:         readBufferSize,
		WriteBufferSize:        readBufferSize,
	}
	var protos http.Protocols
	switch {
	case ts.protocol == "h2c":
		protos.SetUnencryptedHTTP2(true)
		tr.Protocols = &protos
	case ts.protocol == "h2":
		// gRPC and other h2-only upstreams: fail loudly rather than fall back to HTTP/1.1.
		protos.SetHTTP2(true)
		tr.Protocols = &protos
		tr.TLSClientConfig = tlsConfig(u, ts, []string{"h2"})
	case u.Scheme == "https":
		tr.ForceAttemptHTTP2 = true
		tr.TLSClientConfig = tlsConfig(u, ts, []string{"h2", "http/1.1"})
	default:
		protos.SetHTTP1(true)
		tr.Protocols = &protos
	}
	return tr
}

func tlsConfig(u *url.URL, ts transportSettings, alpn []string) *tls.Config {
	return &tls.Config{
		ServerName:         u.Hostname(),
		InsecureSkipVerify: ts.tlsSkipVerify, //nolint:gosec // explicit per-service opt-in (tls_skip_verify)
		MinVersion:         tls.VersionTLS12,
		NextProtos:         alpn,
	}
}

// close drops idle connections; requests in flight keep theirs until done.
func (c *clients) close() {
	c.http1.CloseIdleConnections()
	c.rt.CloseIdleConnections()
}

// hostPort is the dial address, with the scheme's default port filled in.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// idleDial dials connections whose reads time out after idle of silence.
func idleDial(d *net.Dialer, idle time.Duration) fasthttp.DialFunc {
	return func(addr string) (net.Conn, error) {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		// fasthttp sets a write deadline per request; deadline.Conn makes
		// that cheap (and sits under TLS, where a retried write is safe).
		dc := deadline.Wrap(c)
		if idle <= 0 {
			return dc, nil
		}
		return &idleConn{Conn: dc, idle: idle}, nil
	}
}

// idleConn is a connection whose read deadline slides with each read. It
// sits on a deadline.Conn, where moving a deadline later is cheap.
type idleConn struct {
	*deadline.Conn
	idle time.Duration
	// waited: WaitReadable just returned, and the read after it keeps
	// the deadline that wait ran under (below).
	waited bool
}

// WaitReadable waits, like Read, for the response to start arriving, and
// reads none of it (transport).
func (c *idleConn) WaitReadable() error {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return err
	}
	err := c.Conn.WaitReadable()
	c.waited = err == nil
	return err
}

// Read slides the deadline, except on the read right after WaitReadable:
// that one finds the bytes the wait saw and returns at once, or (after a
// spurious wake-up) goes on with the same wait, whose deadline still
// holds. That saves a clock read and a deadline move per response.
func (c *idleConn) Read(p []byte) (int, error) {
	if c.waited {
		c.waited = false
	} else if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}
