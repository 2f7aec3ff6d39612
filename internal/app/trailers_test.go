package app_test

import (
	"io"
	"net/http"
	"testing"
)

// TestHTTP1TrailersPass: trailer fields after a chunked HTTP/1.1 response
// body reach the client (the upstream transport parses them on its own
// scratch response and hands them over when the body ends).
func TestHTTP1TrailersPass(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, " world")
		w.Header().Set("X-Checksum", "abc")
	})
	g := startGateway(t, "services:\n"+service("up", up)+`
routes:
  - name: c
    service: up
    match: { paths: ["/{rest...}"] }
`)
	resp, err := http.Get(g.url + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "hello world" {
		t.Fatalf("body %q, %v", b, err)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
		t.Fatalf("trailer X-Checksum = %q (trailers %v), want abc", got, resp.Trailer)
	}
}
