package app_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClientTimeouts: each front-end timeout (SPEC §8) ends a connection
// that stalls in the phase it governs, and none cuts a phase it does not:
// a request without a body whose upstream answers later than the head's
// timeout is answered, and its connection then serves another request.
func TestClientTimeouts(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if d, _ := time.ParseDuration(r.URL.Query().Get("sleep")); d > 0 {
			time.Sleep(d)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = w.Write([]byte("ok"))
	})
	g := startGateway(t, `
server: { read_header_timeout: 300ms, read_timeout: 700ms, idle_timeout: 500ms }
services:
`+service("s", up)+`routes:
  - name: r
    service: s
    match: { paths: ["/"] }
`)
	addr := strings.TrimPrefix(g.url, "http://")
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	roundTrip := func(t *testing.T, c net.Conn, br *bufio.Reader, path string) {
		t.Helper()
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	// closedWithin reads until the gateway closes c and checks when.
	closedWithin := func(t *testing.T, c net.Conn, from time.Time, lo, hi time.Duration) {
		t.Helper()
		_, _ = io.Copy(io.Discard, c)
		if d := time.Since(from); d < lo || d > hi {
			t.Fatalf("connection closed after %s, want between %s and %s", d.Round(time.Millisecond), lo, hi)
		}
	}

	t.Run("stalled head: read_header_timeout", func(t *testing.T) {
		c := dial(t)
		start := time.Now()
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		closedWithin(t, c, start, 250*time.Millisecond, 2*time.Second)
	})
	t.Run("stalled body: read_timeout", func(t *testing.T) {
		c := dial(t)
		start := time.Now()
		_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabcde")
		// Past the head's 300 ms: the body's own timeout governs.
		closedWithin(t, c, start, 600*time.Millisecond, 3*time.Second)
	})
	t.Run("idle keep-alive: idle_timeout", func(t *testing.T) {
		c := dial(t)
		roundTrip(t, c, bufio.NewReader(c), "/")
		closedWithin(t, c, time.Now(), 400*time.Millisecond, 2*time.Second)
	})
	t.Run("slow upstream, no body: no client timeout applies", func(t *testing.T) {
		c := dial(t)
		br := bufio.NewReader(c)
		roundTrip(t, c, br, "/?sleep=800ms")
		roundTrip(t, c, br, "/")
	})
	t.Run("slow upstream after a body: no client timeout applies", func(t *testing.T) {
		c := dial(t)
		br := bufio.NewReader(c)
		if _, err := io.WriteString(c, "POST /?sleep=900ms HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST with a slow upstream: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		roundTrip(t, c, br, "/")
	})
}
