package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestCachePurgeThroughAdmin: POST /cache/purge on the admin listener, with
// the admin token, drops a route's cached responses under a path prefix,
// a whole route's, or every route's under a prefix; the next request is a
// miss again while entries outside the purge stay hits. Without the token
// the purge is refused and nothing is dropped.
func TestCachePurgeThroughAdmin(t *testing.T) {
	const adminToken = "purge-test-token"
	var mu sync.Mutex
	fetched := map[string]int{} // upstream fetches by path
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched[r.URL.Path]++
		mu.Unlock()
		_, _ = io.WriteString(w, "body of "+r.URL.Path)
	})
	// Route names and paths are this test's own: the purge registry is
	// process-wide, and a purge of every route must not reach other tests'.
	g := startGateway(t, "admin: { token: \""+adminToken+"\" }\nservices:\n"+service("s", up)+`routes:
  - name: purge-orders
    service: s
    match: { paths: ["/pt/orders/{rest...}"] }
    policies: { cache: { ttl: 60s } }
  - name: purge-users
    service: s
    match: { paths: ["/pt/users/{rest...}"] }
    policies: { cache: { ttl: 60s } }
`)
	admin := "http://" + g.app.AdminAddr()
	const ordersA1, ordersA2, ordersB1, users1 = "/pt/orders/a/1", "/pt/orders/a/2", "/pt/orders/b/1", "/pt/users/1"
	all := []string{ordersA1, ordersA2, ordersB1, users1}

	// expect asks for each path and checks X-Cache, the body, and how often
	// the upstream has been asked for it so far.
	expect := func(step, want string, fetches int, paths ...string) {
		t.Helper()
		for _, p := range paths {
			resp, body := get(t, g.url+p)
			if resp.StatusCode != http.StatusOK || body != "body of "+p {
				t.Fatalf("%s: GET %s: %d %q", step, p, resp.StatusCode, body)
			}
			if got := resp.Header.Get("X-Cache"); got != want {
				t.Fatalf("%s: GET %s: X-Cache %q, want %q", step, p, got, want)
			}
			mu.Lock()
			n := fetched[p]
			mu.Unlock()
			if n != fetches {
				t.Fatalf("%s: GET %s: upstream asked %d times, want %d", step, p, n, fetches)
			}
		}
	}
	// purge posts body to the admin API; token "" sends no Authorization.
	purge := func(token, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, admin+"/cache/purge", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, out := do(t, req)
		return resp.StatusCode, out
	}
	// purged posts an authorised purge and returns how many entries went.
	purged := func(body string) int {
		t.Helper()
		code, out := purge(adminToken, body)
		var got struct{ Purged *int }
		if code != http.StatusOK || json.Unmarshal([]byte(out), &got) != nil || got.Purged == nil {
			t.Fatalf("purge %s: %d %s", body, code, out)
		}
		return *got.Purged
	}

	expect("cold", "MISS", 1, all...)
	expect("warm", "HIT", 1, all...)

	// The admin listener has a token, so a purge must carry it.
	for _, tok := range []string{"", "wrong-token"} {
		code, out := purge(tok, `{"route": "purge-orders"}`)
		if code != http.StatusUnauthorized {
			t.Fatalf("purge with token %q: %d %s, want 401", tok, code, out)
		}
	}
	expect("after refused purges", "HIT", 1, all...)

	if code, out := purge(adminToken, `not json`); code != http.StatusBadRequest {
		t.Fatalf("purge with a bad body: %d %s, want 400", code, out)
	}

	// One route, one path prefix. Each cached path is two entries: the
	// response and its Vary index (docs/caching.md).
	if n := purged(`{"route": "purge-orders", "prefix": "/pt/orders/a/"}`); n != 4 {
		t.Fatalf("route+prefix purge dropped %d entries, want 4 (2 paths)", n)
	}
	expect("purged by prefix", "MISS", 2, ordersA1, ordersA2)
	expect("outside the prefix", "HIT", 1, ordersB1, users1)
	expect("refilled", "HIT", 2, ordersA1, ordersA2)

	// A whole route: the other route keeps its entries.
	if n := purged(`{"route": "purge-users"}`); n != 2 {
		t.Fatalf("route purge dropped %d entries, want 2 (1 path)", n)
	}
	expect("purged route", "MISS", 2, users1)
	expect("other route", "HIT", 1, ordersB1)
	expect("other route", "HIT", 2, ordersA1, ordersA2)

	// Every route under a prefix: the route is optional.
	if n := purged(`{"prefix": "/pt/orders/b/"}`); n != 2 {
		t.Fatalf("prefix purge over all routes dropped %d entries, want 2 (1 path)", n)
	}
	expect("purged by prefix on every route", "MISS", 2, ordersB1)
	expect("outside the prefix", "HIT", 2, ordersA1, ordersA2, users1)
}
