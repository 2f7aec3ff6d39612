package server

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"
	"unsafe"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/runtime"
)

// scanned parses a raw request and runs the edge's header scan on it.
func scanned(t testing.TB, raw string) *fastExchange {
	t.Helper()
	x := &fastExchange{}
	x.reset(&fasthttp.RequestCtx{}, nil)
	// The head only: the server streams bodies, so a chunked body (and its
	// trailer) is still unread when the edge scans.
	if err := x.ctx.Request.Header.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Skipf("fasthttp refuses the request: %v", err)
	}
	x.scanHeaders(&x.ctx.Request.Header, runtime.Limits{AllowUnderscoreHeaders: true})
	return x
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}, s)
}

// The header-name summary never hides a header the request carries,
// whatever the case of the lookup, and headers added later through the
// policy view are found too.
func TestHeaderNamesNeverHideAHeader(t *testing.T) {
	names := []string{"X-Api-Key", "Authorization", "traceparent", "Accept", "X-Forwarded-For",
		"Origin", "Cache-Control", "If-None-Match", "A", "X-Very-Long-Header-Name-For-Testing"}
	var raw strings.Builder
	raw.WriteString("GET / HTTP/1.1\r\nHost: example.com\r\n")
	for i, n := range names {
		raw.WriteString(n + ": v" + string(rune('0'+i)) + "\r\n")
	}
	raw.WriteString("\r\n")
	x := scanned(t, raw.String())
	h := x.Header()
	for i, n := range names {
		want := "v" + string(rune('0'+i))
		for _, q := range []string{n, strings.ToLower(n), strings.ToUpper(n), swapCase(n)} {
			if got := h.Get(q); got != want {
				t.Errorf("Get(%q) = %q, want %q", q, got, want)
			}
			if got := h.Values(q); len(got) != 1 || got[0] != want {
				t.Errorf("Values(%q) = %q", q, got)
			}
		}
	}
	if got := h.Get("Host"); got != "example.com" {
		t.Errorf("Host = %q", got)
	}
	h.Set("X-Added-Later", "1")
	h.Add("x-added-too", "2")
	if h.Get("x-added-later") != "1" || h.Get("X-Added-Too") != "2" {
		t.Errorf("headers set through the policy view are hidden: %q %q", h.Get("x-added-later"), h.Get("X-Added-Too"))
	}
	// The summary does answer "absent" without asking fasthttp for most names.
	hidden := 0
	for i := range 200 {
		if !x.names.mayHave("X-Absent-" + strings.Repeat("z", i%40)) {
			hidden++
		}
	}
	if hidden == 0 {
		t.Error("the summary never rules a header out: it saves nothing")
	}
}

