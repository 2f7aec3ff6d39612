package server

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// benchStamp stamps extra on a copy of a typical upstream response head,
// b.N times (run on demand).
func benchStamp(b *testing.B, extra [][2]string) {
	var up fasthttp.Response
	up.Header.DisableNormalizing()
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 55\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\n\r\n"
	if err := up.Header.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		b.Fatal(err)
	}
	ec := &edgeConn{}
	var rh fasthttp.ResponseHeader
	b.ReportAllocs()
	for b.Loop() {
		up.Header.CopyTo(&rh)
		stampInjected(&rh, "0123456789abcdef0123456789abcdef", extra, nil, ec)
	}
}

// BenchmarkStampInjected: key_auth + rate_limit's five headers as pairs.
func BenchmarkStampInjected(b *testing.B) {
	benchStamp(b, [][2]string{
		{"RateLimit-Policy", `"default";q=1000000000;w=1`},
		{"RateLimit", `"default";r=999999999;t=1`},
		{"RateLimit-Limit", "1000000000"},
		{"RateLimit-Remaining", "999999999"},
		{"RateLimit-Reset", "1"},
	})
}

// BenchmarkStampBaseline: the same response with no policy headers.
func BenchmarkStampBaseline(b *testing.B) { benchStamp(b, nil) }
