package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// base is a valid document that table cases append to or edit.
const base = `services:
  - name: orders
    targets: ["http://127.0.0.1:9001"]
`

type wantErr struct {
	line int
	path string
	msg  string // substring
	hint string // substring
}

func checkErrs(t *testing.T, src string, want []wantErr) {
	t.Helper()
	list := parseErrs(t, src)
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%s", len(list), len(want), FormatErrors(list))
	}
	for i, w := range want {
		e := list[i]
		if e.Line != w.line || e.Path != w.path || !strings.Contains(e.Msg, w.msg) || !strings.Contains(e.Hint, w.hint) || e.File != "t.yaml" {
			t.Errorf("error %d = %s\nwant line %d path %q msg ~%q hint ~%q", i, e, w.line, w.path, w.msg, w.hint)
		}
	}
}

func TestStrictDecode(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []wantErr
	}{
		{"unknown top-level field", "servces: []\n", []wantErr{{1, "servces", `unknown field "servces"`, `did you mean "services"?`}}},
		{"unknown nested field", base + "routes:\n  - name: r\n    service: orders\n    mach: {paths: [/a]}\n",
			[]wantErr{{7, "routes[0].mach", `unknown field "mach"`, `did you mean "match"?`}}},
		{"unknown deep field", base + "    health: {path: /h, interval: 1s, timout: 1s}\n",
			[]wantErr{{4, "services[0].health.timout", `unknown field "timout"`, `did you mean "timeout"?`}}},
		{"far-off name lists valid fields", "tls: {cert: a, key: b, zzzzzzzzzz: 1}\n",
			[]wantErr{{1, "tls.zzzzzzzzzz", "unknown field", "one of cert, key, client_ca"}}},
		{"unknown field in target mapping", "services:\n  - name: a\n    targets:\n      - {url: \"http://a:1\", wieght: 2}\n",
			[]wantErr{{4, "services[0].targets[0].wieght", `unknown field "wieght"`, `did you mean "weight"?`}}},
		{"every type error at once", "server:\n  max_headers: lots\n  read_timeout: soon\n  allow_underscore_headers: maybe\naccess_log:\n  fields: time\n",
			[]wantErr{
				{2, "server.max_headers", `expected a whole number, got "lots"`, "without quotes"},
				{3, "server.read_timeout", `invalid duration "soon"`, "Go duration"},
				{4, "server.allow_underscore_headers", `expected true or false, got "maybe"`, ""},
				{6, "access_log.fields", `expected a list, got "time"`, "write a list"},
			}},
		{"mapping where scalar expected", "store: {url: x}\n", []wantErr{{1, "store", "expected a string, got a mapping", ""}}},
		{"list where mapping expected", "listen: [a]\n", []wantErr{{1, "listen", "expected a mapping, got a list", ""}}},
		{"negative into unsigned", "server: {max_concurrent_streams: -1}\n", []wantErr{{1, "server.max_concurrent_streams", "non-negative whole number", ""}}},
		{"duration from a mapping", "server: {idle_timeout: {s: 1}}\n", []wantErr{{1, "server.idle_timeout", "expected a duration, got a mapping", ""}}},
		{"duplicate key", "store: \"sqlite://a\"\nstore: \"sqlite://b\"\n", []wantErr{{2, "store", "written twice (first at line 1)", ""}}},
		{"non-scalar key", "? [a]\n: 1\n", []wantErr{{1, "", "a key must be a plain name", ""}}},
		{"self-referencing alias", "x:\n  a: &a [*a]\n", []wantErr{{2, "x.a", "refers to itself", ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrs(t, tt.src, tt.want) })
	}
}

