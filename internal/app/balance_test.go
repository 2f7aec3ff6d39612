package app_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// balanceOrigins are three real upstreams that name themselves in an
// X-Origin response header. A request whose path ends in /hold reports the
// origin's name on held and blocks until release is closed, so a test can
// keep requests in flight on a target of its choosing.
type balanceOrigins struct {
	urls    []string
	names   []string
	held    chan string
	release chan struct{}
	once    sync.Once
}

func startBalanceOrigins(t *testing.T) *balanceOrigins {
	t.Helper()
	o := &balanceOrigins{names: []string{"A", "B", "C"}, held: make(chan string, 16), release: make(chan struct{})}
	for _, name := range o.names {
		o.urls = append(o.urls, origin(t, func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/hold") {
				o.held <- name
				<-o.release
			}
			w.Header().Set("X-Origin", name)
			w.Write([]byte(name))
		}))
	}
	t.Cleanup(o.unblock) // runs before the origins close
	return o
}

func (o *balanceOrigins) unblock() { o.once.Do(func() { close(o.release) }) }

// target sends one GET through the gateway and returns the origin that
// answered it.
func target(t *testing.T, c *http.Client, url string, hdr ...string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	name := resp.Header.Get("X-Origin")
	if resp.StatusCode != http.StatusOK || name == "" {
		t.Fatalf("GET %s %v: status %d, X-Origin %q", url, hdr, resp.StatusCode, name)
	}
	return name
}

// spread sends n requests and counts them per origin.
func spread(t *testing.T, c *http.Client, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		got[target(t, c, url)]++
	}
	return got
}

// within fails unless every origin got want[name] requests, give or take tol.
func within(t *testing.T, got, want map[string]int, tol int) {
	t.Helper()
	for name, w := range want {
		if g := got[name]; g < w-tol || g > w+tol {
			t.Errorf("origin %s got %d requests, want %d±%d (all: %v)", name, g, w, tol, got)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected origin %q (all: %v)", name, got)
		}
	}
}

// fromAddr is a client whose connections leave from the given loopback IP,
// so the gateway sees that peer address.
func fromAddr(t *testing.T, ip string) *http.Client {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot use %s as a source address here: %v", ip, err)
	}
	ln.Close()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// h2cFrom is fromAddr speaking HTTP/2 in clear text (the gateway's net/http
// front end rather than its fasthttp one).
func h2cFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	fromAddr(t, ip) // skips when ip cannot be a source address
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestBalancingThroughGateway runs every balance mode end to end: three real
// origins, one service per mode, requests through the proxy listener. Only
// 127.0.0.1 is a trusted proxy; 127.0.0.2 is an untrusted peer.
func TestBalancingThroughGateway(t *testing.T) {
	o := startBalanceOrigins(t)
	a, b, c := o.urls[0], o.urls[1], o.urls[2]
	svc := func(name, extra string) string { return service(name, a, b, c) + extra }
	var routes strings.Builder
	for _, name := range []string{"rr", "weighted", "lc", "hdr", "ip"} {
		fmt.Fprintf(&routes, "  - name: %[1]s\n    service: %[1]s\n    match: { paths: [\"/%[1]s/\"] }\n", name)
	}
	g := startGateway(t, `trusted_proxies: ["127.0.0.1/32"]
services:
`+svc("rr", "    balance: round_robin\n")+
		fmt.Sprintf("  - name: weighted\n    balance: weighted\n    targets: [{url: %q, weight: 1}, {url: %q, weight: 2}, {url: %q, weight: 3}]\n", a, b, c)+
		svc("lc", "    balance: least_conn\n")+
		svc("hdr", "    balance: consistent_hash\n    hash_by: \"header:X-User\"\n")+
		svc("ip", "    balance: consistent_hash\n    hash_by: client_ip\n")+
		"routes:\n"+routes.String())
	client := &http.Client{Timeout: 10 * time.Second}

	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"round_robin", func(t *testing.T) {
			// One shared cursor and sequential requests: the targets take
			// turns, so any three requests in a row reach all three.
			var seq []string
			got := map[string]int{}
			for range 300 {
				name := target(t, client, g.url+"/rr/x")
				seq = append(seq, name)
				got[name]++
			}
			within(t, got, map[string]int{"A": 100, "B": 100, "C": 100}, 3)
			for i := 2; i < len(seq); i++ {
				if seq[i] == seq[i-1] || seq[i] == seq[i-2] || seq[i-1] == seq[i-2] {
					t.Fatalf("requests %d..%d went to %v: not taking turns", i-2, i, seq[i-2:i+1])
				}
			}
		}},
		{"weighted 1:2:3", func(t *testing.T) {
			within(t, spread(t, client, g.url+"/weighted/x", 300), map[string]int{"A": 50, "B": 100, "C": 150}, 5)
		}},
		{"least_conn", func(t *testing.T) { leastConn(t, client, g.url+"/lc/", o) }},
		{"consistent_hash by header", func(t *testing.T) {
			url := g.url + "/hdr/x"
			first := map[string]string{} // X-User -> origin
			used := map[string]int{}
			// 31 users (not a multiple of 3), in a different order each
			// round, so a round robin cannot pass for stickiness.
			const users = 31
			for round := range 5 {
				for i := range users {
					u := i
					if round%2 == 1 {
						u = users - 1 - i
					}
					user := fmt.Sprintf("user-%d", u)
					got := target(t, client, url, "X-User", user)
					if round == 0 {
						first[user] = got
						used[got]++
					} else if got != first[user] {
						t.Fatalf("X-User %s went to %s, earlier to %s: not sticky", user, got, first[user])
					}
				}
			}
			if len(used) < 2 {
				t.Errorf("%d different X-User values all went to %v; the header does not spread keys", users, used)
			}
			// The header is the key, not the client: a different client
			// address with the same header lands on the same target.
			other := fromAddr(t, "127.0.0.2")
			for u := range 10 {
				user := fmt.Sprintf("user-%d", u)
				if got := target(t, other, url, "X-User", user); got != first[user] {
					t.Errorf("X-User %s from 127.0.0.2 went to %s, from 127.0.0.1 to %s", user, got, first[user])
				}
			}
			// Without the header there is no key: requests go round robin.
			if got := spread(t, client, url, 30); len(got) != 3 {
				t.Errorf("requests without X-User went to %v, want round robin over all three", got)
			}
		}},
		{"consistent_hash by client IP", func(t *testing.T) { hashByClientIP(t, g, client) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, tc.run)
	}
}

