package app_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// limitedRoute is the rate-limited route both tests here serve.
const limitedRoute = `routes:
  - name: limited
    service: s
    match: { paths: ["/"] }
    policies:
      rate_limit: { limit: 1000, window: 1h, by: ip }
`

// Policy headers reach the client through the connection, after the
// status line of their own response (internal/server/inject.go). These
// tests read the wire: each response of a keep-alive connection carries
// its own RateLimit fields once, pipelined requests included; a large
// body is intact behind them; the interim 100 response carries none; an
// upstream's field of the same name comes first, as with fasthttp's Add.
func TestPolicyHeadersOnTheWire(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 128<<10) // 2 MiB
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/big":
			_, _ = w.Write(big)
		case "/dup":
			w.Header().Set("RateLimit-Limit", "up")
			_, _ = w.Write([]byte("dup"))
		default:
			_, _ = w.Write([]byte("ok " + r.URL.Path))
		}
	})
	g := startGateway(t, "services:\n"+service("s", up)+limitedRoute)
	waitOK(t, g.url+"/warm")
	c, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)

	// read reads one response and checks its policy fields appear once.
	read := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s: body: %v", path, err)
		}
		for _, n := range []string{"RateLimit-Policy", "RateLimit", "RateLimit-Reset", "X-Request-Id"} {
			if v := resp.Header.Values(n); len(v) != 1 {
				t.Fatalf("%s: %s = %q, want one value\n%v", path, n, v, resp.Header)
			}
		}
		return resp, body
	}
	remaining := func(resp *http.Response) int {
		n, err := strconv.Atoi(resp.Header.Get("RateLimit-Remaining"))
		if err != nil {
			t.Fatalf("RateLimit-Remaining %q", resp.Header.Get("RateLimit-Remaining"))
		}
		return n
	}

	// Three pipelined requests in one write.
	var reqs strings.Builder
	for i := range 3 {
		fmt.Fprintf(&reqs, "GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	if _, err := io.WriteString(c, reqs.String()); err != nil {
		t.Fatal(err)
	}
	last := -1
	for i := range 3 {
		resp, body := read("pipelined")
		if want := fmt.Sprintf("ok /p%d", i); string(body) != want {
			t.Fatalf("pipelined response %d: body %q, want %q", i, body, want)
		}
		r := remaining(resp)
		if last >= 0 && r != last-1 {
			t.Fatalf("pipelined response %d: remaining %d after %d", i, r, last)
		}
		last = r
	}

	// A large body behind the fields.
	_, _ = io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := read("/big"); !bytes.Equal(body, big) {
		t.Fatalf("/big: %d bytes, want the %d sent", len(body), len(big))
	}

	// Expect: 100-continue: the interim response carries no fields.
	_, _ = io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
	var interim []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\r\n" {
			break
		}
		interim = append(interim, strings.TrimSpace(line))
	}
	if len(interim) != 1 || !strings.HasPrefix(interim[0], "HTTP/1.1 100") {
		t.Fatalf("interim response: %q", interim)
	}
	_, _ = io.WriteString(c, "hello")
	if _, body := read("/upload"); string(body) != "ok /upload" {
		t.Fatalf("/upload: %q", body)
	}

	// The upstream's own RateLimit-Limit comes first, then the gateway's.
	_, _ = io.WriteString(c, "GET /dup HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, _ := read("/dup")
	if v := resp.Header.Values("RateLimit-Limit"); len(v) != 2 || v[0] != "up" || v[1] != "1000" {
		t.Fatalf("/dup: RateLimit-Limit %q, want [up 1000]", v)
	}
}

// TestPolicyHeadersOverTLS: over TLS policy headers keep fasthttp's path
// (a TLS connection cannot take injected lines) and still arrive, once
// each, on HTTP/1.1 and HTTP/2.
func TestPolicyHeadersOverTLS(t *testing.T) {
	up := origin(t, echo)
	cert, key := writeSelfSigned(t)
	g := startGateway(t, `
tls: { cert: "`+cert+`", key: "`+key+`" }
services:
`+service("s", up)+limitedRoute)
	addr := tlsAddr(t, g)
	for _, h2 := range []bool{false, true} {
		resp, err := tlsClient(h2).Get("https://" + addr + "/x")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		for _, n := range []string{"RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if v := resp.Header.Values(n); len(v) != 1 {
				t.Fatalf("h2=%v: %s = %q, want one value", h2, n, v)
			}
		}
	}
}
