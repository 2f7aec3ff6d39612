package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tollgate-dev/tollgate/internal/accesslog"
	"github.com/tollgate-dev/tollgate/internal/analytics"
	"github.com/tollgate-dev/tollgate/internal/analytics/usagedb"
	"github.com/tollgate-dev/tollgate/internal/metrics"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/tracing"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// telemetry is what watches traffic: Prometheus metrics, the usage pipeline
// (billing-grade counts), the access log and tracing. It is the gateway's
// runtime.Observer; everything it does per request is non-blocking.
type telemetry struct {
	metrics *metrics.Metrics
	usage   *analytics.Pipeline
	udb     *usagedb.DB
	access  *accesslog.Log
	tracer  *tracing.Tracer
}

// openTelemetry builds the observers from the node's config. Node settings
// decide them (they are not part of a revision), so they are built once.
func (a *App) openTelemetry() error {
	cfg := a.node
	udb, err := usagedb.New(a.st.DB(), a.st.Dialect())
	if err != nil {
		return fmt.Errorf("usage store: %w", err)
	}
	tel := &telemetry{metrics: metrics.New(), udb: udb}
	if !cfg.Telemetry.Usage.Disabled {
		tel.usage = analytics.NewPipeline(udb, analytics.OptionsFor(cfg.Telemetry.Usage, dataDir(cfg.Store)), a.log)
		tel.metrics.SetUsageDroppedSource(tel.usage.Dropped)
	}
	if tel.access, err = accesslog.New(cfg.AccessLog); err != nil {
		return fmt.Errorf("access log: %w", err)
	}
	if tel.tracer, err = tracing.New(cfg.Telemetry.Tracing); err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	tel.metrics.SetBackendHealth("store", func() bool { up, _, _ := a.mgr.Health(); return up })
	tel.metrics.SetBackendHealth("counters", func() bool { up, _, _ := a.ctr.Health(); return up })
	tel.metrics.SetUpstreamSource(a.upstreamHealth)
	a.tel = tel
	return nil
}

func (a *App) upstreamHealth() []metrics.TargetHealth {
	var out []metrics.TargetHealth
	for name, p := range a.livePools() {
		for _, s := range p.Snapshot() {
			out = append(out, metrics.TargetHealth{Service: name, Target: s.URL, Healthy: usable(s), Ejections: s.Ejections})
		}
	}
	return out
}

func usable(s upstream.TargetStatus) bool {
	return s.Healthy && s.Breaker != "open" && !s.EjectedUntil.After(time.Now())
}

func (t *telemetry) Begin(runtime.Exchange) { t.metrics.RequestStarted() }

// Observe turns a finished request into one event for every consumer of it.
func (t *telemetry) Observe(ex runtime.Exchange) {
	b := ex.State()
	t.metrics.RequestFinished()
	ev := analytics.Event{
		Time: b.Start, Route: b.Info.Name, Method: ex.Method(), Status: b.Status,
		Latency: time.Since(b.Start), UpstreamLatency: b.UpstreamLatency,
		BytesIn: b.BytesIn, BytesOut: b.BytesOut, RequestID: b.ID, TraceID: b.Span.TraceID(),
	}
	if c := b.Cons; c != nil {
		ev.ConsumerID, ev.Plan = c.ID, c.Plan
	}
	t.metrics.Observe(&ev)
	t.countPolicyOutcomes(b)
	t.access.Log(&ev, b.Canon)
	// The request id lives in the exchange's memory (Base.ID: its id array
	// or its scratch memory), which the next request reuses; the usage
	// pipeline queues the event and never reads the id, so it gets none.
	ev.RequestID = ""
	t.usage.Emit(ev)
}

// countPolicyOutcomes reads what limit and cache policies added to the
// response headers (Base.Extra), so the policies need no dependency on
// metrics, and an upstream's own X-Cache header is never counted.
func (t *telemetry) countPolicyOutcomes(b *runtime.Base) {
	if b.Info.Name == "" {
		return
	}
	quotaSpent, cache := false, ""
	for _, kv := range b.Extra {
		switch kv[0] {
		case "X-Quota-Remaining":
			quotaSpent = kv[1] == "0"
		case "X-Cache":
			cache = kv[1]
		}
	}
	if b.Status == http.StatusTooManyRequests {
		if quotaSpent {
			t.metrics.QuotaExceeded(b.Info.Name)
		} else {
			t.metrics.RateLimited(b.Info.Name)
		}
	}
	switch cache {
	case "HIT":
		t.metrics.CacheHit(b.Info.Name)
	case "MISS":
		t.metrics.CacheMiss(b.Info.Name)
	}
}

// close flushes the usage queue (billing counts must survive a normal
// shutdown), the access log and pending spans.
func (t *telemetry) close(ctx context.Context, log *slog.Logger) {
	if err := t.usage.Close(ctx); err != nil {
		log.Error("usage events could not all be written", "err", err)
	}
	_ = t.access.Close()
	_ = t.tracer.Shutdown(ctx)
}
