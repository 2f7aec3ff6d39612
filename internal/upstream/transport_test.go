package upstream

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// rawUpstream answers each request with the raw bytes script returns for
// its path (closing the connection after them when close is true), and
// counts the connections it accepted.
type rawUpstream struct {
	url   string
	conns atomic.Int32
}

func newRawUpstream(t *testing.T, script func(path string) (raw string, close bool)) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	u := &rawUpstream{url: "http://" + ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					raw, closeAfter := script(req.URL.Path)
					if _, err := io.WriteString(c, raw); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return u
}

// fetch does one request through the target's HTTP/1.1 client and returns
// the body and whether it came as a stream.
func fetch(t *testing.T, tg *Target, method, path string) (string, bool) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI(tg.URL.String() + path)
	if err := tg.HTTP1().DoTimeout(req, resp, 5*time.Second); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if !resp.IsBodyStream() {
		return string(resp.Body()), false
	}
	b, err := io.ReadAll(resp.BodyStream())
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	_ = resp.CloseBodyStream()
	return string(b), true
}

// doStream does one request through the target's HTTP/1.1 client and
// returns the response, its body still to be read; it is released when the
// test ends.
func doStream(t *testing.T, tg *Target, path string) *fasthttp.Response {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	t.Cleanup(func() { fasthttp.ReleaseRequest(req); fasthttp.ReleaseResponse(resp) })
	req.SetRequestURI(tg.URL.String() + path)
	if err := tg.HTTP1().Do(req, resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestTransportFraming: every way a response can be framed comes through
// whole, a body that arrived with the head is handed over in memory (its
// connection is free before the response is written on), and a connection
// is reused exactly when the response allows it.
func TestTransportFraming(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	tests := []struct {
		name, method, raw string
		close             bool
		want              string
		stream, reuse     bool
	}{
		{"sized, arrived whole", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, "hello", false, true},
		{"empty sized body", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, "", false, true},
		{"sized, longer than a read", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + long, false, long, true, true},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false, "hello world", true, true},
		{"until close", "GET", "HTTP/1.1 200 OK\r\n\r\nhello", true, "hello", true, false},
		{"connection: close", "GET", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true, "ok", false, false},
		{"HTTP/1.0", "GET", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", true, "ok", false, false},
		{"interim 100 then 200", "GET", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, "ok", false, true},
		{"204", "GET", "HTTP/1.1 204 No Content\r\n\r\n", false, "", false, true},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false, "", false, true},
		{"HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", false, "", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t, func(string) (string, bool) { return tc.raw, tc.close })
			_, p := newPool(t, service("c", "", up.url))
			for i := range 2 {
				body, stream := fetch(t, p.targets[0], tc.method, "/")
				if body != tc.want || stream != tc.stream {
					t.Fatalf("request %d: body %d bytes %.20q, streamed %v; want %d bytes %.20q, streamed %v",
						i+1, len(body), body, stream, len(tc.want), tc.want, tc.stream)
				}
			}
			want := int32(2)
			if tc.reuse {
				want = 1
			}
			if got := up.conns.Load(); got != want {
				t.Fatalf("two requests used %d connections, want %d", got, want)
			}
		})
	}
}

// TestTransportUnfinishedBodyClosesConnection: a streamed body closed
// before its end leaves the connection in the middle of a response, so it
// must not go back to the pool.
func TestTransportUnfinishedBodyClosesConnection(t *testing.T) {
	long := strings.Repeat("x", 100_000)
	up := newRawUpstream(t, func(path string) (string, bool) {
		if path == "/long" {
			return "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + long, false
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	_, p := newPool(t, service("c", "", up.url))
	tg := p.targets[0]
	resp := doStream(t, tg, "/long")
	if _, err := io.ReadFull(resp.BodyStream(), make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	_ = resp.CloseBodyStream()
	if body, _ := fetch(t, tg, "GET", "/short"); body != "ok" {
		t.Fatalf("next request got %q", body)
	}
	if got := up.conns.Load(); got != 2 {
		t.Fatalf("%d connections; the half-read one must not be reused", got)
	}
}

// TestTransportCloseEndsBlockedRead: closing a body while another goroutine
// is blocked reading it ends that read (the connection is closed) instead
// of waiting for the upstream.
func TestTransportCloseEndsBlockedRead(t *testing.T) {
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = http.ReadRequest(bufio.NewReader(c))
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
		<-stall
	}()
	_, p := newPool(t, service("c", "", "http://"+ln.Addr().String()))
	resp := doStream(t, p.targets[0], "/")
	stream := resp.BodyStream()
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, stream)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // the reader is now blocked on the stalled upstream
	closed := make(chan struct{})
	go func() { _ = resp.CloseBodyStream(); close(closed) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the blocked read ended without an error")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the blocked read did not end when the body was closed")
	}
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("CloseBodyStream did not return")
	}
}

// TestTransportWaitHonoursResponseTimeout: an upstream that never answers
// is cut at the response timeout while the request waits for the head
// (WaitReadable), and the error classifies as a timeout (504).
func TestTransportWaitHonoursResponseTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		<-hold
	}()
	svc := service("c", "", "http://"+ln.Addr().String())
	svc.Timeouts.Response = dur(200 * time.Millisecond)
	_, p := newPool(t, svc)
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(p.targets[0].URL.String() + "/")
	start := time.Now()
	err = p.targets[0].HTTP1().Do(req, resp)
	if took := time.Since(start); err == nil || took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("err %v after %v; want a timeout after ~200ms", err, took)
	}
	if o := Classify(err, 0); o != Timeout {
		t.Fatalf("classified %v as %v, want Timeout", err, o)
	}
	if errors.Is(err, io.EOF) {
		t.Fatal("timeout reported as EOF")
	}
}

// FuzzTransportResponses sends arbitrary bytes back as a response through
// the transport: it must never panic or hang, and a body it hands over
// must end (the upstream closes a connection 100 ms after its last
// write). A second request follows on the same client, so a connection
// the transport pooled after the first one is used again.
func FuzzTransportResponses(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-A\r\n\r\n5\r\nhello\r\n0\r\nX-A: 1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"garbage",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var n atomic.Int32
		hc := &fasthttp.HostClient{
			Addr: "fuzz",
			Dial: func(string) (net.Conn, error) {
				c, s := net.Pipe()
				first := n.Add(1) == 1
				go func() {
					defer s.Close()
					br := bufio.NewReader(s)
					for i := 0; ; i++ {
						_ = s.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
						if _, err := http.ReadRequest(br); err != nil {
							return
						}
						out := "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
						if first && i == 0 {
							out = raw
						}
						if _, err := io.WriteString(s, out); err != nil {
							return
						}
					}
				}()
				return c, nil
			},
			Transport:                 transport{},
			StreamResponseBody:        true,
			ReadBufferSize:            4096,
			MaxIdemponentCallAttempts: 1,
		}
		for range 2 {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://fuzz/")
			if err := hc.DoTimeout(req, resp, 2*time.Second); err == nil && resp.IsBodyStream() {
				done := make(chan struct{})
				go func() { _, _ = io.Copy(io.Discard, resp.BodyStream()); close(done) }()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Fatalf("the body of %q never ended", raw)
				}
				_ = resp.CloseBodyStream()
			}
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	})
}
