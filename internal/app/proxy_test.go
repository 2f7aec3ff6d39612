package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// echo answers with what the upstream saw, as JSON.
func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method": r.Method, "path": r.URL.EscapedPath(), "query": r.URL.RawQuery, "host": r.Host,
		"headers": r.Header,
	})
}

type seen struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
}

func decode(t *testing.T, body string) seen {
	t.Helper()
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("upstream body %q: %v", body, err)
	}
	return s
}

func (s seen) header(name string) string {
	v := s.Headers[http.CanonicalHeaderKey(name)]
	return strings.Join(v, ",")
}

func TestMatchersThroughGateway(t *testing.T) {
	a := origin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("A")) })
	b := origin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("B")) })
	c := origin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("C")) })
	g := startGateway(t, "services:\n"+service("a", a)+service("b", b)+service("c", c)+`
routes:
  - name: exact
    service: a
    match: { paths: ["/v1/orders"], methods: [GET] }
  - name: param
    service: b
    match: { paths: ["/v1/orders/{id}"] }
  - name: subtree
    service: c
    match: { paths: ["/static/"] }
  - name: host
    service: b
    match: { hosts: ["api.example.com"], paths: ["/v1/orders"] }
  - name: wildcard
    service: c
    match: { hosts: ["*.example.org"], paths: ["/"] }
  - name: header
    service: c
    match: { paths: ["/v1/orders"], methods: [GET], headers: { X-Canary: "yes" } }
`)
	cases := []struct {
		name, path string
		hdr        []string
		status     int
		body       string
	}{
		{"exact", "/v1/orders", nil, 200, "A"},
		{"param", "/v1/orders/42", nil, 200, "B"},
		{"subtree", "/static/css/site.css", nil, 200, "C"},
		{"exact host beats any host", "/v1/orders", []string{"Host", "api.example.com"}, 200, "B"},
		{"wildcard host", "/anything", []string{"Host", "shop.example.org"}, 200, "C"},
		{"header matcher wins", "/v1/orders", []string{"X-Canary", "yes"}, 200, "C"},
		{"no route", "/nope", nil, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, g.url+tc.path, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (body %s)", resp.StatusCode, tc.status, body)
			}
			if tc.body != "" && body != tc.body {
				t.Fatalf("body %q, want %q", body, tc.body)
			}
			if resp.Header.Get("X-Request-ID") == "" {
				t.Fatal("no X-Request-ID on the response")
			}
		})
	}
}

func TestNotFoundAndMethodNotAllowedAreProblems(t *testing.T) {
	up := origin(t, echo)
	g := startGateway(t, "services:\n"+service("s", up)+`
routes:
  - name: r
    service: s
    match: { paths: ["/items"], methods: [GET, POST] }
`)
	resp, body := get(t, g.url+"/missing")
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("404: got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var p map[string]any
	_ = json.Unmarshal([]byte(body), &p)
	for _, k := range []string{"type", "title", "status", "detail", "request_id"} {
		if _, ok := p[k]; !ok {
			t.Errorf("problem body lacks %q: %s", k, body)
		}
	}
	if p["request_id"] != resp.Header.Get("X-Request-ID") {
		t.Errorf("problem request_id %v != header %s", p["request_id"], resp.Header.Get("X-Request-ID"))
	}
	req, _ := http.NewRequest(http.MethodDelete, g.url+"/items", nil)
	resp, _ = do(t, req)
	if resp.StatusCode != 405 {
		t.Fatalf("405: got %d", resp.StatusCode)
	}
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Fatalf("Allow = %q", allow)
	}
}

