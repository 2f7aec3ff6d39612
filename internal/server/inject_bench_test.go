package server

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkStampInjected: key_auth + rate_limit's five headers stamped on
// a typical upstream response head (run on demand).
func BenchmarkStampInjected(b *testing.B) {
	var up fasthttp.Response
	up.Header.DisableNormalizing()
	head := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 55\r\nDate: Fri, 27 Nov 2026 21:00:00 GMT\r\n\r\n"
	if err := up.Header.Read(bufio.NewReader(strings.NewReader(head))); err != nil {
		b.Fatal(err)
	}
	extra := [][2]string{
		{"RateLimit-Policy", `"default";q=1000000000;w=1`},
		{"RateLimit", `"default";r=999999999;t=1`},
		{"RateLimit-Limit", "1000000000"},
		{"RateLimit-Remaining", "999999999"},
		{"RateLimit-Reset", "1"},
	}
	ec := &edgeConn{}
	var rh fasthttp.ResponseHeader
	b.ReportAllocs()
	for b.Loop() {
		up.Header.CopyTo(&rh)
		stampInjected(&rh, "0123456789abcdef0123456789abcdef", extra, nil, ec)
	}
}

func BenchmarkStampBaseline(b *testing.B) {
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
		stampInjected(&rh, "0123456789abcdef0123456789abcdef", nil, nil, ec)
	}
}
