package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// FuzzSessionVerify: arbitrary cookie values never verify and never panic.
func FuzzSessionVerify(f *testing.F) {
	var k sessionKeys
	if err := k.init(); err != nil {
		f.Fatal(err)
	}
	now := time.Now()
	good := k.issue(now)
	for _, s := range []string{good, "", ".", "..", "a.b.c", "a.99999999999999999999.c", good + "x", strings.ToUpper(good)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if _, ok := k.verify(v, now); ok && v != good {
			t.Fatalf("forged session %q verified", v)
		}
	})
}

// FuzzJSONToYAML: whatever JSON a client PUTs converts to YAML that reads
// back as the same value.
func FuzzJSONToYAML(f *testing.F) {
	for _, s := range []string{`{"a":"on","b":"010","c":10,"d":"x: y","e":[1,{"f":null}]}`, `{}`, `[]`, `"s"`, `{"a":"\u0000"}`, `{"k":"- x"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := jsonToYAML([]byte(in))
		if err != nil {
			return
		}
		var a, b any
		if yaml.Unmarshal([]byte(in), &a) != nil {
			return
		}
		if err := yaml.Unmarshal(out, &b); err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, out)
		}
		ja, _ := yamlToJSON([]byte(in))
		jb, _ := yamlToJSON(out)
		if string(ja) != string(jb) {
			t.Fatalf("value changed:\n%s\n%s", ja, jb)
		}
	})
}

// FuzzRequestInputs: query strings, If-Match and request ids never panic and
// limits stay in range.
func FuzzRequestInputs(f *testing.F) {
	f.Add("limit=10&cursor=abc", `"x", "y"`, "req-1")
	f.Add("limit=-1", "*", "bad id with spaces")
	f.Add("limit=99999999999999999999", "", strings.Repeat("a", 200))
	f.Fuzz(func(t *testing.T, query, ifMatch, rid string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = query
		r.Header.Set("If-Match", ifMatch)
		r.Header.Set("X-Request-ID", rid)
		if _, limit, err := pageParams(r); err == nil && (limit < 1 || limit > maxLimit) {
			t.Fatalf("limit %d accepted", limit)
		}
		_ = checkIfMatch(r, `"etag"`)
		if got := requestID(r); len(got) > 128 || got == "" {
			t.Fatalf("request id %q", got)
		}
		_ = actor(r)
	})
}

// FuzzConsumerBody: any POST /consumers body decodes or is a 400 problem.
func FuzzConsumerBody(f *testing.F) {
	f.Add(`{"name":"a"}`)
	f.Add(`{"name":"b","plan":"free","groups":["x"],"metadata":{"k":"v"}}`)
	f.Add(`{"name":`)
	f.Add(`[]`)
	f.Add(`{"name":"c"} {"name":"d"}`)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/consumers", strings.NewReader(body))
		w := httptest.NewRecorder()
		var in consumerInput
		err := decodeJSON(w, req, &in)
		if err == nil {
			return
		}
		if pe := storeProblem(err); pe.Status != http.StatusBadRequest {
			t.Fatalf("bad body %q gave %d", body, pe.Status)
		}
	})
}
