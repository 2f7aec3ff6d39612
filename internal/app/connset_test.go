package app_test

// Tests of the server's set of client connections (internal/server
// server.go, connSet), which Shutdown closes at its drain deadline. Every
// accepted connection enters the set; a path that closes one without
// taking it out of the set leaks the entry and the connection object for
// the life of the process. The set's size is read through app.ServerConns
// (export_test.go).

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/app"
)

const (
	// connSetHeaderTimeout and connSetIdleTimeout are short so that the
	// connections the server closes on its own (a silent client, a head
	// that never ends, an idle keep-alive) do so quickly.
	connSetHeaderTimeout = 500 * time.Millisecond
	connSetIdleTimeout   = time.Second
	// connSetWait bounds how long a closed connection may stay in the set.
	connSetWait = 3 * time.Second
)

// connSetGateway runs a gateway on a plain and a TLS listener, routing
// everything to an upstream that answers "ok <path>" and, for a request
// with an Upgrade header, switches protocols and echoes until the client
// half-closes.
type connSetGateway struct {
	*gateway
	addr, tls string
}

func startConnSetGateway(t *testing.T) *connSetGateway {
	t.Helper()
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if p := r.Header.Get("Upgrade"); p != "" {
			c, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + p + "\r\n\r\n")
			_ = brw.Flush()
			_, _ = io.Copy(c, brw)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok "+r.URL.Path)
	})
	cert, key := writeSelfSigned(t)
	g := startGateway(t, `
tls: { cert: "`+cert+`", key: "`+key+`" }
server: { read_header_timeout: `+connSetHeaderTimeout.String()+`, idle_timeout: `+connSetIdleTimeout.String()+` }
services:
`+service("s", up)+`
routes:
  - name: r
    service: s
    match: { paths: ["/"] }
`)
	return &connSetGateway{gateway: g, addr: g.app.ProxyAddr(), tls: tlsAddr(t, g)}
}

func (g *connSetGateway) hijacked() int {
	_, n := app.ServerConns(g.app)
	return n
}