// leastConn holds requests open on chosen targets and checks that new
// requests avoid them.
func leastConn(t *testing.T, client *http.Client, base string, o *balanceOrigins) {
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	hold := func() string {
		t.Helper()
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(base + "hold")
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("held request answered %d", resp.StatusCode)
			}
		}()
		select {
		case name := <-o.held:
			return name
		case err := <-errs:
			t.Fatalf("held request: %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("the held request reached no origin in 5s")
		}
		return ""
	}
	others := func(busy ...string) map[string]int {
		m := map[string]int{}
		for _, n := range o.names {
			if !strings.Contains(strings.Join(busy, ""), n) {
				m[n] = 0
			}
		}
		return m
	}

	x := hold() // X has one request in flight, the others none
	got := spread(t, client, base+"x", 30)
	want := others(x)
	for n := range want {
		want[n] = 15 // ties among the idle two go round robin
	}
	within(t, got, want, 2)

	y := hold()
	if y == x {
		t.Fatalf("second held request went to %s, which already had one in flight", x)
	}
	got = spread(t, client, base+"x", 20)
	want = others(x, y)
	for n := range want {
		want[n] = 20
	}
	within(t, got, want, 0)

	o.unblock()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("held request: %v", err)
	}
	// Nothing in flight any more: all three take turns again.
	within(t, spread(t, client, base+"x", 30), map[string]int{"A": 10, "B": 10, "C": 10}, 2)
}

// hashByClientIP checks that the client IP, as resolved through trusted
// proxies, is the consistent_hash key.
func hashByClientIP(t *testing.T, g *gateway, client *http.Client) {
	url := g.url + "/ip/x"
	untrusted := map[string]*http.Client{"HTTP/1.1": fromAddr(t, "127.0.0.2"), "h2c": h2cFrom(t, "127.0.0.2")}

	// Each peer address without forwarding headers sticks to one target.
	for name, c := range map[string]*http.Client{"127.0.0.1": client, "127.0.0.2": untrusted["HTTP/1.1"]} {
		one := map[string]int{}
		for range 20 {
			one[target(t, c, url)]++
		}
		if len(one) != 1 {
			t.Errorf("client %s without X-Forwarded-For went to %v, want one target", name, one)
		}
	}

	// From the trusted proxy, X-Forwarded-For names the client: each
	// forwarded IP is sticky, and different IPs spread over the targets.
	ips := make([]string, 30)
	byIP := map[string]string{}
	used := map[string]int{}
	for i := range ips {
		ips[i] = fmt.Sprintf("203.0.113.%d", i+1)
		byIP[ips[i]] = target(t, client, url, "X-Forwarded-For", ips[i])
		used[byIP[ips[i]]]++
	}
	if len(used) < 2 {
		t.Fatalf("30 forwarded client IPs all went to %v: X-Forwarded-For from a trusted proxy is not the key", used)
	}
	h2c := h2cClient()
	defer h2c.Transport.(*http2.Transport).CloseIdleConnections()
	for _, ip := range ips {
		for _, xff := range []string{
			ip,                    // again
			ip + ", 127.0.0.1",    // through a second trusted hop: skipped, read right to left
			"198.51.100.9, " + ip, // a forged leftmost entry: the rightmost untrusted hop wins
		} {
			if got := target(t, client, url, "X-Forwarded-For", xff); got != byIP[ip] {
				t.Errorf("X-Forwarded-For %q went to %s, want %s (the target of client %s)", xff, got, byIP[ip], ip)
			}
		}
	}
	// The HTTP/2 (h2c) front end resolves the client the same way.
	for _, ip := range ips[:5] {
		if got := target(t, h2c, url, "X-Forwarded-For", ip); got != byIP[ip] {
			t.Errorf("over h2c, X-Forwarded-For %s went to %s, over HTTP/1.1 to %s", ip, got, byIP[ip])
		}
	}

	// From an untrusted peer X-Forwarded-For is ignored on both front ends:
	// the peer is the client, so the same 30 values all land on one target.
	for proto, c := range untrusted {
		fromUntrusted := map[string]int{}
		for _, ip := range ips {
			fromUntrusted[target(t, c, url, "X-Forwarded-For", ip)]++
		}
		if len(fromUntrusted) != 1 {
			t.Errorf("over %s, an untrusted peer's X-Forwarded-For moved its requests: %v, want one target", proto, fromUntrusted)
		}
	}
}
