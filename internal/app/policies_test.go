package app_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/app"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// keyFor creates a consumer and a key in the running gateway's store.
func keyFor(t *testing.T, g *gateway, name string) (id, key string) {
	t.Helper()
	ctx := context.Background()
	c := &store.Consumer{Name: name, Groups: []string{"staff"}}
	if err := g.app.Store().CreateConsumer(ctx, c); err != nil {
		t.Fatal(err)
	}
	_, key, err := g.app.Store().CreateKey(ctx, c.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.ID, key
}

// Issue 3: Connection-named headers and client-sent identity headers cannot
// spoof or strip identity; X-Forwarded-For from an untrusted peer does not
// change the client IP that ip_restriction sees.
func TestIdentityCannotBeSpoofed(t *testing.T) {
	up := origin(t, echo)
	g := startGateway(t, "services:\n"+service("s", up)+`
routes:
  - name: private
    service: s
    match: { paths: ["/private"] }
    policies:
      key_auth: {}
  - name: internal
    service: s
    match: { paths: ["/internal"] }
    policies:
      ip_restriction: { allow: ["10.0.0.0/8"] }
  - name: blocked
    service: s
    match: { paths: ["/blocked"] }
    policies:
      ip_restriction: { deny: ["127.0.0.1"] }
`)
	id, key := keyFor(t, g, "acme")
	waitOK(t, g.url+"/private", "X-API-Key", key)

	resp, body := get(t, g.url+"/private", "X-API-Key", key, "X-Consumer-ID", "c_forged", "X-Consumer-Name", "root")
	s := decode(t, body)
	if resp.StatusCode != 200 || s.header("X-Consumer-ID") != id || s.header("X-Consumer-Name") != "acme" {
		t.Fatalf("forged identity headers: %d, upstream saw id %q name %q", resp.StatusCode, s.header("X-Consumer-ID"), s.header("X-Consumer-Name"))
	}
	if s.header("X-API-Key") != "" {
		t.Fatal("the credential reached the upstream")
	}
	if resp, _ := get(t, g.url+"/private", "X-API-Key", key, "Connection", "X-Consumer-ID"); resp.StatusCode != 400 {
		t.Fatalf("Connection naming a gateway header: %d, want 400", resp.StatusCode)
	}
	if resp, _ := get(t, g.url+"/private", "X-API-Key", key, "Connection", "X-API-Key"); resp.StatusCode != 401 {
		t.Fatalf("Connection: X-API-Key strips the key before auth: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(t, g.url+"/private", "X-Consumer-ID", id); resp.StatusCode != 401 {
		t.Fatalf("identity header without credentials: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get(t, g.url+"/internal", "X-Forwarded-For", "10.1.2.3"); resp.StatusCode != 403 {
		t.Fatalf("X-Forwarded-For from an untrusted peer let the request in: %d", resp.StatusCode)
	}
	if resp, _ := get(t, g.url+"/blocked", "X-Forwarded-For", "192.0.2.7"); resp.StatusCode != 403 {
		t.Fatalf("X-Forwarded-For from an untrusted peer escaped a deny rule: %d", resp.StatusCode)
	}
}

// With 127.0.0.1 as a trusted proxy, X-Forwarded-For decides the client IP.
func TestTrustedProxyForwardsClientIP(t *testing.T) {
	up := origin(t, echo)
	g := startGateway(t, "trusted_proxies: [\"127.0.0.1/32\"]\nservices:\n"+service("s", up)+`
routes:
  - name: internal
    service: s
    match: { paths: ["/internal"] }
    policies:
      ip_restriction: { allow: ["10.0.0.0/8"] }
`)
	resp, body := get(t, g.url+"/internal", "X-Forwarded-For", "10.1.2.3")
	if resp.StatusCode != 200 {
		t.Fatalf("trusted proxy: %d", resp.StatusCode)
	}
	if xff := decode(t, body).header("X-Forwarded-For"); xff != "10.1.2.3, 127.0.0.1" {
		t.Fatalf("X-Forwarded-For upstream = %q", xff)
	}
}

// waitOK polls url until it answers 200 (a key created in the store
// reaches the gateway's cache through the change feed), for up to 5 s: a
// count of tries without a pause ran out in well under a second on a busy
// machine.
func waitOK(t *testing.T, url string, hdr ...string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, _ := get(t, url, hdr...); resp.StatusCode == 200 {
			return
		}
	}
	t.Fatalf("%s never answered 200 in 5 s", url)
}

func TestAdminRefusesPublicBindWithoutToken(t *testing.T) {
	up := origin(t, echo)
	dir := t.TempDir()
	doc := "listen: { proxy: \"127.0.0.1:0\", admin: \"0.0.0.0:0\", portal: \"\" }\nstore: \"sqlite://" + filepath.Join(dir, "db") + "\"\nservices:\n" +
		service("s", up) + "routes:\n  - name: r\n    service: s\n    match: { paths: [\"/\"] }\n"
	_, err := app.New(app.Options{Document: []byte(doc), Log: quietLog()})
	if err == nil || !strings.Contains(err.Error(), "token") {
		t.Fatalf("a public admin listener without a token was accepted: %v", err)
	}
}

// Issue 5 through the gateway: a versioned route picks a service per
// version, sends deprecation headers, and refuses unknown versions.
func TestVersionsThroughGateway(t *testing.T) {
	v1 := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v1 "+r.URL.Path) })
	v2 := origin(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v2 "+r.URL.Path) })
	g := startGateway(t, "services:\n"+service("orders-v1", v1)+service("orders-v2", v2)+`
routes:
  - name: orders
    match: { paths: ["/orders/"] }
    versions:
      from: header
      header: Accept-Version
      default: "2"
      list:
        "1": { service: orders-v1, deprecated: { sunset: "2099-06-01", link: "https://docs.example.com/orders-v2" } }
        "2": { service: orders-v2 }
  - name: items
    match: { paths: ["/items/"] }
    versions:
      from: path
      default: "1"
      list:
        "1": { service: orders-v1 }
        "2": { service: orders-v2 }
`)
	resp, body := get(t, g.url+"/orders/7", "Accept-Version", "1")
	if body != "v1 /orders/7" || resp.Header.Get("Deprecation") == "" || resp.Header.Get("Sunset") == "" || !strings.Contains(resp.Header.Get("Link"), "orders-v2") {
		t.Fatalf("v1: %q Deprecation=%q Sunset=%q Link=%q", body, resp.Header.Get("Deprecation"), resp.Header.Get("Sunset"), resp.Header.Get("Link"))
	}
	if _, body := get(t, g.url+"/orders/7"); body != "v2 /orders/7" {
		t.Fatalf("default version: %q", body)
	}
	resp, body = get(t, g.url+"/orders/7", "Accept-Version", "9")
	if resp.StatusCode != 400 || !strings.Contains(body, `1`) || !strings.Contains(body, `2`) {
		t.Fatalf("unknown version: %d %s", resp.StatusCode, body)
	}
	if _, body := get(t, g.url+"/v2/items/5"); body != "v2 /items/5" {
		t.Fatalf("path version: %q", body)
	}
	if _, body := get(t, g.url+"/items/5"); body != "v1 /items/5" {
		t.Fatalf("path without a version uses the default: %q", body)
	}
	if resp, _ := get(t, g.url+"/v2/nothing"); resp.StatusCode != 404 {
		t.Fatalf("a version segment before an unknown path: %d, want 404", resp.StatusCode)
	}
}

// A CORS preflight for a route that does not list OPTIONS is answered by the
// route's cors policy, and a mock route answers without any upstream.
func TestCORSPreflightAndMockThroughGateway(t *testing.T) {
	up := origin(t, echo)
	spec, _ := filepath.Abs(filepath.Join("..", "openapi", "testdata", "bookshop-3.1.yaml"))
	g := startGateway(t, "services:\n"+service("s", up)+`
routes:
  - name: api
    service: s
    match: { paths: ["/api"], methods: [GET] }
    policies:
      cors: { origins: ["https://app.example.com"], methods: [GET] }
  - name: books
    match: { paths: ["/books"], methods: [GET] }
    policies:
      mock: { spec: "`+spec+`" }
`)
	req, _ := http.NewRequest(http.MethodOptions, g.url+"/api", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "GET")
	resp, _ := do(t, req)
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body := get(t, g.url+"/books")
	if resp.StatusCode != 200 || len(strings.TrimSpace(body)) < 2 {
		t.Fatalf("mock: %d %s", resp.StatusCode, body)
	}
}
