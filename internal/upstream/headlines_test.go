package upstream

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// seen is what headEcho reports about a request it received.
type seen struct {
	Header http.Header
	Body   int
}

// headEcho answers every request with its header fields and body length.
func headEcho(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	_ = json.NewEncoder(w).Encode(seen{Header: r.Header, Body: int(n)})
}

// TestDoWritesHeadLines: the lines reach the upstream as header fields of
// the request whatever carries its body (none, in memory, a stream of known
// length, chunks), with a head longer than the write buffer, on a reused
// connection, over TLS (where they are copied rather than written with
// writev), and a value cannot end its line early.
func TestDoWritesHeadLines(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(headEcho))
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(headEcho))
	t.Cleanup(tlsSrv.Close)
	svcTLS := service("tls", "", tlsSrv.URL)
	svcTLS.TLSSkipVerify = true
	_, pPlain := newPool(t, service("plain", "", plain.URL))
	_, pTLS := newPool(t, svcTLS)

	big := strings.Repeat("b", 6<<10) // more than writeBufferSize
	body := strings.Repeat("x", 10<<10)
	cases := []struct {
		name  string
		setup func(req *fasthttp.Request)
		body  int
	}{
		{"no body", func(*fasthttp.Request) {}, 0},
		{"body in memory", func(req *fasthttp.Request) {
			req.Header.SetMethod("POST")
			req.SetBodyString(body)
		}, len(body)},
		{"stream of known length", func(req *fasthttp.Request) {
			req.Header.SetMethod("POST")
			req.SetBodyStream(strings.NewReader(body), len(body))
		}, len(body)},
		{"chunked stream", func(req *fasthttp.Request) {
			req.Header.SetMethod("POST")
			req.SetBodyStream(io.MultiReader(strings.NewReader(body)), -1)
		}, len(body)},
		{"head longer than the write buffer", func(req *fasthttp.Request) {
			req.Header.Set("X-Big", big)
		}, 0},
	}
	for _, p := range []*Pool{pPlain, pTLS} {
		tg := mustPick(t, p, "", nil)
		for _, tc := range cases {
			for round := range 2 { // the second on a reused connection
				t.Run(tg.URL.Scheme+"/"+tc.name, func(t *testing.T) {
					var lines HeadLines
					Add(&lines, "X-Forwarded-For", "192.0.2.1")
					Add(&lines, "X-Consumer-Id", []byte("c-1"))
					Add(&lines, "X-Consumer-Name", "evil\r\nX-Injected: 1")
					req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
					defer fasthttp.ReleaseRequest(req)
					defer fasthttp.ReleaseResponse(resp)
					req.SetRequestURI(tg.URL.String() + "/x")
					req.Header.Set("X-Client", "kept")
					tc.setup(req)
					if err := Do(tg.HTTP1(), req, resp, &lines); err != nil {
						t.Fatalf("round %d: %v", round, err)
					}
					raw := resp.Body()
					if resp.IsBodyStream() {
						var err error
						raw, err = io.ReadAll(resp.BodyStream())
						_ = resp.CloseBodyStream()
						if err != nil {
							t.Fatal(err)
						}
					}
					var got seen
					if err := json.Unmarshal(raw, &got); err != nil {
						t.Fatalf("%v: %q", err, raw)
					}
					for n, want := range map[string]string{
						"X-Forwarded-For": "192.0.2.1", "X-Consumer-Id": "c-1",
						"X-Consumer-Name": "evil  X-Injected: 1", "X-Client": "kept",
					} {
						if v := got.Header.Values(n); len(v) != 1 || v[0] != want {
							t.Errorf("%s = %q, want %q", n, v, want)
						}
					}
					if v := got.Header.Get("X-Injected"); v != "" {
						t.Errorf("a value's CR LF ended its line: X-Injected = %q", v)
					}
					if got.Body != tc.body {
						t.Errorf("upstream read %d body bytes, want %d", got.Body, tc.body)
					}
					if tc.name == "head longer than the write buffer" && got.Header.Get("X-Big") != big {
						t.Error("X-Big lost")
					}
				})
			}
		}
	}
}

// TestHeadWriterReportsBytesOfTheCaller: a short write is reported in bytes
// of what the caller wrote, never counting the lines.
func TestHeadWriterReportsBytesOfTheCaller(t *testing.T) {
	head := []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\nBODY")
	var lines HeadLines
	Add(&lines, "X-A", "1")
	for limit := 0; limit <= len(head)+lines.Len(); limit++ {
		w := &shortConn{limit: limit}
		n, err := lines.Wrap(w, false).Write(head)
		if n > len(head) || (err == nil) != (n == len(head)) {
			t.Fatalf("limit %d: n %d err %v", limit, n, err)
		}
		const at = len("GET / HTTP/1.1\r\nHost: h\r\n") // where the lines go
		want := limit
		if limit > at {
			want = max(at, limit-lines.Len())
		}
		if n != want {
			t.Errorf("limit %d: reported %d bytes, want %d", limit, n, want)
		}
	}
	// No head: the request fails rather than go without its lines.
	if _, err := lines.Wrap(&shortConn{limit: 100}, false).Write([]byte("no head here")); err == nil {
		t.Error("a write without a head end passed")
	}
}

// shortConn accepts at most limit bytes.
type shortConn struct {
	net.Conn // only Write is called
	limit    int
	got      bytes.Buffer
}

func (c *shortConn) Write(p []byte) (int, error) {
	n := min(len(p), c.limit-c.got.Len())
	c.got.Write(p[:n])
	if n < len(p) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// FuzzHeadLines: whatever the values, each Add makes exactly one line, and
// the lines land just before the blank line that ends the first head in
// the write, the rest passing through unchanged.
func FuzzHeadLines(f *testing.F) {
	f.Add("192.0.2.1", "a\r\nX-Evil: 1", "GET / HTTP/1.1\r\nHost: h\r\n\r\n", "body\r\n\r\n", true)
	f.Add("", "\x00\x7f\t", "POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\n", "abcd", false)
	f.Fuzz(func(t *testing.T, v1, v2, head, rest string, headOnly bool) {
		i := strings.Index(head, "\r\n\r\n")
		if i < 0 || strings.Contains(rest, "\r\n\r\n") && headOnly {
			t.Skip()
		}
		head = head[:i+4]
		if headOnly {
			rest = ""
		}
		var lines HeadLines
		Add(&lines, "X-One", v1)
		Add(&lines, "X-Two", []byte(v2))
		rendered := string(lines.lines)
		if strings.Count(rendered, "\r\n") != 2 || strings.Count(rendered, "\n") != 2 || strings.Count(rendered, "\r") != 2 {
			t.Fatalf("two values made more than two lines: %q", rendered)
		}
		w := &shortConn{limit: 1 << 30}
		n, err := lines.Wrap(w, headOnly).Write([]byte(head + rest))
		if err != nil || n != len(head)+len(rest) {
			t.Fatalf("Write = %d, %v", n, err)
		}
		if got, want := w.got.String(), head[:i+2]+rendered+"\r\n"+rest; got != want {
			t.Fatalf("wrote\n%q\nwant\n%q", got, want)
		}
	})
}
