package config

import (
	"fmt"
	"strings"
	"testing"
)

// route builds a document with the base service and one route whose body
// lines (indented 4) follow "- name: r" at line 5.
func route(body string) string {
	return base + "routes:\n  - name: r\n" + indent(body, 4)
}

func service(body string) string {
	return "services:\n  - name: s\n" + indent(body, 4)
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pad + l
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestValidationRules(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []wantErr
	}{
		// names
		{"service name required", "services:\n  - targets: [\"http://a:1\"]\n", []wantErr{{2, "services[0].name", "name is required", ""}}},
		{"duplicate service", base + "  - name: orders\n    targets: [\"http://a:1\"]\n", []wantErr{{4, "services[1].name", `duplicate name "orders" (also services[0])`, ""}}},
		{"duplicate route", route("service: orders\nmatch: {paths: [/a]}") + "  - name: r\n    service: orders\n", []wantErr{{8, "routes[1].name", "duplicate name", ""}}},
		{"duplicate plan", "plans:\n  - name: p\n  - name: p\n", []wantErr{{3, "plans[1].name", "duplicate name", ""}}},
		{"duplicate consumer", "consumers:\n  - name: c\n  - name: c\n", []wantErr{{3, "consumers[1].name", "duplicate name", ""}}},
		// route -> service
		{"undefined service", route("service: ordrs"), []wantErr{{6, "routes[0].service", `undefined service "ordrs"`, `did you mean "orders"?`}}},
		{"route without service", route("match: {paths: [/a]}"), []wantErr{{5, "routes[0]", "route has no service", "mock"}}},
		// versions
		{"versions from", route("versions: {from: heder, list: {v1: {service: orders}}}"), []wantErr{{6, "routes[0].versions.from", "must be one of", `did you mean "header"?`}}},
		{"versions header needed", route("versions: {from: header, list: {v1: {service: orders}}}"), []wantErr{{6, "routes[0].versions.header", "needs a header name", ""}}},
		{"versions param needed", route("versions: {from: query, list: {v1: {service: orders}}}"), []wantErr{{6, "routes[0].versions.param", "needs a param name", ""}}},
		{"versions default in list", route("versions: {from: path, default: v2, list: {v1: {service: orders}}}"), []wantErr{{6, "routes[0].versions.default", `default version "v2" is not in list`, `did you mean "v1"?`}}},
		{"versions service exists", route("versions:\n  from: path\n  list:\n    v1: {service: nope}"), []wantErr{{9, "routes[0].versions.list.v1.service", `undefined service "nope"`, ""}}},
		{"version without any service", route("versions:\n  from: path\n  list:\n    v1: {}"), []wantErr{{9, "routes[0].versions.list.v1", "no service", ""}}},
		{"versions list empty", route("versions: {from: path}"), []wantErr{{6, "routes[0].versions.list", "at least one", ""}}},
		// services
		{"no targets", service("balance: round_robin"), []wantErr{{2, "services[0].targets", "at least one target", ""}}},
		{"relative target", service("targets: [\"127.0.0.1:9000\"]"), []wantErr{{3, "services[0].targets[0]", "absolute http:// or https:// URL", ""}}},
		{"ftp target", service("targets: [\"ftp://a:1\"]"), []wantErr{{3, "services[0].targets[0]", "absolute", ""}}},
		{"target with path", service("targets: [\"http://a:1/api\"]"), []wantErr{{3, "services[0].targets[0]", "must not have a path", ""}}},
		{"target root path ok", service("targets: [\"http://a:1/\"]"), nil},
		{"negative weight", service("targets: [{url: \"http://a:1\", weight: -1}]"), []wantErr{{3, "services[0].targets[0].weight", "weight must not be negative", ""}}},
		{"all weights zero", service("targets: [{url: \"http://a:1\", weight: 0}]\nbalance: weighted"), []wantErr{{3, "services[0].targets", "none would get traffic", ""}}},
		{"balance", service("targets: [\"http://a:1\"]\nbalance: random"), []wantErr{{4, "services[0].balance", `unknown balance "random"`, ""}}},
		{"hash_by", service("targets: [\"http://a:1\"]\nbalance: consistent_hash\nhash_by: cookie"), []wantErr{{5, "services[0].hash_by", "invalid hash_by", "header:X-Name"}}},
		{"hash_by header ok", service("targets: [\"http://a:1\"]\nbalance: consistent_hash\nhash_by: \"header:X-User\""), nil},
		{"hash_by without consistent_hash", service("targets: [\"http://a:1\"]\nhash_by: \"header:X-User\""), []wantErr{{4, "services[0].hash_by", "would be ignored", "balance: consistent_hash"}}},
		{"protocol", service("targets: [\"http://a:1\"]\nprotocol: h3"), []wantErr{{4, "services[0].protocol", `unknown protocol "h3"`, ""}}},
		{"h2 needs https", service("targets: [\"http://a:1\"]\nprotocol: h2"), []wantErr{{3, "services[0].targets[0]", "h2 needs an https://", ""}}},
		{"health path", service("targets: [\"http://a:1\"]\nhealth: {path: healthz, interval: 1s}"), []wantErr{{4, "services[0].health.path", "start with /", ""}}},
		{"health interval", service("targets: [\"http://a:1\"]\nhealth: {path: /h}"), []wantErr{{4, "services[0].health.interval", "greater than 0", ""}}},
		{"health status", service("targets: [\"http://a:1\"]\nhealth: {path: /h, interval: 1s, expect_status: [700]}"), []wantErr{{4, "services[0].health.expect_status[0]", "not an HTTP status", ""}}},
		{"negative timeout", service("targets: [\"http://a:1\"]\ntimeouts: {connect: -1s}"), []wantErr{{4, "services[0].timeouts.connect", "negative", ""}}},
		{"retries", service("targets: [\"http://a:1\"]\nretries: 11"), []wantErr{{4, "services[0].retries", "0 to 10", ""}}},
		{"retries zero ok", service("targets: [\"http://a:1\"]\nretries: 0"), nil},
		{"breaker ratio", service("targets: [\"http://a:1\"]\nbreaker: {failure_ratio: 2}"), []wantErr{{4, "services[0].breaker.failure_ratio", "between 0 and 1", ""}}},
		// route match
		{"path slash", route("service: orders\nmatch: {paths: [orders]}"), []wantErr{{7, "routes[0].match.paths[0]", "must start with /", ""}}},
		{"path braces", route("service: orders\nmatch: {paths: [\"/a/{id\"]}"), []wantErr{{7, "routes[0].match.paths[0]", "unbalanced braces", ""}}},
		{"path partial segment", route("service: orders\nmatch: {paths: [\"/a/x{id}\"]}"), []wantErr{{7, "routes[0].match.paths[0]", "whole segment", ""}}},
		{"path rest not last", route("service: orders\nmatch: {paths: [\"/a/{rest...}/b\"]}"), []wantErr{{7, "routes[0].match.paths[0]", "last segment", ""}}},
		{"path param identifier", route("service: orders\nmatch: {paths: [\"/a/{my-id}\"]}"), []wantErr{{7, "routes[0].match.paths[0]", "not an identifier", ""}}},
		{"path duplicate param", route("service: orders\nmatch: {paths: [\"/a/{id}/b/{id}\"]}"), []wantErr{{7, "routes[0].match.paths[0]", "duplicate parameter {id}", ""}}},
		{"path good patterns", route("service: orders\nmatch: {paths: [\"/a/{id}/b/{rest...}\", \"/static/\", \"/x/{$}\"]}"), nil},
		{"method case", route("service: orders\nmatch: {methods: [get, POST]}"), []wantErr{{7, "routes[0].match.methods[0]", `invalid method "get"`, "upper case"}}},
		{"host", route("service: orders\nmatch: {hosts: [\"api.example.com:8080\", \"*.ok.example\", \"bad_host\"]}"), []wantErr{
			{7, "routes[0].match.hosts[0]", "invalid host", ""}, {7, "routes[0].match.hosts[2]", "invalid host", ""}}},
		{"strip_prefix", route("service: orders\nstrip_prefix: v1"), []wantErr{{7, "routes[0].strip_prefix", "must start with /", ""}}},
		{"rewrite param missing", route("service: orders\nmatch: {paths: [\"/a/{id}\", \"/b\"]}\nrewrite: /in/{id}"), []wantErr{{8, "routes[0].rewrite", "not every path pattern binds", ""}}},
		{"rewrite param ok", route("service: orders\nmatch: {paths: [\"/a/{id}\", \"/b/{id}\"]}\nrewrite: /in/{id}"), nil},
		// ties
		{"same pattern twice", route("service: orders\nmatch: {paths: [\"/a/{id}\"]}") + "  - name: r2\n    service: orders\n    match: {paths: [\"/a/{key}\"]}\n",
			[]wantErr{{10, "routes[1].match.paths[0]", "matches the same requests as routes[0].match.paths[0]", ""}}},
		{"same pattern, overlapping methods", route("service: orders\nmatch: {paths: [/a], methods: [GET, PUT]}") + "  - name: r2\n    service: orders\n    match: {paths: [/a], methods: [PUT]}\n",
			[]wantErr{{10, "routes[1].match.paths[0]", "matches the same requests", ""}}},
		{"same pattern, other methods", route("service: orders\nmatch: {paths: [/a], methods: [GET]}") + "  - name: r2\n    service: orders\n    match: {paths: [/a], methods: [PUT]}\n", nil},
		{"same pattern, other hosts", route("service: orders\nmatch: {paths: [/a], hosts: [a.example]}") + "  - name: r2\n    service: orders\n    match: {paths: [/a]}\n", nil},
		{"same pattern, other headers", route("service: orders\nmatch: {paths: [/a], headers: {X-A: \"1\"}}") + "  - name: r2\n    service: orders\n    match: {paths: [/a]}\n", nil},
		{"two catch-alls", route("service: orders") + "  - name: r2\n    service: orders\n",
			[]wantErr{{7, "routes[1].match", "matches the same requests as routes[0].match", ""}}},
		// edge
		{"trusted proxies", "trusted_proxies: [\"10.0.0.0/8\", \"::1\", \"nope\", \"10.0.0.0/33\"]\n", []wantErr{
			{1, "trusted_proxies[2]", "not an IP address or CIDR", ""}, {1, "trusted_proxies[3]", "not an IP", ""}}},
		{"listen address", "listen: {proxy: \"8080\", portal: \":99999\"}\n", []wantErr{
			{1, "listen.proxy", "invalid listen address", "host:port"}, {1, "listen.portal", "invalid listen address", ""}}},
		{"admin on all interfaces without token", "listen: {admin: \":9080\"}\n", []wantErr{{1, "listen.admin", "without admin.token", "set admin.token or bind 127.0.0.1"}}},
		{"admin on all interfaces with token", "listen: {admin: \":9080\"}\nadmin: {token: t}\n", nil},
		{"admin on localhost", "listen: {admin: \"localhost:9080\"}\n", nil},
		{"tls pair", "tls: {cert: a.pem}\n", []wantErr{{1, "tls", "go together", ""}}},
		{"tls listener needs certs", "listen: {tls: \":8443\"}\n", []wantErr{{1, "listen.tls", "needs certificates", ""}}},
		{"store scheme", "store: mysql://x\ncounters: memcache://y\n", []wantErr{{1, "store", "unsupported", ""}, {2, "counters", "unsupported", ""}}},
		{"counters prefix with a brace", "store: sqlite://x\ncounters: \"redis://r:6379/0?cluster=true&prefix=tg{x}:\"\n", []wantErr{{2, "counters", `prefix="tg{x}:" contains '{'`, ""}}},
		{"counters prefix with a space", "counters: \"rediss://r:6379/0?prefix=tg+prod:\"\n", []wantErr{{1, "counters", "whitespace", ""}}},
		{"counters prefix with a control character", "counters: \"redis://r:6379/0?prefix=tg%00:\"\n", []wantErr{{1, "counters", "control", ""}}},
		{"counters prefix ok", "counters: \"redis://r:6379/0?prefix=tg:prod:\"\n", nil},
		{"counters prefix not checked for memory", "counters: \"memory://?prefix={x}\"\n", nil},
		{"access log field", "access_log: {fields: [time, stauts]}\n", []wantErr{{1, "access_log.fields[1]", `unknown access log field "stauts"`, `did you mean "status"?`}}},
		{"sample ratio", "telemetry: {tracing: {sample_ratio: 1.5}}\n", []wantErr{{1, "telemetry.tracing.sample_ratio", "between 0 and 1", ""}}},
		// plans and consumers
		{"plan rate limit", "plans:\n  - name: p\n    rate_limit: {limit: 0, window: 0s}\n", []wantErr{
			{3, "plans[0].rate_limit.limit", "greater than 0", ""}, {3, "plans[0].rate_limit.window", "greater than 0", ""}}},
		{"quota period", "plans:\n  - name: p\n    quota: {limit: 5, period: week}\n", []wantErr{{3, "plans[0].quota.period", "day or month", ""}}},
		{"quota timezone", "plans:\n  - name: p\n    quota: {limit: 5, period: day, timezone: Mars/Olympus}\n", []wantErr{{3, "plans[0].quota.timezone", "unknown time zone", ""}}},
		{"currency", "plans:\n  - name: p\n    price: {currency: dollars}\n", []wantErr{{3, "plans[0].price.currency", "ISO 4217", ""}}},
		{"consumer plan", "plans:\n  - name: free\nconsumers:\n  - name: c\n    plan: fre\n", []wantErr{{5, "consumers[0].plan", `undefined plan "fre"`, `did you mean "free"?`}}},
		{"consumer plan without plans", "consumers:\n  - name: c\n    plan: anything\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				mustParse(t, tt.src)
				return
			}
			checkErrs(t, tt.src, tt.want)
		})
	}
}

// Every problem in a document is reported, not just the first.
func TestAllProblemsReported(t *testing.T) {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := range 5 {
		fmt.Fprintf(&b, "  - name: s%d\n    targets: [\"nope%d\"]\n", i, i)
	}
	list := parseErrs(t, b.String())
	if len(list) != 5 {
		t.Fatalf("got %d errors:\n%s", len(list), FormatErrors(list))
	}
	for i, e := range list {
		if e.Line != 3+2*i {
			t.Errorf("error %d at line %d", i, e.Line)
		}
	}
}

func TestMockRouteNeedsNoService(t *testing.T) {
	mustParse(t, "routes:\n  - name: hello\n    policies:\n      mock: {status: 200}\n")
}