// waitOpen waits up to connSetWait for the set to hold want open
// (non-hijacked) connections.
func (g *connSetGateway) waitOpen(t *testing.T, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(connSetWait)
	for {
		n, _ := app.ServerConns(g.app)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the server holds %d open connections after %v, want %d", what, n, connSetWait, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawConn is a client connection spoken to byte by byte.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func (g *connSetGateway) dial(t *testing.T, overTLS bool) *rawConn {
	t.Helper()
	var c net.Conn
	var err error
	if overTLS {
		c, err = tls.Dial("tcp", g.tls, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	} else {
		c, err = net.Dial("tcp", g.addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// exchange writes req and reads one response; it returns "<status> <body>".
func (c *rawConn) exchange(t *testing.T, req string) string {
	t.Helper()
	r, err := wireRequest(c, c.br, req)
	if err != nil {
		t.Fatalf("request %.60q: %v", req, err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // wireRequest's is 5 s
	return fmt.Sprintf("%d %s", r.status, r.body)
}

// serverCloses waits until the server ends the connection (EOF or reset).
func (c *rawConn) serverCloses(t *testing.T, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server did not close the connection within %v", within)
	}
}

func connSetGet(path, extra string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: a\r\n" + extra + "\r\n"
}

func connSetBig(n int) string { return "X-Big: " + strings.Repeat("b", n) + "\r\n" }

// webSocket upgrades c through the gateway, echoes one message over the
// splice and returns once the connection is spliced.
func (c *rawConn) webSocket(t *testing.T) {
	t.Helper()
	_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket handshake through the gateway: %v %v", resp, err)
	}
	_, _ = io.WriteString(c, "ping")
	got := make([]byte, 4)
	if _, err := io.ReadFull(c.br, got); err != nil || string(got) != "ping" {
		t.Fatalf("echo over the splice: %q %v", got, err)
	}
}

// closeWebSocket half-closes c, waits until the gateway ends the splice
// (the upstream saw EOF and closed), then closes c.
func (c *rawConn) closeWebSocket(t *testing.T) {
	t.Helper()
	var cw interface{ CloseWrite() error }
	switch x := c.Conn.(type) {
	case *net.TCPConn:
		cw = x
	case *tls.Conn:
		cw = x
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.serverCloses(t, 5*time.Second)
	c.Close()
}

// getHTTP2 gets each path from base over HTTP/2 and checks the answer.
func getHTTP2(t *testing.T, client *http.Client, base string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(b) != "ok "+p {
			t.Fatalf("%s: HTTP/%d %q", p, resp.ProtoMajor, b)
		}
	}
}

// TestConnSetEmptiesAfterEveryKindOfConnection opens, and closes (from the
// client side unless the name says the server closes it), connections of
// every kind the server serves, one kind at a time. After each, the set of
// open connections (Server.OpenConns: everything but hijacked
// connections) must be back to 0 within connSetWait; for a connection that
// stays open a while, it must hold exactly that one meanwhile (so that the
// test cannot pass on a set that counts nothing).
//
// A WebSocket leaves the open set when fasthttp hands it off (hijack) and
// moves to the hijacked set, which nothing empties when the WebSocket
// closes: closed ones are swept lazily, when their number doubles (at 64
// at the least; TestConnSetSweepsClosedWebSockets). Here the WebSocket
// cases check only that they leave the open set, and at the end that the
// hijacked set holds no more than the WebSockets opened.
func TestConnSetEmptiesAfterEveryKindOfConnection(t *testing.T) {
	g := startConnSetGateway(t)
	h2c, tlsH2 := h2cClient(), tlsClient(true)
	webSockets := 0

	// Each case leaves every client connection it opened closed.
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"HTTP/1.1 keep-alive", func(t *testing.T) {
			c := g.dial(t, false)
			for _, p := range []string{"/1", "/2", "/3"} {
				if got := c.exchange(t, connSetGet(p, "")); got != "200 ok "+p {
					t.Fatalf("got %q", got)
				}
			}
			g.waitOpen(t, 1, "a keep-alive connection between requests")
			c.Close()
		}},
		{"HTTP/1.1 heads spilling to the middle and the large front end", func(t *testing.T) {
			c := g.dial(t, false)
			for _, n := range []int{0, 3000, 0, 20000, 0} {
				if got := c.exchange(t, connSetGet("/big", connSetBig(n))); got != "200 ok /big" {
					t.Fatalf("head of %d bytes: got %q", n, got)
				}
			}
			g.waitOpen(t, 1, "a connection moved up to the large front end")
			c.Close()
		}},
		{"HTTP/1.1 unfinished large head, client gives up", func(t *testing.T) {
			c := g.dial(t, false)
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: "+strings.Repeat("b", 20000))
			time.Sleep(100 * time.Millisecond) // let it spill up twice
			g.waitOpen(t, 1, "a connection with an unfinished large head")
			c.Close()
		}},
		{"HTTP/1.1 head over max_header_bytes, server closes (431)", func(t *testing.T) {
			c := g.dial(t, false)
			if got := c.exchange(t, connSetGet("/", connSetBig(70000))); !strings.HasPrefix(got, "431 ") {
				t.Fatalf("got %.100q, want a 431", got)
			}
			c.serverCloses(t, 2*time.Second)
			c.Close()
		}},
		{"HTTP/1.1 malformed request, server closes (400)", func(t *testing.T) {
			c := g.dial(t, false)
			if got := c.exchange(t, "GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n"); !strings.HasPrefix(got, "400 ") {
				t.Fatalf("got %.100q, want a 400", got)
			}
			c.serverCloses(t, 2*time.Second)
			c.Close()
		}},
		{"HTTP/1.1 Connection: close, server closes", func(t *testing.T) {
			c := g.dial(t, false)
			if got := c.exchange(t, connSetGet("/bye", "Connection: close\r\n")); got != "200 ok /bye" {
				t.Fatalf("got %q", got)
			}
			c.serverCloses(t, 2*time.Second)
			c.Close()
		}},
		{"HTTP/1.1 idle keep-alive, server closes (idle_timeout)", func(t *testing.T) {
			c := g.dial(t, false)
			if got := c.exchange(t, connSetGet("/idle", "")); got != "200 ok /idle" {
				t.Fatalf("got %q", got)
			}
			c.serverCloses(t, connSetIdleTimeout+2*time.Second)
			c.Close()
		}},
		{"HTTP/1.1 head never finished, server closes (read_header_timeout)", func(t *testing.T) {
			c := g.dial(t, false)
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n")
			c.serverCloses(t, connSetHeaderTimeout+2*time.Second)
			c.Close()
		}},
		{"closed before sending anything", func(t *testing.T) {
			g.dial(t, false).Close()
		}},
		{"silent client, server closes (read_header_timeout)", func(t *testing.T) {
			c := g.dial(t, false)
			g.waitOpen(t, 1, "a connection that has sent nothing")
			c.serverCloses(t, connSetHeaderTimeout+2*time.Second)
			c.Close()
		}},
		{"part of the h2c preface, then closed", func(t *testing.T) {
			c := g.dial(t, false)
			_, _ = io.WriteString(c, "PRI * HTTP/2.0\r\n")
			time.Sleep(50 * time.Millisecond)
			c.Close()
		}},
		{"h2c prior knowledge", func(t *testing.T) {
			getHTTP2(t, h2c, "http://"+g.addr, "/1", "/2", "/3")
			g.waitOpen(t, 1, "an h2c connection between requests")
			h2c.CloseIdleConnections()
		}},
		{"TLS HTTP/1.1 keep-alive, spilling", func(t *testing.T) {
			c := g.dial(t, true)
			for _, n := range []int{0, 3000, 20000, 0} {
				if got := c.exchange(t, connSetGet("/tls", connSetBig(n))); got != "200 ok /tls" {
					t.Fatalf("head of %d bytes: got %q", n, got)
				}
			}
			g.waitOpen(t, 1, "a TLS HTTP/1.1 connection between requests")
			c.Close()
		}},
		{"TLS HTTP/1.1 malformed request, server closes (400)", func(t *testing.T) {
			c := g.dial(t, true)
			if got := c.exchange(t, "GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n"); !strings.HasPrefix(got, "400 ") {
				t.Fatalf("got %.100q, want a 400", got)
			}
			c.serverCloses(t, 2*time.Second)
			c.Close()
		}},
		{"TLS h2", func(t *testing.T) {
			getHTTP2(t, tlsH2, "https://"+g.tls, "/1", "/2")
			g.waitOpen(t, 1, "a TLS h2 connection between requests")
			tlsH2.CloseIdleConnections()
		}},
		{"TLS closed before the handshake", func(t *testing.T) {
			c, err := net.Dial("tcp", g.tls)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
		}},
		{"TLS port spoken to in clear text, server closes", func(t *testing.T) {
			c, err := net.Dial("tcp", g.tls)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			rc := &rawConn{Conn: c, br: bufio.NewReader(c)}
			_, _ = io.WriteString(c, connSetGet("/", ""))
			rc.serverCloses(t, connSetHeaderTimeout+2*time.Second)
		}},
		{"TLS handshake never started, server closes", func(t *testing.T) {
			c, err := net.Dial("tcp", g.tls)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			g.waitOpen(t, 1, "a TLS connection waiting for its handshake")
			(&rawConn{Conn: c, br: bufio.NewReader(c)}).serverCloses(t, connSetHeaderTimeout+2*time.Second)
		}},
		{"WebSocket, client closes", func(t *testing.T) {
			c := g.dial(t, false)
			c.webSocket(t)
			webSockets++
			g.waitOpen(t, 0, "a spliced WebSocket (hijacked, out of the open set)")
			c.closeWebSocket(t)
		}},
		{"WebSocket after a keep-alive request, client closes", func(t *testing.T) {
			c := g.dial(t, false)
			if got := c.exchange(t, connSetGet("/before", "")); got != "200 ok /before" {
				t.Fatalf("got %q", got)
			}
			c.webSocket(t)
			webSockets++
			c.closeWebSocket(t)
		}},
		{"WebSocket with a large head, client closes", func(t *testing.T) {
			c := g.dial(t, false)
			_, _ = io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\n"+connSetBig(10000)+"Upgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
			resp, err := http.ReadResponse(c.br, nil)
			if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("WebSocket handshake through the gateway: %v %v", resp, err)
			}
			webSockets++
			g.waitOpen(t, 0, "a spliced WebSocket that spilled to the large front end")
			c.closeWebSocket(t)
		}},
		{"TLS WebSocket, client closes", func(t *testing.T) {
			c := g.dial(t, true)
			c.webSocket(t)
			webSockets++
			g.waitOpen(t, 0, "a spliced TLS WebSocket")
			c.closeWebSocket(t)
		}},
	}
	for _, tc := range cases {
		if !t.Run(tc.name, func(t *testing.T) {
			g.waitOpen(t, 0, "left over from an earlier case")
			tc.run(t)
			g.waitOpen(t, 0, "after the client and server closed every connection")
		}) {
			return
		}
	}
	time.Sleep(50 * time.Millisecond) // a connection accepted only after its case ended
	g.waitOpen(t, 0, "after every case")
	if n := g.hijacked(); n > webSockets {
		t.Errorf("the server holds %d hijacked connections, after %d WebSockets", n, webSockets)
	}
}

// TestConnSetSweepsClosedWebSockets: a closed WebSocket stays in the
// server's hijacked set until the next sweep, which runs when the set's
// size reaches twice what the last sweep left, and at least 64 (connSet).
// After 100 WebSockets opened and closed one after another, the set must
// have been swept at least once: it holds fewer than 64 entries (without
// the sweep it would hold 100), never more than 64 on the way, and the
// open set is empty.
func TestConnSetSweepsClosedWebSockets(t *testing.T) {
	g := startConnSetGateway(t)
	peak := 0
	for i := range 100 {
		c := g.dial(t, i%2 == 1)
		c.webSocket(t)
		c.closeWebSocket(t)
		peak = max(peak, g.hijacked())
	}
	g.waitOpen(t, 0, "after 100 WebSockets")
	n := g.hijacked()
	t.Logf("hijacked set: %d entries after 100 closed WebSockets, %d at the most", n, peak)
	if n >= 64 || peak > 64 {
		t.Errorf("hijacked set: %d entries after 100 closed WebSockets, %d at the most; want fewer than 64, and at most 64", n, peak)
	}
}
