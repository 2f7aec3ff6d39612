package transform

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// decode reads a YAML policy block strictly, as the config loader does.
func decode(t testing.TB, src string) *Config {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	c := &Config{}
	if err := dec.Decode(c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return c
}

func build(t testing.TB, src string) policy.Handler {
	t.Helper()
	c := decode(t, src)
	if errs := c.Validate(); len(errs) > 0 {
		t.Fatalf("validate: %v", errs)
	}
	h, err := c.Build(policy.BuildEnv{})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return h.(policy.Handler)
}

func newExchange(method, target string) *policytest.Exchange {
	ex := policytest.New(method, target)
	ex.ParamList = []policy.Param{{Name: "id", Value: "42"}}
	ex.Cons = &policy.Consumer{ID: "c1", Name: "acme", Plan: "gold", Metadata: map[string]string{"tier": "t1"}}
	return ex
}

func TestRequestHeaders(t *testing.T) {
	h := build(t, `
request:
  headers:
    add: { X-User: "{{ .Path.id }}", X-Page: "p={{ .Query.page }}", X-Copy: "{{ .Header.X-Foo }}", X-Who: "{{ .Consumer.Name }}/{{ .Consumer.Plan }}", X-IP: "{{ .ClientIP }}", X-Idx: '{{ index .Header "X-Foo" }}', X-Meta: "{{ .Consumer.Metadata.tier }}" }
    set: { X-Set: fixed }
    remove: [X-Debug]
    rename: { X-A: X-B }
`)
	ex := newExchange("GET", "/users/42?page=3")
	ex.ReqHeader.Set("X-Foo", "foo")
	ex.ReqHeader.Set("X-Debug", "1")
	ex.ReqHeader.Set("X-A", "a")
	ex.ReqHeader.Set("X-Set", "old")
	var seen *policytest.Exchange
	if err := h.Handle(ex, policytest.Upstream(200, nil, "", &seen)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"X-User": "42", "X-Page": "p=3", "X-Copy": "foo", "X-Who": "acme/gold", "X-Ip": "192.0.2.1",
		"X-Idx": "foo", "X-Meta": "t1", "X-Set": "fixed", "X-B": "a", "X-A": "", "X-Debug": "",
	}
	for k, v := range want {
		if got := seen.ReqHeader.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestHeaderInjectionViaTemplate(t *testing.T) {
	h := build(t, `
request:  { headers: { set: { X-User: "{{ .Header.X-In }}", X-Q: "{{ .Query.q }}" } } }
response: { headers: { add: { X-Echo: "{{ .Header.X-In }}" } } }
`)
	ex := newExchange("GET", "/users/42?q=a%0D%0AX-Evil:%202")
	ex.ReqHeader["X-In"] = []string{"a\r\nX-Evil: 1\x00"}
	var seen *policytest.Exchange
	if err := h.Handle(ex, policytest.Upstream(200, nil, "", &seen)); err != nil {
		t.Fatal(err)
	}
	for _, hdr := range []http.Header{seen.ReqHeader, ex.Resp.Hdr} {
		if _, ok := hdr["X-Evil"]; ok {
			t.Fatalf("a new header was injected: %v", hdr)
		}
		var wire bytes.Buffer
		_ = hdr.Write(&wire)
		if strings.Count(wire.String(), "\r\n") != len(hdr) || strings.Contains(wire.String(), "\r\nX-Evil") {
			t.Fatalf("header block has extra lines: %q", wire.String())
		}
	}
	if got := seen.ReqHeader.Get("X-User"); got != "aX-Evil: 1" {
		t.Errorf("X-User = %q, want control characters stripped", got)
	}
	if got := seen.ReqHeader.Get("X-Q"); got != "aX-Evil: 2" {
		t.Errorf("X-Q = %q", got)
	}
}

func TestTemplatesReadTheIncomingRequest(t *testing.T) {
	h := build(t, `
request:
  headers: { remove: [X-Token], set: { X-Page: "{{ .Query.page }}" } }
  query:   { remove: [page], add: { token: "{{ .Header.X-Token }}" } }
`)
	ex := newExchange("GET", "/users/42?page=2")
	ex.ReqHeader.Set("X-Token", "t1")
	var seen *policytest.Exchange
	if err := h.Handle(ex, policytest.Upstream(200, nil, "", &seen)); err != nil {
		t.Fatal(err)
	}
	if seen.Raw != "token=t1" || seen.ReqHeader.Get("X-Page") != "2" || seen.ReqHeader.Get("X-Token") != "" {
		t.Errorf("query %q, headers %v", seen.Raw, seen.ReqHeader)
	}
}

func TestRequestQuery(t *testing.T) {
	h := build(t, `
request:
  query: { add: { source: gateway, who: "{{ .Consumer.Name }}" }, set: { page: "1" }, remove: [debug], rename: { q: search } }
`)
	ex := newExchange("GET", "/users/42?z=1&debug=true&q=a+b&page=9&debug=2")
	var seen *policytest.Exchange
	if err := h.Handle(ex, policytest.Upstream(200, nil, "", &seen)); err != nil {
		t.Fatal(err)
	}
	if want := "z=1&search=a+b&page=1&source=gateway&who=acme"; seen.Raw != want {
		t.Errorf("query = %q, want %q", seen.Raw, want)
	}
}

func TestPathRewrite(t *testing.T) {
	h := build(t, `request: { path: "/internal/accounts/{id}/profile" }`)
	ex := newExchange("GET", "/v1/users/42")
	var seen *policytest.Exchange
	if err := h.Handle(ex, policytest.Upstream(200, nil, "", &seen)); err != nil {
		t.Fatal(err)
	}
	if seen.URLPath != "/internal/accounts/42/profile" {
		t.Errorf("path = %q", seen.URLPath)
	}

	ex = newExchange("GET", "/v1/users/x")
	ex.ParamList = []policy.Param{{Name: "id", Value: "../admin"}}
	err := h.Handle(ex, policytest.Upstream(200, nil, "", nil))
	if pe := problem.From(err); pe.Status != 400 {
		t.Errorf("dot segment in a param: got %v, want 400", err)
	}
}

func TestRequestJSON(t *testing.T) {
	tests := []struct {
		name, cfg, ct, in, want string
	}{
		{"add remove rename", `{ add: { "meta.via": gateway }, remove: [password], rename: { "user_name": "username" } }`,
			"application/json", `{"user_name":"bo","password":"x","n":1.50}`, `{"meta":{"via":"gateway"},"n":1.50,"username":"bo"}`},
		{"add keeps an existing field, set overwrites", `{ add: { a: 1 }, set: { b: { c: [1, "x"] } } }`,
			"application/json; charset=utf-8", `{"a":0,"b":2}`, `{"a":0,"b":{"c":[1,"x"]}}`},
		{"move nested", `{ move: { "user.name": "profile.display" } }`,
			"application/vnd.acme+json", `{"user":{"name":"bo","id":1}}`, `{"profile":{"display":"bo"},"user":{"id":1}}`},
		{"wrap", `{ wrap: data }`, "application/json", `[1,2]`, `{"data":[1,2]}`},
		{"unwrap", `{ unwrap: data.item }`, "application/json", `{"data":{"item":{"a":"<b>"}}}`, `{"a":"<b>"}`},
		{"non-JSON passes untouched", `{ remove: [a] }`, "text/plain", `{"a":1}`, `{"a":1}`},
		{"no content type passes untouched", `{ remove: [a] }`, "", `{"a":1}`, `{"a":1}`},
		{"compressed passes untouched", `{ remove: [a] }`, "application/json|gzip", "\x1f\x8b\x08", "\x1f\x8b\x08"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := build(t, "request: { json: "+tt.cfg+" }")
			ex := newExchange("POST", "/users/42")
			ct, enc, _ := strings.Cut(tt.ct, "|")
			ex.ReqHeader.Set("Content-Type", ct)
			if enc != "" {
				ex.ReqHeader.Set("Content-Encoding", enc)
			}
			ex.ReqBody = []byte(tt.in)
			var seen *policytest.Exchange
			if err := h.Handle(ex, policytest.Upstream(200, nil, "", &seen)); err != nil {
				t.Fatal(err)
			}
			if string(seen.ReqBody) != tt.want {
				t.Errorf("body = %s, want %s", seen.ReqBody, tt.want)
			}
			if seen.ContentLength() != int64(len(tt.want)) {
				t.Errorf("content length %d, want %d", seen.ContentLength(), len(tt.want))
			}
		})
	}
}

func TestRequestJSONInvalid(t *testing.T) {
	h := build(t, `request: { json: { remove: [a] } }`)
	for _, body := range []string{`{"a":`, `{"a":1} {"b":2}`} {
		ex := newExchange("POST", "/users/42")
		ex.ReqHeader.Set("Content-Type", "application/json")
		ex.ReqBody = []byte(body)
		err := h.Handle(ex, policytest.Upstream(200, nil, "", nil))
		if pe := problem.From(err); pe.Status != 400 || pe.Detail != "the request body is not valid JSON" {
			t.Errorf("%s: got %v", body, err)
		}
	}
}

func TestTenMegabyteJSONBodyIsRefused(t *testing.T) {
	h := build(t, `request: { json: { remove: [a] } }`)
	big := append(append([]byte(`{"a":"`), bytes.Repeat([]byte("x"), 10<<20)...), `"}`...)
	ex := newExchange("POST", "/users/42")
	ex.ReqHeader.Set("Content-Type", "application/json")
	ex.ReqBody = big
	called := false
	err := h.Handle(ex, func(policy.Exchange) error { called = true; return nil })
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != 413 {
		t.Fatalf("got %v, want 413", err)
	}
	if called || !bytes.Equal(ex.ReqBody, big) {
		t.Error("the upstream was called or the body was touched")
	}
}

func TestResponseSide(t *testing.T) {
	h := build(t, `
max_body_bytes: 64
response:
  headers: { add: { X-Served-By: tollgate, X-Req: "{{ .Path.id }}" }, remove: [Server], rename: { X-Old: X-New } }
  json:    { remove: [internal_id] }
  status:  { 404: 410 }
`)
	tests := []struct {
		name, ct, body, wantBody string
		status, wantStatus       int
	}{
		{"json edited, status mapped", "application/json", `{"id":1,"internal_id":7}`, `{"id":1}`, 404, 410},
		{"status not in map", "application/json", `{"internal_id":7}`, `{}`, 200, 200},
		{"non-JSON untouched", "text/html", `{"internal_id":7}`, `{"internal_id":7}`, 200, 200},
		{"over the limit untouched", "application/json", `{"internal_id":"` + strings.Repeat("y", 100) + `"}`, `{"internal_id":"` + strings.Repeat("y", 100) + `"}`, 200, 200},
		{"invalid JSON untouched", "application/json", `{"internal_id":`, `{"internal_id":`, 200, 200},
		{"compressed untouched", "application/json|br", `{"internal_id":7}`, `{"internal_id":7}`, 200, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := newExchange("GET", "/users/42")
			ct, enc, _ := strings.Cut(tt.ct, "|")
			up := http.Header{"Content-Type": {ct}, "Server": {"nginx"}, "X-Old": {"o"}}
			if enc != "" {
				up.Set("Content-Encoding", enc)
			}
			if err := h.Handle(ex, policytest.Upstream(tt.status, up, tt.body, nil)); err != nil {
				t.Fatal(err)
			}
			r := ex.Resp
			if r.Code != tt.wantStatus || string(r.BodyBuf) != tt.wantBody {
				t.Errorf("got %d %s, want %d %s", r.Code, r.BodyBuf, tt.wantStatus, tt.wantBody)
			}
			if r.Hdr.Get("Server") != "" || r.Hdr.Get("X-Served-By") != "tollgate" || r.Hdr.Get("X-Req") != "42" || r.Hdr.Get("X-New") != "o" {
				t.Errorf("headers = %v", r.Hdr)
			}
		})
	}
}

func TestUpstreamErrorSkipsResponseSide(t *testing.T) {
	h := build(t, `response: { headers: { add: { X-A: b } } }`)
	want := problem.New(502, "x")
	if err := h.Handle(newExchange("GET", "/"), func(policy.Exchange) error { return want }); err != want {
		t.Fatalf("got %v", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct{ cfg, want string }{
		{`{}`, "set request or response"},
		{`request: { headers: { add: { "Bad Name": x } } }`, `"Bad Name" is not a valid name`},
		{`request: { headers: { add: { X-A: "{{ .Nope }}" } } }`, `unknown template variable ".Nope"`},
		{`request: { headers: { add: { X-A: "{{ .Path.id " } } }`, `without a closing`},
		{`request: { headers: { add: { X-A: "a\r\nb" } } }`, `control character`},
		{`request: { path: "internal/{id}" }`, `must start with /`},
		{`response: { headers: { set: { content-length: "0" } } }`, `content-length is managed by the gateway`},
		{`request: { headers: { remove: [Transfer-Encoding] } }`, `Transfer-Encoding is managed by the gateway`},
		{`request: { status: { 404: 410 } }`, `applies to responses`},
		{`response: { status: { 404: 1000 } }`, `not an HTTP status code`},
		{`response: { query: { add: { a: b } } }`, `only the request has a query`},
		{`response: { path: /x }`, `only the request has a path`},
		{`request: { json: { remove: ["a..b"] } }`, `not a dot path`},
		{`request: { json: { rename: { a: "b.c" } } }`, `must be one field name`},
		{`request: { json: { add: { a: { 1: x } } } }`, `cannot be written as JSON`},
		{`max_body_bytes: -1
request: { path: /x }`, `must not be negative`},
	}
	for _, tt := range tests {
		errs := decode(t, tt.cfg).Validate()
		joined := errors.Join(errs...)
		if joined == nil || !strings.Contains(joined.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.cfg, joined, tt.want)
		}
	}
}

func TestReadmeExample(t *testing.T) {
	for _, c := range policytest.CheckREADME(t, Definition) {
		if _, err := c.Build(policy.BuildEnv{}); err != nil {
			t.Errorf("README example does not build: %v", err)
		}
	}
}

func BenchmarkThreeHeaderTransforms(b *testing.B) {
	h := build(b, `
request:
  headers: { add: { X-User: "{{ .Path.id }}" }, set: { X-Gateway: tollgate }, remove: [X-Debug] }
`)
	ex := newExchange("GET", "/users/42")
	next := func(policy.Exchange) error { return nil }
	b.ReportAllocs()
	for b.Loop() {
		ex.ReqHeader = http.Header{"X-Debug": {"1"}}
		if err := h.Handle(ex, next); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzCompileValue(f *testing.F) {
	for _, s := range []string{"plain", "{{ .Path.id }}", "a{{.Header.X-Foo}}b{{ .ClientIP }}", "{{", "}}", `{{ index .Header "X" }}`, "{{ .Query. }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := compileValue(s)
		if err != nil || hasControl(s) { // Validate rejects control characters in config text
			return
		}
		ex := newExchange("GET", "/")
		ex.ReqHeader.Set("X-Foo", "a\r\nb")
		if out := v.expand(ex); v.templated() && hasControl(out) {
			t.Fatalf("expanded %q to %q with a control character", s, out)
		}
	})
}

func FuzzQuery(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "a&&b=%zz", "q=a+b&q=c"} {
		f.Add(s)
	}
	h := build(f, `request: { query: { add: { x: "1" }, remove: [a], rename: { b: c } } }`)
	f.Fuzz(func(t *testing.T, raw string) {
		ex := newExchange("GET", "/")
		ex.Raw = raw
		_ = h.Handle(ex, func(policy.Exchange) error { return nil })
		if !strings.HasSuffix(ex.Raw, "x=1") {
			t.Fatalf("query %q -> %q", raw, ex.Raw)
		}
	})
}
