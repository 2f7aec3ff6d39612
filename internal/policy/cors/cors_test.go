package cors

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

func build(t *testing.T, c Config) policy.Handler {
	t.Helper()
	h, err := c.Build(policy.BuildEnv{})
	if err != nil {
		t.Fatal(err)
	}
	return h.(policy.Handler)
}

var strict = Config{
	Origins:       []string{"https://app.example.com", "https://*.example.org"},
	Methods:       []string{"GET", "POST", "DELETE"},
	Headers:       []string{"Authorization", "Content-Type"},
	ExposeHeaders: []string{"X-Request-ID", "RateLimit"},
	Credentials:   true,
	MaxAge:        config.Duration(5 * time.Minute),
}

func TestPreflight(t *testing.T) {
	open := Config{Origins: []string{"*"}}
	tests := []struct {
		name       string
		cfg        Config
		origin     string
		method     string
		reqHeaders string
		wantStatus int
		want       http.Header // exact response headers for 204
		wantDetail string
	}{
		{"allowed", strict, "https://app.example.com", "DELETE", "authorization, content-type", 204, http.Header{
			"Access-Control-Allow-Origin":      {"https://app.example.com"},
			"Access-Control-Allow-Methods":     {"GET, POST, DELETE"},
			"Access-Control-Allow-Headers":     {"Authorization, Content-Type"},
			"Access-Control-Allow-Credentials": {"true"},
			"Access-Control-Max-Age":           {"300"},
			"Vary":                             {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"},
		}, ""},
		{"wildcard sub-domain", strict, "https://a.b.example.org", "get", "", 204, http.Header{
			"Access-Control-Allow-Origin":      {"https://a.b.example.org"},
			"Access-Control-Allow-Methods":     {"GET, POST, DELETE"},
			"Access-Control-Allow-Headers":     {"Authorization, Content-Type"},
			"Access-Control-Allow-Credentials": {"true"},
			"Access-Control-Max-Age":           {"300"},
			"Vary":                             {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"},
		}, ""},
		{"any origin, headers echoed, defaults", open, "https://anyone.test", "PATCH", "X-Custom, x-other", 204, http.Header{
			"Access-Control-Allow-Origin":  {"*"},
			"Access-Control-Allow-Methods": {"GET, HEAD, POST, PUT, PATCH, DELETE"},
			"Access-Control-Allow-Headers": {"X-Custom, x-other"},
			"Access-Control-Max-Age":       {"600"},
			"Vary":                         {"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"},
		}, ""},
		{"origin not allowed", strict, "https://evil.example", "GET", "", 403, nil, "this origin is not allowed to call this API from a browser"},
		{"bare domain of a wildcard", strict, "https://example.org", "GET", "", 403, nil, "this origin is not allowed to call this API from a browser"},
		{"wildcard with another scheme", strict, "http://a.example.org", "GET", "", 403, nil, "this origin is not allowed to call this API from a browser"},
		{"suffix trick", strict, "https://app.example.com.evil.test", "GET", "", 403, nil, "this origin is not allowed to call this API from a browser"},
		{"port smuggled into a wildcard", strict, "https://evil.test:443@x.example.org", "GET", "", 403, nil, "this origin is not allowed to call this API from a browser"},
		{"method not allowed", strict, "https://app.example.com", "PUT", "", 403, nil, "this method is not allowed for cross-origin requests"},
		{"header not allowed", strict, "https://app.example.com", "GET", "content-type, x-secret", 403, nil, "a requested header is not allowed for cross-origin requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := policytest.New("OPTIONS", "/orders")
			ex.ReqHeader.Set("Origin", tt.origin)
			ex.ReqHeader.Set("Access-Control-Request-Method", tt.method)
			if tt.reqHeaders != "" {
				ex.ReqHeader.Set("Access-Control-Request-Headers", tt.reqHeaders)
			}
			reached := false
			err := build(t, tt.cfg).Handle(ex, func(policy.Exchange) error { reached = true; return nil })
			if reached {
				t.Fatal("a preflight reached the upstream")
			}
			if tt.wantStatus == 204 {
				if err != nil || !ex.Responded || ex.Resp.Code != 204 || len(ex.Resp.BodyBuf) != 0 {
					t.Fatalf("err=%v resp=%+v", err, ex.Resp)
				}
				if !equalHeader(ex.Resp.Hdr, tt.want) {
					t.Errorf("headers = %v\nwant      %v", ex.Resp.Hdr, tt.want)
				}
				return
			}
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want 403 problem", err)
			}
			want := `{"type":"about:blank","title":"Forbidden","status":403,"detail":"` + tt.wantDetail + `","request_id":"r"}`
			if pe.Status != 403 || string(pe.Body("r")) != want {
				t.Errorf("got %d %s", pe.Status, pe.Body("r"))
			}
			if len(pe.Headers) != 1 || pe.Headers[0] != [2]string{"Vary", "Origin"} {
				t.Errorf("problem headers = %v", pe.Headers)
			}
			for n := range ex.Extra {
				if strings.HasPrefix(n, "Access-Control-") {
					t.Errorf("refused preflight carries %s", n)
				}
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for n, v := range b {
		if strings.Join(a.Values(n), "|") != strings.Join(v, "|") {
			return false
		}
	}
	return true
}

func TestActualRequest(t *testing.T) {
	tests := []struct {
		name   string
		cfg    Config
		method string
		origin string
		want   http.Header
	}{
		{"allowed origin", strict, "POST", "https://App.Example.com", http.Header{
			"Access-Control-Allow-Origin":      {"https://App.Example.com"},
			"Access-Control-Allow-Credentials": {"true"},
			"Access-Control-Expose-Headers":    {"X-Request-ID, RateLimit"},
			"Vary":                             {"Origin"},
		}},
		{"disallowed origin: no CORS headers", strict, "GET", "https://evil.example", http.Header{"Vary": {"Origin"}}},
		{"no Origin: same-origin or not a browser", strict, "GET", "", http.Header{"Vary": {"Origin"}}},
		{"any origin", Config{Origins: []string{"*"}}, "GET", "https://x.test", http.Header{
			"Access-Control-Allow-Origin": {"*"},
			"Vary":                        {"Origin"},
		}},
		{"any origin, no Origin header", Config{Origins: []string{"*"}}, "GET", "", http.Header{}},
		{"OPTIONS without Access-Control-Request-Method is not a preflight", strict, "OPTIONS", "https://app.example.com", http.Header{
			"Access-Control-Allow-Origin":      {"https://app.example.com"},
			"Access-Control-Allow-Credentials": {"true"},
			"Access-Control-Expose-Headers":    {"X-Request-ID, RateLimit"},
			"Vary":                             {"Origin"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := policytest.New(tt.method, "/orders")
			if tt.origin != "" {
				ex.ReqHeader.Set("Origin", tt.origin)
			}
			var seen *policytest.Exchange
			if err := build(t, tt.cfg).Handle(ex, policytest.Upstream(200, nil, "ok", &seen)); err != nil {
				t.Fatal(err)
			}
			if seen == nil || ex.Responded {
				t.Fatal("the request did not reach the upstream")
			}
			if !equalHeader(ex.Extra, tt.want) {
				t.Errorf("added headers = %v\nwant            %v", ex.Extra, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"valid", strict, nil},
		{"no origins", Config{}, []string{"origins is required"}},
		{"star with credentials", Config{Origins: []string{"*"}, Credentials: true}, []string{`"*" cannot be combined with credentials`}},
		{"bad origins", Config{Origins: []string{"app.example.com", "https://a.com/path", "https://a.*.com", "ftp://x.com", "https://*example.com"}}, []string{
			`origins[0]: "app.example.com" is not an origin`, `origins[1]: "https://a.com/path"`, `origins[2]: "https://a.*.com"`, `origins[3]: "ftp://x.com"`, `origins[4]: "https://*example.com"`,
		}},
		{"bad method and header", Config{Origins: []string{"*"}, Methods: []string{"GE T"}, Headers: []string{"X:Y"}}, []string{`methods[0]: "GE T"`, `headers[0]: "X:Y"`}},
		{"negative max_age", Config{Origins: []string{"*"}, MaxAge: -1}, []string{"max_age must not be negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("got %v, want %d errors", errs, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want %q", i, errs[i], w)
				}
			}
		})
	}
}

func TestReadmeExample(t *testing.T) { policytest.CheckREADME(t, Definition) }

func FuzzParseOrigin(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "https://*.example.com", "http://localhost:3000", "*", "https://*.", "https://a@b", "https://[::1]:8080"} {
		f.Add(s, "https://x.example.com")
	}
	f.Fuzz(func(t *testing.T, pattern, origin string) {
		p, err := parseOrigin(pattern)
		if err != nil {
			return
		}
		if p.match(strings.ToLower(origin)) && strings.ContainsAny(origin, "/?#") && strings.Count(origin, "/") != 2 {
			t.Fatalf("%q matched origin %q with a path", pattern, origin)
		}
	})
}