func TestForwardedHeadersAndHopByHop(t *testing.T) {
	up := origin(t, echo)
	g := startGateway(t, "services:\n"+service("s", up)+`
routes:
  - name: r
    service: s
    match: { paths: ["/api/"] }
    strip_prefix: /api
`)
	resp, body := get(t, g.url+"/api/users/7?x=1", "X-Request-ID", "client-id-1", "Connection", "X-Secret",
		"X-Secret", "s3cret", "Keep-Alive", "timeout=5", "X-Consumer-ID", "forged", "X-Forwarded-For", "6.6.6.6",
		"X-Forwarded-Proto", "https", "X-Forwarded-Host", "forged.example")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	s := decode(t, body)
	if s.Path != "/users/7" || s.Query != "x=1" {
		t.Errorf("upstream path %q query %q", s.Path, s.Query)
	}
	if got := s.header("X-Request-ID"); got != "client-id-1" || resp.Header.Get("X-Request-ID") != "client-id-1" {
		t.Errorf("sane client request id not kept: upstream %q, response %q", got, resp.Header.Get("X-Request-ID"))
	}
	for _, h := range []string{"X-Secret", "Keep-Alive", "X-Consumer-ID"} {
		if v := s.header(h); v != "" {
			t.Errorf("%s reached the upstream: %q", h, v)
		}
	}
	if xff := s.header("X-Forwarded-For"); xff != "127.0.0.1" {
		t.Errorf("X-Forwarded-For from an untrusted peer = %q, want 127.0.0.1", xff)
	}
	// Replaced, not joined: each arrives once, with the gateway's value.
	if s.header("X-Forwarded-Proto") != "http" || s.header("X-Forwarded-Host") != strings.TrimPrefix(g.url, "http://") {
		t.Errorf("X-Forwarded-Proto/Host from an untrusted peer kept or missing: %v", s.Headers)
	}
	// A request carrying none of them gets each once too.
	_, body = get(t, g.url+"/api/plain")
	if s := decode(t, body); s.header("X-Forwarded-For") != "127.0.0.1" || s.header("X-Forwarded-Proto") != "http" ||
		s.header("X-Forwarded-Host") != strings.TrimPrefix(g.url, "http://") || len(s.Headers["X-Request-Id"]) != 1 {
		t.Errorf("forwarding headers of a bare request: %v", s.Headers)
	}

	resp, _ = get(t, g.url+"/api/x", "Connection", "X-Request-ID")
	if resp.StatusCode != 400 {
		t.Errorf("Connection: X-Request-ID: status %d, want 400", resp.StatusCode)
	}
	resp, body = get(t, g.url+"/api/x", "X-Request-ID", "bad id with spaces")
	if id := resp.Header.Get("X-Request-ID"); id == "" || strings.Contains(id, " ") {
		t.Errorf("insane request id kept: %q (%d %s)", id, resp.StatusCode, body)
	} else if up := decode(t, body).header("X-Request-ID"); up != id {
		// One field, the gateway's: the client's is gone (a comma would
		// join two fields here).
		t.Errorf("the upstream saw X-Request-ID %q, the client %q", up, id)
	}
}

func TestUpstreamErrors(t *testing.T) {
	slow := origin(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	g := startGateway(t, `
services:
  - name: dead
    targets: ["`+deadPort(t)+`"]
    retries: 0
  - name: slow
    targets: ["`+slow+`"]
    timeouts: { connect: 1s, response: 200ms }
    retries: 0
routes:
  - name: dead
    service: dead
    match: { paths: ["/dead"] }
  - name: slow
    service: slow
    match: { paths: ["/slow"] }
`)
	resp, body := get(t, g.url+"/dead")
	if resp.StatusCode != 502 {
		t.Errorf("connect failure: %d %s", resp.StatusCode, body)
	}
	start := time.Now()
	resp, body = get(t, g.url+"/slow")
	if resp.StatusCode != 504 || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("timeout: %d after %s: %s", resp.StatusCode, time.Since(start), body)
	}
	// Enough failures eject the dead target; then no target can take requests: 503 + Retry-After.
	var last *http.Response
	for i := 0; i < 10; i++ {
		last, _ = get(t, g.url+"/dead")
	}
	if last.StatusCode != 503 || last.Header.Get("Retry-After") == "" {
		t.Errorf("after repeated failures: %d Retry-After=%q", last.StatusCode, last.Header.Get("Retry-After"))
	}
}

func TestRetriesOnlyIdempotent(t *testing.T) {
	var hits atomic.Int64
	flaky := origin(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		// Hijack and close: the request was sent but no response came back.
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
	})
	good := origin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	g := startGateway(t, `
services:
  - name: s
    targets: ["`+flaky+`", "`+good+`"]
    retries: 1
    passive: { consecutive_failures: 1000, eject_for: 1s }
routes:
  - name: r
    service: s
    match: { paths: ["/r"] }
`)
	for i := 0; i < 6; i++ {
		resp, body := get(t, g.url+"/r")
		if resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("GET %d: %d %q (retry to the good target expected)", i, resp.StatusCode, body)
		}
	}
	failedPosts := 0
	for i := 0; i < 6; i++ {
		req, _ := http.NewRequest(http.MethodPost, g.url+"/r", strings.NewReader("x"))
		resp, _ := do(t, req)
		if resp.StatusCode == 502 {
			failedPosts++
		}
	}
	if failedPosts == 0 {
		t.Fatal("a POST that reached the flaky target was retried")
	}
}

