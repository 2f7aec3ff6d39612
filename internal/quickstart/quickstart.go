// Package quickstart is what `tollgate serve` runs with no config: a demo
// upstream inside the process and a config that routes to it, parsed through
// the normal config path so the quickstart exercises what users will run.
package quickstart

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// Upstream is the built-in demo service.
type Upstream struct {
	ln  net.Listener
	srv *http.Server
}

// StartUpstream listens on a free loopback port and serves the demo API.
func StartUpstream() (*Upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	u := &Upstream{ln: ln, srv: &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = u.srv.Serve(ln) }()
	return u, nil
}

// URL is the demo upstream's base URL.
func (u *Upstream) URL() string { return "http://" + u.ln.Addr().String() }

// Close stops the demo upstream.
func (u *Upstream) Close() error { return u.srv.Close() }

// Handler answers every request with a small JSON description of what the
// upstream received, so a newcomer sees what the gateway forwarded.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]any{
			"message":    "hello from the tollgate demo upstream",
			"method":     r.Method,
			"path":       r.URL.Path,
			"request_id": r.Header.Get("X-Request-ID"),
		}
		if c := r.Header.Get("X-Consumer-Name"); c != "" {
			out["consumer"] = c
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	})
	return mux
}

// Config returns the quickstart config document for a demo upstream at url.
func Config(url string) []byte {
	return []byte(strings.TrimSpace(fmt.Sprintf(`
# tollgate quickstart: generated because no -c flag and no ./tollgate.yaml were found.
services:
  - name: demo
    targets: [%q]
    health: { path: /healthz, interval: 10s }
routes:
  - name: demo
    service: demo
    match: { paths: ["/demo/", "/demo"] }
    strip_prefix: /demo
  - name: private
    service: demo
    match: { paths: ["/private/", "/private"] }
    strip_prefix: /private
    policies:
      key_auth: {}
consumers:
  - name: demo
`, url)) + "\n")
}

// DemoKey gives the demo consumer a key the first time the quickstart runs
// and returns its plaintext (shown once); "" when the consumer already has
// a key from an earlier run.
func DemoKey(ctx context.Context, st store.Store) (string, error) {
	keys, err := st.ListKeys(ctx, "demo")
	if err != nil {
		return "", err
	}
	for _, k := range keys {
		if k.Active(time.Now()) {
			return "", nil
		}
	}
	_, plain, err := st.CreateKey(ctx, "demo", nil)
	return plain, err
}
