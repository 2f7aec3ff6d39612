package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestOverLimitBodyKeepsStreaming: a policy that looks at a response body
// (cache) and finds it longer than its limit must hand the whole body on,
// for a chunked and a sized body.
func TestOverLimitBodyKeepsStreaming(t *testing.T) {
	big := strings.Repeat("0123456789", 10000)
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sized" {
			w.Header().Set("Content-Length", "100000")
		}
		for i := 0; i < len(big); i += 1000 {
			_, _ = io.WriteString(w, big[i:i+1000])
			w.(http.Flusher).Flush()
		}
	})
	g := startGateway(t, "services:\n"+service("up", up)+`
routes:
  - name: c
    service: up
    match: { paths: ["/{rest...}"] }
    policies: { cache: { ttl: 60s, max_object_bytes: 100 } }
`)
	for _, p := range []string{"/chunked", "/sized"} {
		resp, err := http.Get(g.url + p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != big {
			t.Errorf("%s: got %d bytes (err %v), want %d", p, len(b), err, len(big))
		}
	}
}
