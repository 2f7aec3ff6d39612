package tracing

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tollgate-dev/tollgate/internal/config"
)

const (
	incomingTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingParent = "00f067aa0ba902b7"
	incoming       = "00-" + incomingTrace + "-" + incomingParent + "-01"
)

func headers(kv ...string) Getter {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return GetterFunc(func(k string) string { return m[strings.ToLower(k)] })
}

func injected(sp *Span) map[string]string {
	out := map[string]string{}
	sp.Inject(SetterFunc(func(k, v string) { out[strings.ToLower(k)] = v }))
	return out
}

func splitTP(t *testing.T, tp string) (traceID, parent, flags string) {
	t.Helper()
	p := strings.Split(tp, "-")
	if len(p) != 4 || p[0] != "00" {
		t.Fatalf("bad traceparent %q", tp)
	}
	return p[1], p[2], p[3]
}

func TestTracingOnContinuesTraceWithNewParent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := NewWithExporter(config.Tracing{OTLPEndpoint: "http://unused", SampleRatio: 1}, exp)
	ctx, req := tr.StartRequest(context.Background(), headers("traceparent", incoming, "tracestate", "vendor=x"))
	_ = ctx
	auth := req.Child("auth")
	auth.End(0)
	limit := req.Child("limit")
	limit.End(0)
	up := req.Child("upstream")
	h := injected(up)
	up.End(200)
	req.End(200)

	traceID, parent, flags := splitTP(t, h["traceparent"])
	if traceID != incomingTrace {
		t.Fatalf("trace id %s, want %s", traceID, incomingTrace)
	}
	if parent == incomingParent {
		t.Fatal("upstream got the client's span id as parent, want the gateway's upstream span")
	}
	if flags != "01" || h["tracestate"] != "vendor=x" {
		t.Fatalf("flags %s tracestate %q", flags, h["tracestate"])
	}
	if req.TraceID() != incomingTrace {
		t.Fatalf("TraceID() = %s", req.TraceID())
	}
	spans := exp.GetSpans()
	if len(spans) != 4 {
		t.Fatalf("%d spans exported, want 4", len(spans))
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	root := byName["request"]
	if root.Parent.SpanID().String() != incomingParent || root.SpanKind != trace.SpanKindServer {
		t.Fatalf("request span parent %s kind %v", root.Parent.SpanID(), root.SpanKind)
	}
	for _, name := range []string{"auth", "limit", "upstream"} {
		if byName[name].Parent.SpanID() != root.SpanContext.SpanID() {
			t.Errorf("%s is not a child of the request span", name)
		}
	}
	if byName["upstream"].SpanContext.SpanID().String() != parent {
		t.Error("injected parent is not the upstream span")
	}
}

func TestTracingOnStartsTraceWithoutIncoming(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := NewWithExporter(config.Tracing{OTLPEndpoint: "http://unused"}, exp)
	_, req := tr.StartRequest(context.Background(), headers())
	h := injected(req)
	req.End(503)
	traceID, _, _ := splitTP(t, h["traceparent"])
	if traceID != req.TraceID() || len(exp.GetSpans()) != 1 {
		t.Fatalf("new trace not started: %v", h)
	}
}

func TestTracingOffPassesTraceThrough(t *testing.T) {
	tr, err := New(config.Tracing{})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Fatal("enabled without endpoint")
	}
	_, req := tr.StartRequest(context.Background(), headers("traceparent", incoming, "tracestate", "a=1"))
	up := req.Child("upstream")
	h := injected(up)
	traceID, parent, flags := splitTP(t, h["traceparent"])
	if traceID != incomingTrace || parent == incomingParent || flags != "01" || h["tracestate"] != "a=1" {
		t.Fatalf("pass-through: %v", h)
	}
	if req.TraceID() != incomingTrace {
		t.Fatalf("TraceID() = %q", req.TraceID())
	}
	up.End(200)
	req.End(200)

	_, none := tr.StartRequest(context.Background(), headers())
	if len(injected(none)) != 0 || none.TraceID() != "" {
		t.Fatal("tracing off invented a trace")
	}
}

func TestTracingOffAllocatesNothingWithoutTraceparent(t *testing.T) {
	tr, _ := New(config.Tracing{})
	get := headers()
	ctx := context.Background()
	n := testing.AllocsPerRun(1000, func() {
		_, sp := tr.StartRequest(ctx, get)
		sp.Child("auth").End(0)
		sp.End(200)
	})
	if n != 0 {
		t.Fatalf("%v allocations per request with tracing off", n)
	}
}

func TestNewRejectsBadEndpoint(t *testing.T) {
	if _, err := New(config.Tracing{OTLPEndpoint: "collector:4318"}); err == nil {
		t.Fatal("endpoint without scheme accepted")
	}
	tr, err := New(config.Tracing{OTLPEndpoint: "http://127.0.0.1:4318"})
	if err != nil || !tr.Enabled() {
		t.Fatalf("valid endpoint: %v", err)
	}
	_ = tr.Shutdown(context.Background())
}

func TestParseTraceparent(t *testing.T) {
	cases := map[string]bool{
		incoming: true,
		"00-" + incomingTrace + "-" + incomingParent + "-00":                  true,
		"01-" + incomingTrace + "-" + incomingParent + "-01-future":           true,
		"00-" + incomingTrace + "-" + incomingParent + "-01-extra":            false,
		"ff-" + incomingTrace + "-" + incomingParent + "-01":                  false,
		"00-00000000000000000000000000000000-" + incomingParent + "-01":       false,
		"00-" + incomingTrace + "-0000000000000000-01":                        false,
		"00-" + strings.ToUpper(incomingTrace) + "-" + incomingParent + "-01": false,
		"garbage": false,
		"":        false,
	}
	for in, ok := range cases {
		if _, err := parseTraceparent(in); (err == nil) != ok {
			t.Errorf("%q: err %v, want ok=%v", in, err, ok)
		}
	}
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add(incoming)
	f.Add("01-" + incomingTrace + "-" + incomingParent + "-01-x")
	f.Add("00-zz")
	f.Fuzz(func(t *testing.T, s string) {
		rc, err := parseTraceparent(s)
		if err != nil {
			return
		}
		var out string
		rc.inject(SetterFunc(func(k, v string) {
			if k == HeaderTraceparent {
				out = v
			}
		}))
		back, err := parseTraceparent(out)
		if err != nil || back.traceID != rc.traceID {
			t.Fatalf("re-injected %q does not parse back: %v", out, err)
		}
	})
}

func BenchmarkStartRequestOff(b *testing.B) {
	tr, _ := New(config.Tracing{})
	get := headers()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, sp := tr.StartRequest(ctx, get)
		sp.End(200)
	}
}
