package server

import (
	"bufio"
	"bytes"
	"net"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-dev/tollgate/internal/deadline"
	"github.com/tollgate-dev/tollgate/internal/runtime"
)

// fieldsByName parses a response head into each name's values, in order.
func fieldsByName(t *testing.T, head string) map[string][]string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "HTTP/1.1 ") {
		t.Fatalf("not a response head: %q", head)
	}
	out := map[string][]string{}
	for _, l := range lines[1:] {
		n, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("bad line %q in %q", l, head)
		}
		out[strings.ToLower(n)] = append(out[strings.ToLower(n)], v)
	}
	return out
}

// injectedHead is the head a client receives: fasthttp's head with the
// injected lines after its status line.
func injectedHead(rh *fasthttp.ResponseHeader, ec *edgeConn) string {
	h := rh.String()
	i := strings.IndexByte(h, '\n') + 1
	return h[:i] + string(ec.inject) + h[i:]
}

// checkInjectedMatchesAdd stamps extra and lines (AddResponseLines) on a
// response read from upstream (or on the gateway's own, upstream == "")
// both ways and compares what a client receives: every header as if each
// were added with Add, in the order all were added, every name's values
// in the same order. It returns the injected lines.
func checkInjectedMatchesAdd(t *testing.T, upstream string, extra [][2]string, lines []runtime.Lines) string {
	t.Helper()
	var want, got fasthttp.Response
	for _, r := range []*fasthttp.Response{&want, &got} {
		if upstream != "" {
			r.Header.DisableNormalizing()
			if err := r.Header.Read(bufio.NewReader(strings.NewReader(upstream))); err != nil {
				t.Skip()
			}
		}
	}
	want.Header.Set(responseIDName, "id")
	runtime.EachResponseHeader(extra, lines, want.Header.Add)
	ec := &edgeConn{}
	stampInjected(&got.Header, "id", extra, lines, ec)
	w, g := fieldsByName(t, want.Header.String()), fieldsByName(t, injectedHead(&got.Header, ec))
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("fields differ from Set + Add\nwant: %v\ngot:  %v\ninjected: %q", w, g, ec.inject)
	}
	return string(ec.inject)
}

// TestInjectedHeadMatchesAdd: injecting policy headers gives a client the
// fields fasthttp's Add would have, each name's values in the same order,
// and injects exactly what Add would only have appended.
func TestInjectedHeadMatchesAdd(t *testing.T) {
	rateLimit := [][2]string{{"RateLimit-Policy", `"c";q=10;w=1`}, {"RateLimit", `"c";r=9;t=1`},
		{"RateLimit-Limit", "10"}, {"RateLimit-Remaining", "9"}, {"RateLimit-Reset", "1"}}
	for _, c := range []struct {
		name     string
		upstream string
		extra    [][2]string
		injected int
	}{
		// Counts include X-Request-ID's line when the response lacks one.
		{"rate limit fields", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Up: 1\r\n\r\n", rateLimit, 6},
		{"own response", "", rateLimit, 6},
		{"no policy headers: the id alone", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", nil, 1},
		{"upstream sends some of the names", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nratelimit-policy: up\r\nRateLimit: up\r\nX-Request-ID: up\r\n\r\n",
			rateLimit, 3},
		{"a name twice", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", [][2]string{{"Vary", "Origin"}, {"X-Cache", "MISS"}, {"Vary", "Accept"}}, 3},
		{"special names, odd names and values", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			[][2]string{{"X-Plain", "v"}, {"Content-Type", "text/x"}, {"Set-Cookie", "a=b"}, {"Server", "s"}, {"Date", "d"},
				{"Connection", "close"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "0"},
				{"Content-Encoding", "gzip"}, {"Bad Name", "v"}, {"X-Line", "a\r\nb"}, {"X-Ctl", "a\x01b"}, {"X-Tab", "a\tb"}, {"", "v"}}, 2},
		{"a policy's Trailer field: fasthttp's path for all", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			[][2]string{{"X-A", "0"}, {"TrAiler", "X-A"}, {"X-B", "1"}}, 0},
		{"announced trailers: fasthttp's path for all", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n",
			[][2]string{{"X-T", "v"}, {"X-Other", "w"}}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n := strings.Count(checkInjectedMatchesAdd(t, c.upstream, c.extra, nil), "\r\n"); n != c.injected {
				t.Fatalf("%d lines injected, want %d", n, c.injected)
			}
		})
	}
}

// FuzzInjectedHead: for any upstream names and policy headers, a client
// receives what Set + Add would have sent (each name's values in order).
func FuzzInjectedHead(f *testing.F) {
	f.Add("X-Cache\nratelimit", "RateLimit\nRateLimit\nX-Cache\nVary", "v")
	f.Add("", "Content-Type\nX-Request-ID\nSet-Cookie", "a\r\nb")
	f.Add("Vary\nVARY", "vary\nDate\nTrailer", "1")
	f.Fuzz(func(t *testing.T, upstream, extra, value string) {
		var head strings.Builder
		head.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n")
		for _, n := range strings.Split(upstream, "\n") {
			if n == "" || injectName(n) == nil || strings.EqualFold(n, "content-length") {
				continue
			}
			head.WriteString(n + ": up\r\n")
		}
		head.WriteString("\r\n")
		var kvs [][2]string
		for _, n := range strings.Split(extra, "\n") {
			if strings.ContainsAny(n, "\r\n:") {
				t.Skip() // a name the head parser here cannot split back
			}
			kvs = append(kvs, [2]string{n, value})
		}
		checkInjectedMatchesAdd(t, head.String(), kvs, nil)
	})
}

// TestWriteInjected: the connection writes the pending lines after the
// status line of the next write, reports the bytes of that write, and
// writes the one after it untouched.
func TestWriteInjected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(got)
			return
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(c)
		got <- b.Bytes()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ec := newEdgeConn(deadline.Wrap(raw), nil, 0).(*edgeConn)
	ec.setInject([]byte("RateLimit: x\r\n"))
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	if n, err := ec.Write(head); n != len(head) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(head))
	}
	if n, err := ec.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n")); n != 27 || err != nil {
		t.Fatalf("second Write = %d, %v", n, err)
	}
	// The line buffer stays with the connection, unless a large header
	// made it grow past maxInjectBuf.
	if cap(ec.injectBuf) == 0 {
		t.Fatal("the line buffer was not kept for the next response")
	}
	large := append(make([]byte, 0, maxInjectBuf+1), "X-Big: "+strings.Repeat("b", maxInjectBuf)+"\r\n"...)
	ec.setInject(large)
	if _, err := ec.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if ec.injectBuf != nil {
		t.Fatalf("a %d-byte line buffer was kept", cap(large))
	}
	raw.Close()
	want := "HTTP/1.1 200 OK\r\nRateLimit: x\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\nX-Big: " + strings.Repeat("b", maxInjectBuf) + "\r\n\r\n"
	if b := <-got; string(b) != want {
		t.Fatalf("wire:\n%q\nwant:\n%q", b, want)
	}
}