// A chunked request's trailer fields join the header after the scan: every
// lookup must then ask fasthttp.
func TestHeaderNamesChunkedAsksFasthttp(t *testing.T) {
	x := scanned(t, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if x.names != allHeaderNames {
		t.Fatalf("chunked request summary %b, want every bit", uint64(x.names))
	}
}

// FuzzHeaderNames: for any header names fasthttp accepts, a lookup through
// the summary answers exactly what fasthttp's own lookup answers.
func FuzzHeaderNames(f *testing.F) {
	for _, s := range []string{"X-Api-Key", "a", "Traceparent", "x_y", "Content-Type", "ÿ"} {
		f.Add(s, "Other")
	}
	f.Fuzz(func(t *testing.T, n1, n2 string) {
		raw := "GET / HTTP/1.1\r\nHost: h\r\n" + n1 + ": one\r\n" + n2 + ": two\r\n\r\n"
		x := scanned(t, raw)
		h := x.Header()
		for _, q := range []string{n1, n2, strings.ToLower(n1), strings.ToUpper(n2), "X-" + n1} {
			if got, want := h.Get(q), string(x.ctx.Request.Header.Peek(q)); got != want {
				t.Fatalf("Get(%q) = %q, fasthttp says %q (request %q)", q, got, want, raw)
			}
			if got, want := policy.Lend(h, q), h.Get(q); got != want {
				t.Fatalf("Lend(%q) = %q, Get says %q (request %q)", q, got, want, raw)
			}
		}
		// Del through the view leaves what fasthttp's own Del leaves.
		var want fasthttp.RequestHeader
		if err := want.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{strings.ToUpper(n1), "X-" + n2} {
			h.Del(q)
			want.Del(q)
		}
		if got := x.ctx.Request.Header.String(); got != want.String() {
			t.Fatalf("after Del: header\n%q\nwant\n%q", got, want.String())
		}
		if x.ctx.Request.Header.DisableNormalizing() {
			t.Fatal("Del left the header's name normalising off")
		}
	})
}

// Set through the policy view stores exactly what fasthttp's own Set
// stores (the cached canonical name), for ordinary and odd names alike.
func TestSetMatchesFasthttpSet(t *testing.T) {
	for _, n := range []string{"X-Custom-ID", "x-custom-plan", "X_Under_Score", "a-b-c", "weird name", "Host", "Content-Type", "X-CUSTOM-ID"} {
		for range 2 { // the second round reads the cache
			x := scanned(t, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
			var want fasthttp.RequestHeader
			if err := want.Read(bufio.NewReader(strings.NewReader("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))); err != nil {
				t.Fatal(err)
			}
			x.Header().Set(n, "v1")
			want.Set(n, "v1")
			if got := x.ctx.Request.Header.String(); got != want.String() {
				t.Fatalf("Set(%q): header\n%q\nwant\n%q", n, got, want.String())
			}
			if got := x.Header().Get(strings.ToLower(n)); got != "v1" && n != "weird name" {
				t.Fatalf("Get after Set(%q) = %q", n, got)
			}
		}
	}
}

// Set and Del through the policy view replace and remove a header the
// request carries in any case, and add one it does not carry once.
func TestSetAndDelOnPresentAndAbsentNames(t *testing.T) {
	const raw = "GET / HTTP/1.1\r\nHost: h\r\nx-tenant-id: forged\r\nX-Keep: 1\r\n\r\n"
	x := scanned(t, raw)
	h := x.Header()
	h.Set("X-Tenant-ID", "c1")   // present (other case): replaced
	h.Set("X-Tenant-Name", "n1") // absent: appended
	h.Set("X-Tenant-Name", "n2") // now present: replaced
	h.Del("X-Absent")            // absent: nothing to do
	h.Del("X-KEEP")              // present: removed
	rh := &x.ctx.Request.Header
	if got := rh.PeekAll("X-Tenant-Id"); len(got) != 1 || string(got[0]) != "c1" {
		t.Errorf("X-Tenant-ID = %q, want one c1", got)
	}
	if got := rh.PeekAll("X-Tenant-Name"); len(got) != 1 || string(got[0]) != "n2" {
		t.Errorf("X-Tenant-Name = %q, want one n2", got)
	}
	if rh.Peek("X-Keep") != nil {
		t.Error("Del left X-Keep")
	}
	if got, want := rh.String(), "GET / HTTP/1.1\r\nHost: h\r\nX-Tenant-Id: c1\r\nX-Tenant-Name: n2\r\n\r\n"; got != want {
		t.Errorf("header\n%q\nwant\n%q", got, want)
	}
}

// The identity headers live beside fasthttp's header (ownHeaders):
// through the policy view they read, change and disappear like any header,
// in any case, fasthttp's header never holds them, and what is rendered
// for the upstream is what the view holds at the end.
func TestIdentityHeadersThroughTheView(t *testing.T) {
	x := scanned(t, "GET / HTTP/1.1\r\nHost: h\r\nX-Other: o\r\n\r\n")
	h := x.Header()
	h.Set("X-Consumer-ID", "c1")
	h.Set("x-consumer-name", "alice")
	h.Set("X-CONSUMER-PLAN", "gold")
	h.Add("X-Anonymous-Consumer", "true")
	for n, want := range map[string]string{"x-consumer-id": "c1", "X-Consumer-Name": "alice", "X-Consumer-Plan": "gold", "x-anonymous-consumer": "true", "X-Other": "o"} {
		if got := h.Get(n); got != want {
			t.Errorf("Get(%q) = %q, want %q", n, got, want)
		}
		if got := policy.Lend(h, n); got != want {
			t.Errorf("Lend(%q) = %q, want %q", n, got, want)
		}
		if got := h.Values(n); len(got) != 1 || got[0] != want {
			t.Errorf("Values(%q) = %q", n, got)
		}
	}
	lent := policy.Lend(h, "X-Consumer-Name")
	h.Set("X-Consumer-Name", "bob") // a view lent before stays what it was
	if lent != "alice" || h.Get("X-Consumer-Name") != "bob" {
		t.Errorf("lent %q, now %q", lent, h.Get("X-Consumer-Name"))
	}
	h.Del("x-consumer-plan")
	h.Add("X-Consumer-ID", "c2")
	if got := h.Values("X-Consumer-Plan"); got != nil {
		t.Errorf("deleted plan: %q", got)
	}
	seen := map[string]string{}
	h.Range(func(n, v string) bool { seen[n] = v; return true })
	if seen["X-Consumer-Id"] != "c1, c2" || seen["X-Consumer-Name"] != "bob" || seen["X-Anonymous-Consumer"] != "true" || seen["X-Other"] != "o" || len(seen) != 5 {
		t.Errorf("Range saw %q", seen)
	}
	if got, want := x.ctx.Request.Header.String(), "GET / HTTP/1.1\r\nHost: h\r\nX-Other: o\r\n\r\n"; got != want {
		t.Errorf("fasthttp's header holds\n%q\nwant\n%q", got, want)
	}
	x.own.render(&x.up)
	var out strings.Builder
	if _, err := x.up.Wrap(writerConn{&out}, true).Write([]byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "GET / HTTP/1.1\r\nHost: h\r\nX-Consumer-Id: c1, c2\r\nX-Consumer-Name: bob\r\nX-Anonymous-Consumer: true\r\n\r\n"; got != want {
		t.Errorf("upstream head\n%q\nwant\n%q", got, want)
	}
	// The next request of a pooled exchange starts with none.
	x.reset(&fasthttp.RequestCtx{}, nil)
	if got := x.Header().Get("X-Consumer-ID"); got != "" || x.up.Len() != 0 {
		t.Errorf("after reset: %q, %d bytes of lines", got, x.up.Len())
	}
}

// writerConn is a net.Conn that only writes, to w.
type writerConn struct{ w *strings.Builder }

func (c writerConn) Write(p []byte) (int, error)    { return c.w.Write(p) }
func (writerConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (writerConn) Close() error                     { return nil }
func (writerConn) LocalAddr() net.Addr              { return nil }
func (writerConn) RemoteAddr() net.Addr             { return nil }
func (writerConn) SetDeadline(time.Time) error      { return nil }
func (writerConn) SetReadDeadline(time.Time) error  { return nil }
func (writerConn) SetWriteDeadline(time.Time) error { return nil }

// stampResponse stores what fasthttp's Set (X-Request-ID) and Add (policy
// headers) would: same header lines, in the same order, on proxied responses
// (names kept as the upstream wrote them) and on the gateway's own; only
// the spelling of a name it adds may differ (it is kept as the policy wrote
// it). Upstream headers of the same name in any case, repeated policy
// headers, fasthttp's special headers and names that are not tokens all
// take Add's path.
func TestStampResponseMatchesSetAndAdd(t *testing.T) {
	rateLimit := [][2]string{{"RateLimit-Policy", `"c";q=10;w=1`}, {"RateLimit", `"c";r=9;t=1`},
		{"RateLimit-Limit", "10"}, {"RateLimit-Remaining", "9"}, {"RateLimit-Reset", "1"}}
	for _, c := range []struct {
		name     string
		upstream string // raw response head; "" for the gateway's own response
		extra    [][2]string
		spelled  bool // the policy header names must come out as written
	}{
		{"proxied, rate limit fields", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Up: 1\r\n\r\n", rateLimit, false},
		{"own response, rate limit fields", "", rateLimit, true},
		{"upstream sends the same names", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nratelimit-policy: up\r\nX-REQUEST-ID: up-id\r\nx-cache: HIT\r\nRateLimit: up\r\n\r\n",
			append([][2]string{{"X-Cache", "MISS"}}, rateLimit...), false},
		{"upstream sends X-Request-ID as written here", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Request-ID: up-id\r\n\r\n", nil, false},
		{"two limiters and two Vary", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nVary: Accept-Encoding\r\n\r\n",
			append(append([][2]string{{"Vary", "Origin"}, {"Vary", "Origin"}}, rateLimit...), rateLimit[:2]...), false},
		{"special and odd names", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
			[][2]string{{"Content-Type", "text/x"}, {"Set-Cookie", "a=b"}, {"Server", "s"}, {"Date", "d"},
				{"Trailer", "X-T"}, {"Bad Name", "v"}, {"X-Line", "a\r\nb"}, {"", "v"}}, false},
		{"special names, absent, on the gateway's own response", "",
			[][2]string{{"Content-Type", "text/x"}, {"Content-Encoding", "gzip"}, {"Content-Length", "0"},
				{"Connection", "close"}, {"Server", "s"}, {"Set-Cookie", "a=b"}, {"Transfer-Encoding", "chunked"},
				{"Trailer", "X-T"}, {"Date", "d"}, {"set-cookie", "c=d"}, {"trailer", "X-U"}}, false},
		// Add stores "\r" as " ", a name the summary never saw: the " "
		// after it must append, not replace (found by FuzzStampResponse).
		{"a name Add alters, then that name", "", [][2]string{{"\r", "0"}, {" ", "0"}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var want, got fasthttp.Response
			for _, r := range []*fasthttp.Response{&want, &got} {
				if c.upstream != "" {
					r.Header.DisableNormalizing() // as the upstream client reads it
					if err := r.Header.Read(bufio.NewReader(strings.NewReader(c.upstream))); err != nil {
						t.Fatal(err)
					}
				}
			}
			want.Header.Set(responseIDName, "id-1")
			for _, kv := range c.extra {
				want.Header.Add(kv[0], kv[1])
			}
			stampResponse(&got.Header, "id-1", c.extra, nil)
			if w, g := headLines(&want.Header), headLines(&got.Header); w != g {
				t.Errorf("head differs from Set + Add\nwant:\n%s\ngot:\n%s", w, g)
			}
			if c.spelled && !strings.Contains(got.Header.String(), "\r\nRateLimit-Policy: ") {
				t.Errorf("policy header name not kept as written:\n%s", got.Header.String())
			}
		})
	}
}

// headLines is a response head with names lower-cased, for comparing heads
// that may spell names differently.
func headLines(h *fasthttp.ResponseHeader) string {
	var b strings.Builder
	for k, v := range h.All() {
		b.WriteString(strings.ToLower(string(k)) + ": " + string(v) + "\n")
	}
	return b.String()
}

func TestNoControlBytes(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for pos := 0; pos < n; pos++ {
			for _, c := range []byte{0, '\t', '\n', '\r', 0x1f, ' ', 'A', 0x7f, 0x80, 0xff} {
				b := []byte(strings.Repeat("a", n))
				b[pos] = c
				if got, want := noControlBytes(string(b)), c >= 0x20; got != want {
					t.Fatalf("noControlBytes(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// FuzzStampResponse: for any upstream header names and any policy headers,
// on proxied and on the gateway's own (normalising) responses, stamping
// gives the head Set + Add give (names compared case-insensitively).
func FuzzStampResponse(f *testing.F) {
	f.Add("X-Cache\nratelimit", "RateLimit\nRateLimit\nX-Cache\nVary", "v", false)
	f.Add("", "Content-Type\nX-Request-ID\nSet-Cookie", "a\r\nb", true)
	f.Add("Vary\nVARY", "vary\nDate\nTrailer", "1", false)
	f.Fuzz(func(t *testing.T, upstream, extra, value string, own bool) {
		var head strings.Builder
		head.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n")
		for _, n := range strings.Split(upstream, "\n") {
			if n == "" || !runtime.ValidHeaderName([]byte(n), true) {
				continue
			}
			head.WriteString(n + ": up\r\n")
		}
		head.WriteString("\r\n")
		var kvs [][2]string
		for _, n := range strings.Split(extra, "\n") {
			kvs = append(kvs, [2]string{n, value})
		}
		var want, got fasthttp.Response
		for _, r := range []*fasthttp.Response{&want, &got} {
			if !own { // a proxied response, read as the upstream client reads it
				r.Header.DisableNormalizing()
			}
			if err := r.Header.Read(bufio.NewReader(strings.NewReader(head.String()))); err != nil {
				t.Skip()
			}
		}
		want.Header.Set(responseIDName, "id")
		for _, kv := range kvs {
			want.Header.Add(kv[0], kv[1])
		}
		stampResponse(&got.Header, "id", kvs, nil)
		if w, g := headLines(&want.Header), headLines(&got.Header); w != g {
			t.Fatalf("head differs from Set + Add\nwant:\n%s\ngot:\n%s", w, g)
		}
	})
}

// The common names a response or a request carries each get their own bit
// in the header-name summary, so a header the gateway adds (RateLimit-Reset
// beside RateLimit-Limit, say) takes the cheap path for absent names.
func TestHeaderBitsApart(t *testing.T) {
	for _, names := range [][]string{
		{"RateLimit-Policy", "RateLimit", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "X-Request-ID",
			"Retry-After", "X-Cache", "X-Quota-Limit", "X-Quota-Remaining", "Content-Type", "Content-Length", "Date", "Server",
			"Connection", "Transfer-Encoding", "Cache-Control", "Etag", "Last-Modified", "Vary", "Set-Cookie", "Location",
			"Content-Encoding", "Keep-Alive"},
		{"Host", "User-Agent", "Accept", "Accept-Encoding", "Accept-Language", "X-API-Key", "Authorization", "Cookie",
			"X-Consumer-ID", "X-Consumer-Name", "X-Consumer-Plan", "X-Anonymous-Consumer", "X-Forwarded-For",
			"X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-ID", "Traceparent", "Tracestate", "Content-Type",
			"Content-Length", "Connection", "Transfer-Encoding", "Trailer", "Origin"},
	} {
		seen := map[headerNames]string{}
		for _, n := range names {
			b := headerBit(n)
			if b != headerBit(strings.ToUpper(n)) || b != headerBit([]byte(strings.ToLower(n))) {
				t.Errorf("%s: the bit depends on case", n)
			}
			if o, ok := seen[b]; ok {
				t.Errorf("%s and %s share a bit", o, n)
			}
			seen[b] = n
		}
	}
}

// canonicalName answers for the name's current bytes: a caller that reuses
// one buffer for several names (same address) gets each one's own form.
func TestCanonicalNameFollowsContentNotAddress(t *testing.T) {
	buf := []byte("x-one-name")
	n := unsafe.String(&buf[0], len(buf))
	for _, tc := range []struct{ bytes, want string }{{"x-one-name", "X-One-Name"}, {"x-two-name", "X-Two-Name"}, {"x-one-name", "X-One-Name"}} {
		copy(buf, tc.bytes)
		for range 2 { // the first call may fill the slot, the second reads it
			if got := string(canonicalName(n)); got != tc.want {
				t.Fatalf("canonicalName(%q) = %q, want %q", tc.bytes, got, tc.want)
			}
		}
	}
}

// Get returns a copy the caller may keep: changing the header afterwards
// (fasthttp rewrites a value in place) leaves it as it was. Only Lend's
// value views the header.
func TestGetCopiesLendViews(t *testing.T) {
	x := scanned(t, "GET / HTTP/1.1\r\nHost: h\r\nX-Api-Key: first-value\r\n\r\n")
	h := x.Header()
	got, lent := h.Get("X-API-Key"), policy.Lend(h, "X-API-Key")
	if got != "first-value" || lent != "first-value" {
		t.Fatalf("Get = %q, Lend = %q", got, lent)
	}
	h.Set("X-API-Key", "other-value")
	if got != "first-value" {
		t.Fatalf("Get's value changed with the header: %q", got)
	}
}