func TestRequestBodyLimit(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	g := startGateway(t, "server: { max_body_bytes: 1000 }\nservices:\n"+service("s", up)+`
routes:
  - name: r
    service: s
    match: { paths: ["/u"] }
`)
	req, _ := http.NewRequest(http.MethodPost, g.url+"/u", strings.NewReader(strings.Repeat("x", 2000)))
	resp, _ := do(t, req)
	if resp.StatusCode != 413 {
		t.Fatalf("over-limit body: %d", resp.StatusCode)
	}
	// Chunked (unknown length) bodies are counted while streaming.
	req, _ = http.NewRequest(http.MethodPost, g.url+"/u", struct{ *strings.Reader }{strings.NewReader(strings.Repeat("x", 5000))})
	req.ContentLength = -1
	resp, _ = do(t, req)
	if resp.StatusCode != 413 && resp.StatusCode != 502 {
		t.Fatalf("over-limit chunked body: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, g.url+"/u", strings.NewReader("small"))
	if resp, body := do(t, req); resp.StatusCode != 200 {
		t.Fatalf("small body: %d %s", resp.StatusCode, body)
	}
}

func TestQuickstartStyleRoute(t *testing.T) {
	up := origin(t, echo)
	g := startGateway(t, "services:\n"+service("s", up)+`
routes:
  - name: demo
    service: s
    match: { paths: ["/demo/", "/demo"] }
    strip_prefix: /demo
`)
	for path, want := range map[string]string{"/demo/hello": "/hello", "/demo": "/"} {
		resp, body := get(t, g.url+path)
		if resp.StatusCode != 200 || decode(t, body).Path != want {
			t.Errorf("%s: %d upstream path %q, want %q", path, resp.StatusCode, decode(t, body).Path, want)
		}
	}
	_ = fmt.Sprint()
}

// The fast front end keeps a request's id in memory the connection's next
// request reuses. On one keep-alive connection, every request's id is the
// same at the upstream, on the response, in a problem body and in the
// access log, and no id leaks into the next request.
func TestRequestIDsOnOneConnection(t *testing.T) {
	up := origin(t, echo)
	logPath := filepath.Join(t.TempDir(), "access.log")
	g := startGateway(t, "access_log: { enabled: true, path: "+strconv.Quote(logPath)+", fields: [request_id, status] }\n"+
		"services:\n"+service("s", up)+`
routes:
  - name: r
    service: s
    match: { paths: ["/api/"] }
`)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var want []string
	generated := map[string]bool{}
	for i := range 30 {
		path, supplied := "/api/x", ""
		switch i % 3 {
		case 1:
			supplied = fmt.Sprintf("client-%d", i)
		case 2:
			path = "/missing"
		}
		req, _ := http.NewRequest(http.MethodGet, g.url+path, nil)
		if supplied != "" {
			req.Header.Set("X-Request-ID", supplied)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-Request-ID")
		var seenID string
		if resp.StatusCode == 200 {
			seenID = decode(t, string(body)).header("X-Request-ID")
		} else {
			var p struct {
				RequestID string `json:"request_id"`
			}
			_ = json.Unmarshal(body, &p)
			seenID = p.RequestID
		}
		switch {
		case id != seenID:
			t.Fatalf("request %d: response id %q, upstream or problem body %q", i, id, seenID)
		case supplied != "" && id != supplied:
			t.Fatalf("request %d: supplied id %q came back as %q", i, supplied, id)
		case supplied == "" && (len(id) != 32 || generated[id]):
			t.Fatalf("request %d: generated id %q is malformed or repeats an earlier one", i, id)
		}
		generated[id] = true
		want = append(want, fmt.Sprintf(`{"request_id":%q,"status":%d}`, id, resp.StatusCode))
	}
	deadline := time.Now().Add(5 * time.Second) // the log is flushed every second
	for {
		b, _ := os.ReadFile(logPath)
		got := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(got) >= len(want) {
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("access log line %d: %s, want %s", i, got[i], want[i])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access log has %d lines, want %d", len(got), len(want))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestUpstreamHost: the upstream sees its own host (the target's host:port)
// unless the route says preserve_host, when it sees the client's; over
// HTTP/1.1 and h2c alike, and on a retry to another target too.
func TestUpstreamHost(t *testing.T) {
	up := origin(t, echo)
	dead := "http://" + strings.TrimPrefix(deadPort(t), "http://")
	g := startGateway(t, `
services:
  - name: s
    targets: [`+up+`]
  - name: retried
    balance: round_robin
    retries: 2
    targets: [`+dead+`, `+up+`]
routes:
  - name: own
    service: s
    match: { paths: ["/own"] }
  - name: kept
    service: s
    preserve_host: true
    match: { paths: ["/kept"] }
  - name: retry
    service: retried
    match: { paths: ["/retry"] }
`)
	upHost := strings.TrimPrefix(up, "http://")
	h2c := h2cClient()
	defer h2c.CloseIdleConnections()
	for _, c := range []struct{ path, want string }{
		{"/own", upHost},
		{"/kept", "api.example.com"},
		{"/retry", upHost},
	} {
		for range 2 { // round robin: the second /retry starts on the live target
			resp, body := get(t, g.url+c.path, "Host", "api.example.com")
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", c.path, resp.StatusCode, body)
			}
			s := decode(t, body)
			if s.Host != c.want {
				t.Errorf("HTTP/1.1 %s: upstream saw Host %q, want %q", c.path, s.Host, c.want)
			}
			if got := s.header("X-Forwarded-Host"); got != "api.example.com" {
				t.Errorf("HTTP/1.1 %s: X-Forwarded-Host %q, want the client's host", c.path, got)
			}
		}
		req, _ := http.NewRequest(http.MethodGet, g.url+c.path, nil)
		req.Host = "api.example.com"
		resp, err := h2c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := decode(t, string(body))
		if s.Host != c.want {
			t.Errorf("h2c %s: upstream saw Host %q, want %q", c.path, s.Host, c.want)
		}
		if got := s.header("X-Forwarded-Host"); got != "api.example.com" {
			t.Errorf("h2c %s: X-Forwarded-Host %q, want the client's host", c.path, got)
		}
	}
}