// TestInjectNameCache: the cache answers by content, whatever the
// address: a name rewritten in place, at the same address, is checked anew.
func TestInjectNameCache(t *testing.T) {
	buf := []byte("X-Good")
	name := unsafe.String(&buf[0], len(buf))
	if injectName(name) == nil {
		t.Fatal("X-Good refused")
	}
	copy(buf, "Server") // same address and length, a name fasthttp manages
	if injectName(name) != nil {
		t.Fatal("the cache answered for the old bytes")
	}
	copy(buf, "X G:ok")
	if injectName(name) != nil {
		t.Fatal("a name that is not a token was taken")
	}
	for _, n := range []string{"RateLimit", "x-cache", "Date", "DATE", "set-cookie", "Trailer", "content-length", "X-Quota-Remaining"} {
		want := !fastSpecial(n)
		for range 2 { // first from the check, then from the cache
			if got := injectName(n) != nil; got != want {
				t.Fatalf("injectName(%q) != nil = %v, want %v", n, got, want)
			}
		}
	}
}

func TestInjectedLines(t *testing.T) {
	route := runtime.Lines{Text: "RateLimit-Policy: \"r\";q=10;w=1\r\nRateLimit: \"r\";r=9;t=1\r\nRateLimit-Limit: 10\r\n",
		Names: []string{"RateLimit-Policy", "RateLimit", "RateLimit-Limit"}}
	plan := runtime.Lines{Text: "RateLimit-Policy: \"p\";q=5;w=60\r\nRateLimit: \"p\";r=4;t=60\r\n",
		Names: []string{"RateLimit-Policy", "RateLimit"}}
	up := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	upLimit := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nRateLimit-Limit: up\r\n\r\n"
	for _, c := range []struct {
		name     string
		upstream string
		extra    [][2]string
		lines    []runtime.Lines
		injected string // the lines that go to the wire whole
	}{
		{"one block", up, nil, []runtime.Lines{route}, route.Text},
		{"a route and a plan limit: the second block's names are taken", up, nil,
			[]runtime.Lines{route, withAt(plan, 0)}, route.Text},
		{"the upstream sends one of the names: the block goes through Add", upLimit, nil, []runtime.Lines{route}, ""},
		{"pairs before and after the block keep their order", up,
			[][2]string{{"RateLimit", "before"}, {"X-Quota-Remaining", "3"}}, []runtime.Lines{withAt(route, 1)},
			"RateLimit: before\r\nX-Quota-Remaining: 3\r\n"},
		{"a pair after the block with one of its names", up,
			[][2]string{{"X-Cache", "HIT"}, {"RateLimit", "after"}}, []runtime.Lines{withAt(route, 1)},
			"X-Cache: HIT\r\n" + route.Text},
		{"the gateway's own response", "", nil, []runtime.Lines{route}, route.Text},
	} {
		t.Run(c.name, func(t *testing.T) {
			// X-Request-ID comes first whenever the response lacks one.
			want := "X-Request-ID: id\r\n" + c.injected
			if got := checkInjectedMatchesAdd(t, c.upstream, c.extra, c.lines); got != want {
				t.Fatalf("injected %q, want %q", got, want)
			}
		})
	}
	// No injector (TLS) or trailers: every header through fasthttp, in order.
	var rh fasthttp.ResponseHeader
	stampInjected(&rh, "id", [][2]string{{"RateLimit", "first"}}, []runtime.Lines{withAt(route, 1)}, nil)
	if got := fieldsByName(t, rh.String())["ratelimit"]; len(got) != 2 || got[0] != "first" || got[1] != `"r";r=9;t=1` {
		t.Fatalf("without an injector: RateLimit %q", got)
	}
}

func withAt(l runtime.Lines, at int) runtime.Lines { l.At = at; return l }