func TestAliasesAndMergeKeys(t *testing.T) {
	cfg := mustParse(t, `
x:
  svc: &svc
    targets: ["http://127.0.0.1:1"]
    balance: least_conn
services:
  - <<: *svc
    name: a
  - <<: *svc
    name: b
    balance: round_robin
routes:
  - name: r
    service: a
    match: &m {paths: [/a]}
  - name: r2
    service: b
    match: {<<: *m, methods: [GET]}
`)
	if cfg.Services[0].Balance != "least_conn" || cfg.Services[1].Balance != "round_robin" || cfg.Services[1].Targets[0].URL != "http://127.0.0.1:1" {
		t.Fatalf("merge: %+v", cfg.Services)
	}
	if cfg.Routes[1].Match.Paths[0] != "/a" {
		t.Fatalf("alias: %+v", cfg.Routes[1].Match)
	}
}

// A "billion laughs" document must fail fast instead of expanding.
func TestAliasBombIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("x:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		b.WriteString("  a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	list := parseErrs(t, b.String())
	if len(list) != 1 || !strings.Contains(list[0].Msg, "too large") {
		t.Fatalf("got %v", list)
	}
}

func TestLinesRecorded(t *testing.T) {
	cfg := mustParse(t, `services:
  - name: a
    targets: ["http://127.0.0.1:1"]

  - name: b
    targets: ["http://127.0.0.1:2"]
routes:
  - name: r
    service: a
plans:
  - name: p
consumers:
  - name: c
    plan: p
`)
	if cfg.Services[0].Line != 2 || cfg.Services[1].Line != 5 || cfg.Routes[0].Line != 8 || cfg.Plans[0].Line != 11 || cfg.Consumers[0].Line != 13 {
		t.Fatalf("lines %d %d %d %d %d", cfg.Services[0].Line, cfg.Services[1].Line, cfg.Routes[0].Line, cfg.Plans[0].Line, cfg.Consumers[0].Line)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"match", "service", "policies"}
	if got := suggest("mach", names); got != `did you mean "match"?` {
		t.Errorf("got %q", got)
	}
	if got := suggest("POLICIES", names); got != `did you mean "policies"?` {
		t.Errorf("got %q", got)
	}
	if got := suggest("qqqqqqqqqqq", names); got != "one of match, service, policies" {
		t.Errorf("got %q", got)
	}
	if editDistance("kitten", "sitting") != 3 || editDistance("", "abc") != 3 {
		t.Error("editDistance")
	}
}

func TestTargetForms(t *testing.T) {
	cfg := mustParse(t, "services:\n  - name: s\n    targets: [\"http://a:1\", {url: \"http://b:1\"}, {url: \"http://c:1\", weight: 0}, {url: \"http://d:1\", weight: 5}]\n")
	want := []Target{{"http://a:1", 1}, {"http://b:1", 1}, {"http://c:1", 0}, {"http://d:1", 5}}
	for i, w := range want {
		if cfg.Services[0].Targets[i] != w {
			t.Errorf("target %d = %+v, want %+v", i, cfg.Services[0].Targets[i], w)
		}
	}
}

// strOrList is a custom unmarshaler on a slice type, like jwt's audience.
type strOrList []string

func (s *strOrList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = strOrList{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

func TestCustomUnmarshalerOnSlice(t *testing.T) {
	for src, want := range map[string]string{"a": "[a]", "[a, b]": "[a b]", "- a\n- b\n": "[a b]"} {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(src), &n); err != nil {
			t.Fatal(err)
		}
		p := newProblems("t.yaml")
		var v strOrList
		newDecoder(p).decode(&n, reflect.ValueOf(&v).Elem(), "x")
		if len(p.list) > 0 || fmt.Sprint([]string(v)) != want {
			t.Errorf("%q: got %v %v, want %s", src, v, p.list, want)
		}
	}
	p := newProblems("t.yaml")
	var v strOrList
	var n yaml.Node
	_ = yaml.Unmarshal([]byte("{a: b}"), &n)
	newDecoder(p).decode(&n, reflect.ValueOf(&v).Elem(), "x")
	if len(p.list) != 1 || !strings.Contains(p.list[0].Msg, "got a mapping") {
		t.Errorf("a mapping into a slice type: %v", p.list)
	}
}
