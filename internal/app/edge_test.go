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

// raw sends bytes on a fresh connection and returns the status line and
// whether the server closed the connection afterwards.
func raw(t *testing.T, addr, req string) (status string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading response to %q: %v", req, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err = br.ReadByte()
	return resp.Status, err == io.EOF
}

func edgeGateway(t *testing.T) *gateway {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "reached") })
	return startGateway(t, "services:\n"+service("s", up)+`
routes:
  - name: r
    service: s
    match: { paths: ["/"] }
`)
}

func TestEdgeProbesHTTP1(t *testing.T) {
	g := edgeGateway(t)
	addr := strings.TrimPrefix(g.url, "http://")
	many := ""
	for i := 0; i < 120; i++ {
		many += "X-H" + itoa(int64(i)) + ": v\r\n"
	}
	cases := []struct {
		name, req, status string
		mustClose         bool
	}{
		{"CL and TE together", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400", true},
		{"underscore header", "GET / HTTP/1.1\r\nHost: a\r\nX_Consumer_ID: x\r\n\r\n", "400", false},
		{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + many + "\r\n", "431", false},
		{"encoded slash", "GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n", "400", false},
		{"encoded dot segment", "GET /a/%2e%2e/b HTTP/1.1\r\nHost: a\r\n\r\n", "400", false},
		{"backslash", "GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n", "400", false},
		{"NUL", "GET /a%00b HTTP/1.1\r\nHost: a\r\n\r\n", "400", false},
		{"Connection names Host", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Host\r\n\r\n", "400", false},
		{"h2c upgrade is served as HTTP/1.1", "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", "200", false},
		{"plain request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "200", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, closed := raw(t, addr, tc.req)
			if !strings.HasPrefix(status, tc.status) {
				t.Fatalf("status %q, want %s", status, tc.status)
			}
			if tc.mustClose && !closed {
				t.Fatal("connection left open after a smuggling attempt")
			}
		})
	}
}

func TestEdgeProbesHTTP2(t *testing.T) {
	g := edgeGateway(t)
	client := h2cClient()
	cases := []struct {
		name, path string
		hdr        map[string]string
		status     int
	}{
		{"plain", "/ok", nil, 200},
		{"underscore header", "/ok", map[string]string{"X_Consumer_ID": "x"}, 400},
		{"encoded slash", "/a%2Fb", nil, 400},
		{"forged consumer header is dropped", "/ok", map[string]string{"X-Consumer-ID": "forged"}, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, g.url+tc.path, nil)
			for k, v := range tc.hdr {
				req.Header[k] = []string{v}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
