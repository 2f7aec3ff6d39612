package app_test

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPolicyOutcomeMetrics: cache hits and misses, rate-limit and quota
// refusals reach /metrics from what the policies added to the response,
// and an upstream's own X-Cache header on a route without a cache is not
// counted as the gateway's cache.
func TestPolicyOutcomeMetrics(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cache", "HIT") // a CDN-style header from the upstream
		_, _ = io.WriteString(w, "ok")
	})
	g := startGateway(t, "services:\n"+service("s", up)+`routes:
  - name: cached
    service: s
    match: { paths: ["/cached"] }
    policies: { cache: { ttl: 60s } }
  - name: limited
    service: s
    match: { paths: ["/limited"] }
    policies: { rate_limit: { limit: 1, window: 1h, by: ip } }
  - name: capped
    service: s
    match: { paths: ["/capped"] }
    policies: { quota: { limit: 1, period: day, by: ip } }
  - name: plain
    service: s
    match: { paths: ["/plain"] }
`)
	for _, c := range []struct {
		path string
		want []int
	}{
		{"/cached", []int{200, 200, 200}},
		{"/limited", []int{200, 429, 429}},
		{"/capped", []int{200, 429}},
		{"/plain", []int{200, 200}},
	} {
		for i, want := range c.want {
			if resp, _ := get(t, g.url+c.path); resp.StatusCode != want {
				t.Fatalf("%s request %d: status %d, want %d", c.path, i+1, resp.StatusCode, want)
			}
		}
	}
	_, body := get(t, "http://"+g.app.AdminAddr()+"/metrics")
	for _, want := range []string{
		`tollgate_cache_requests_total{result="miss",route="cached"} 1`,
		`tollgate_cache_requests_total{result="hit",route="cached"} 2`,
		`tollgate_limit_rejections_total{kind="rate_limit",route="limited"} 2`,
		`tollgate_limit_rejections_total{kind="quota",route="capped"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "tollgate_cache_requests_total") && strings.Contains(line, `route="plain"`) {
			t.Errorf("the upstream's X-Cache header was counted: %s", line)
		}
	}
}

// The response head on the wire: a proxied response carries X-Request-ID
// spelled as SPEC §4 writes it, with the upstream's own header names as the
// upstream sent them (the gateway's own error responses are normalised by
// fasthttp: X-Request-Id). Clients must not care, but the README shows it.
func TestProxiedResponseHeadSpelling(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header()["x-lower-case"] = []string{"kept"}
		_, _ = io.WriteString(w, "ok")
	})
	g := startGateway(t, "services:\n"+service("s", up)+`routes:
  - name: r
    service: s
    match: { paths: ["/"] }
`)
	c, err := net.Dial("tcp", strings.TrimPrefix(g.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	head, _ := io.ReadAll(c)
	for _, want := range []string{"\r\nX-Request-ID: ", "\r\nx-lower-case: kept\r\n"} {
		if !strings.Contains(string(head), want) {
			t.Errorf("response head lacks %q:\n%s", want, head)
		}
	}
}

// The upstream latency (time to response headers), measured once per
// attempt by the proxy step, reaches tollgate_upstream_duration_seconds on
// both front ends: fasthttp (HTTP/1.1) and net/http (h2c here).
func TestUpstreamLatencyOnBothFrontEnds(t *testing.T) {
	const delay = 60 * time.Millisecond
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		_, _ = io.WriteString(w, "ok")
	})
	g := startGateway(t, "services:\n"+service("s", up)+`routes:
  - name: h1
    service: s
    match: { paths: ["/h1"] }
  - name: h2
    service: s
    match: { paths: ["/h2"] }
`)
	if resp, _ := get(t, g.url+"/h1"); resp.StatusCode != 200 {
		t.Fatalf("HTTP/1.1: status %d", resp.StatusCode)
	}
	h2 := h2cClient()
	resp, err := h2.Get(g.url + "/h2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("h2c: proto %s status %d", resp.Proto, resp.StatusCode)
	}
	// Observers run after the response has gone to the client, so the
	// scrape may come before them: poll until both series are there.
	sums := map[string]float64{}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body := get(t, "http://"+g.app.AdminAddr()+"/metrics")
		for _, line := range strings.Split(body, "\n") {
			for _, route := range []string{"h1", "h2"} {
				if strings.HasPrefix(line, "tollgate_upstream_duration_seconds_sum{") && strings.Contains(line, `route="`+route+`"`) {
					f := strings.Fields(line)
					sums[route], _ = strconv.ParseFloat(f[len(f)-1], 64)
				}
			}
		}
		if len(sums) == 2 || time.Now().After(deadline) {
			break
		}
	}
	for _, route := range []string{"h1", "h2"} {
		sum, ok := sums[route]
		if !ok {
			t.Errorf("route %s: no tollgate_upstream_duration_seconds series after 5 s", route)
		} else if sum < delay.Seconds() || sum > 5 {
			t.Errorf("route %s: upstream duration sum %v s, want the upstream's %v (or a little more)", route, sum, delay)
		}
	}
}
