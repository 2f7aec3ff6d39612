// Package tracing gives the gateway OpenTelemetry spans and W3C trace
// context propagation (traceparent / tracestate).
//
// Tracing on (an OTLP endpoint is configured): one server span per request,
// child spans for auth, limit and upstream, exported over OTLP/HTTP in
// batches, sampled parent-based with the configured ratio.
//
// Tracing off: no SDK, no spans, no exporter. Propagation still works: an
// incoming traceparent is passed to the upstream with the same trace id,
// the same flags and a fresh parent span id (the gateway is a hop even when
// it records nothing), and tracestate is passed through. A request without
// traceparent gets none injected, and costs no allocation at all.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// Header names of W3C Trace Context.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// Tracer starts request spans. The zero value is not usable; call New.
type Tracer struct {
	provider *sdktrace.TracerProvider // nil when tracing is off
	tracer   trace.Tracer
	prop     propagation.TraceContext
}

// New builds the tracer for cfg. With cfg.OTLPEndpoint empty it is the
// no-op, pass-through tracer. SampleRatio 0 (unset) means 1: every trace.
func New(cfg config.Tracing) (*Tracer, error) {
	if cfg.OTLPEndpoint == "" {
		return &Tracer{}, nil
	}
	u, err := url.Parse(cfg.OTLPEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("tracing: otlp_endpoint %q must be an http(s) URL such as http://collector:4318", cfg.OTLPEndpoint)
	}
	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(exportURL(u)))
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	return newWith(cfg, sdktrace.WithBatcher(exp)), nil
}

// exportURL adds the standard OTLP/HTTP traces path when the endpoint has none.
func exportURL(u *url.URL) string {
	if u.Path == "" || u.Path == "/" {
		c := *u
		c.Path = "/v1/traces"
		return c.String()
	}
	return u.String()
}

// NewWithExporter is New with a given exporter, synchronously fed (tests,
// or an integrator that wants another exporter).
func NewWithExporter(cfg config.Tracing, exp sdktrace.SpanExporter) *Tracer {
	return newWith(cfg, sdktrace.WithSyncer(exp))
}

func newWith(cfg config.Tracing, processor sdktrace.TracerProviderOption) *Tracer {
	ratio := cfg.SampleRatio
	if ratio <= 0 || ratio > 1 {
		ratio = 1
	}
	name := cfg.ServiceName
	if name == "" {
		name = "tollgate"
	}
	tp := sdktrace.NewTracerProvider(
		processor,
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", name))),
	)
	return &Tracer{provider: tp, tracer: tp.Tracer("github.com/tollgate-dev/tollgate")}
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracer) Enabled() bool { return t.provider != nil }

// Shutdown flushes pending spans (call on gateway shutdown).
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// StartRequest begins the span of one request, continuing the trace in the
// request's traceparent/tracestate (read through h) when there is one.
func (t *Tracer) StartRequest(ctx context.Context, h Getter) (context.Context, *Span) {
	if t.provider == nil {
		return ctx, passThrough(h)
	}
	ctx = t.prop.Extract(ctx, getCarrier{h})
	ctx, sp := t.tracer.Start(ctx, "request", trace.WithSpanKind(trace.SpanKindServer))
	return ctx, &Span{t: t, ctx: ctx, span: sp}
}

// Getter reads request headers ("" when absent). Headers are passed as an
// interface rather than a method value so the hot path allocates no closure.
type Getter interface{ Get(name string) string }

// Setter sets upstream request headers.
type Setter interface{ Set(name, value string) }

// GetterFunc and SetterFunc adapt functions (tests, callers without a header type).
type (
	GetterFunc func(name string) string
	SetterFunc func(name, value string)
)

func (f GetterFunc) Get(name string) string { return f(name) }
func (f SetterFunc) Set(name, value string) { f(name, value) }

// getCarrier adapts a header getter to the propagator's carrier (read only).
type getCarrier struct{ Getter }

func (g getCarrier) Set(string, string) {}
func (g getCarrier) Keys() []string     { return nil }

// setCarrier adapts a header setter (write only).
type setCarrier struct{ Setter }

func (s setCarrier) Get(string) string { return "" }
func (s setCarrier) Keys() []string    { return nil }

// Span is a request span or one of its children. Methods on a nil *Span do nothing.
type Span struct {
	t    *Tracer
	ctx  context.Context
	span trace.Span // nil when tracing is off
	pass *remoteContext
}

// noop is shared by every untraced request with tracing off: no allocation.
var noop = &Span{}

// Child starts a child span ("auth", "limit", "upstream"). Inject on the
// "upstream" child to give the upstream that span as its parent.
func (s *Span) Child(name string) *Span {
	if s == nil || s.span == nil {
		return s
	}
	kind := trace.SpanKindInternal
	if name == "upstream" {
		kind = trace.SpanKindClient
	}
	ctx, sp := s.t.tracer.Start(s.ctx, name, trace.WithSpanKind(kind))
	return &Span{t: s.t, ctx: ctx, span: sp}
}

// Context is the span's context (carries the span for further children).
func (s *Span) Context() context.Context {
	if s == nil || s.ctx == nil {
		return context.Background()
	}
	return s.ctx
}

// Inject writes traceparent (same trace id, this span's id as the new
// parent) and tracestate for the upstream request.
func (s *Span) Inject(set Setter) {
	switch {
	case s == nil:
	case s.span != nil:
		s.t.prop.Inject(s.ctx, setCarrier{set})
	case s.pass != nil:
		s.pass.inject(set)
	}
}

// SetAttributes records attributes on the span (route, consumer ...); a no-op when off.
func (s *Span) SetAttributes(kv ...attribute.KeyValue) {
	if s != nil && s.span != nil {
		s.span.SetAttributes(kv...)
	}
}

// End finishes the span with the response status; 5xx marks it as an error.
func (s *Span) End(status int) {
	if s == nil || s.span == nil {
		return
	}
	if status > 0 {
		s.span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if status >= 500 {
		s.span.SetStatus(codes.Error, "")
	}
	s.span.End()
}

// TraceID is the request's trace id in hex, "" when there is none.
func (s *Span) TraceID() string {
	switch {
	case s == nil:
		return ""
	case s.span != nil:
		if sc := s.span.SpanContext(); sc.HasTraceID() {
			return sc.TraceID().String()
		}
	case s.pass != nil:
		return s.pass.traceID.String()
	}
	return ""
}

var errBadTraceparent = errors.New("malformed traceparent")

// Recording reports whether the span records (tracing on and sampled in);
// callers skip per-request work for child spans otherwise.
func (s *Span) Recording() bool { return s != nil && s.span != nil && s.span.IsRecording() }
