package runtime

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/router"
	"github.com/tollgate-dev/tollgate/internal/tracing"
	"github.com/tollgate-dev/tollgate/internal/versioning"
)

// Observer sees every request start and finish (metrics, usage events,
// access log). It must not block: heavy work goes to a bounded queue.
type Observer interface {
	Begin(ex Exchange)
	Observe(ex Exchange)
}

// Gateway serves requests from the current table.
type Gateway struct {
	table    atomic.Pointer[Table]
	log      *slog.Logger
	observer atomic.Pointer[observerBox]
	tracer   *tracing.Tracer
}

type observerBox struct{ o Observer }

// NewGateway returns a gateway serving t.
func NewGateway(t *Table, log *slog.Logger) *Gateway {
	g := &Gateway{log: log}
	g.table.Store(t)
	return g
}

// Swap puts a new table live; requests already running keep the old one.
func (g *Gateway) Swap(t *Table) { g.table.Store(t) }

// Table is the live table.
func (g *Gateway) Table() *Table { return g.table.Load() }

// SetTracer installs the tracer; call before serving.
func (g *Gateway) SetTracer(t *tracing.Tracer) { g.tracer = t }

// SetObserver installs the request observer (nil removes it).
func (g *Gateway) SetObserver(o Observer) {
	if o == nil {
		g.observer.Store(nil)
		return
	}
	g.observer.Store(&observerBox{o})
}

// Observer returns the installed request observer (nil when none).
func (g *Gateway) Observer() Observer {
	if b := g.observer.Load(); b != nil {
		return b.o
	}
	return nil
}

// Handle runs one request: canonical path, route match, version, chain.
// The front end has already done the edge checks (request id, client IP,
// header hygiene); Handle never panics on client input and always answers.
func (g *Gateway) Handle(ex Exchange) {
	b := ex.State()
	t := g.table.Load()
	if g.tracer != nil {
		_, b.Span = g.tracer.StartRequest(ex.Context(), ex.Header())
	}
	if ob := g.observer.Load(); ob != nil {
		ob.o.Begin(ex)
	}
	if err := g.route(ex, b, t); err != nil {
		g.fail(ex, b, err)
	}
}

// Done is called by the front end once the response has been handed to the
// client writer; observers see the final status.
func (g *Gateway) Done(ex Exchange) {
	b := ex.State()
	b.Span.End(b.Status)
	if ob := g.observer.Load(); ob != nil {
		ob.o.Observe(ex)
	}
}

func (g *Gateway) route(ex Exchange, b *Base, t *Table) error {
	canon, err := router.Canonicalize(ex.RawPath())
	if err != nil {
		return problem.BadRequest("the request path is not acceptable: " + err.Error())
	}
	b.Canon = canon
	b.Limit = t.Limits.MaxBodyBytes
	r, err := g.match(ex, b, t)
	if err != nil {
		return err
	}
	if r.Versions != nil {
		if r, err = selectVersion(ex, b, r); err != nil {
			return err
		}
	}
	b.R = r
	b.Info = r.Info
	return r.Chain(ex)
}

func (g *Gateway) match(ex Exchange, b *Base, t *Table) (*Route, error) {
	h := ex.Header()
	host := ""
	if t.Router.UsesHost() {
		host = ex.Host() // normalising the host costs an allocation: only when a route needs it
	}
	id, pattern, params, status, allow := t.Router.Match(host, ex.Method(), b.Canon, h, b.P[:0])
	if status == http.StatusMethodNotAllowed && ex.Method() == http.MethodOptions {
		// A CORS preflight names the method it asks about; route it as that
		// method so the route's cors policy can answer it.
		if m := h.Get("Access-Control-Request-Method"); m != "" && h.Get("Origin") != "" {
			id, pattern, params, status, _ = t.Router.Match(host, m, b.Canon, h, b.P[:0])
		}
	}
	if status == http.StatusNotFound {
		id, pattern, params, status, allow = g.matchVersioned(ex, b, t, host, params)
	}
	b.P = params
	switch status {
	case 0:
		b.Info.Pattern = pattern
		return t.Routes[id], nil
	case http.StatusMethodNotAllowed:
		return nil, problem.New(status, "this route does not accept "+ex.Method()).
			With("Allow", strings.Join(allow, ", "))
	default:
		return nil, problem.NotFound("no route matches " + ex.Method() + " " + b.Canon)
	}
}

// matchVersioned retries a request whose first segment is an API version
// ("/v2/orders/7") without that segment, for routes versioned by path. The
// canonical path keeps the segment: the version selector reads it there.
func (g *Gateway) matchVersioned(ex Exchange, b *Base, t *Table, host string, params []policy.Param) (int, string, []policy.Param, int, []string) {
	_, rest, ok := versioning.SplitPath(b.Canon)
	if !ok {
		return -1, "", params, http.StatusNotFound, nil
	}
	id, pattern, params, status, allow := t.Router.Match(host, ex.Method(), rest, ex.Header(), params)
	if status == 0 && (t.Routes[id].Versions == nil || !t.Routes[id].Versions.PathBased()) {
		return -1, "", params, http.StatusNotFound, nil
	}
	return id, pattern, params, status, allow
}

func selectVersion(ex Exchange, b *Base, r *Route) (*Route, error) {
	v, stripped, err := r.Versions.Select(ex)
	if err != nil {
		return nil, err
	}
	vr := r.ByVersion[v]
	if vr == nil {
		return nil, problem.BadRequest("unknown API version " + v)
	}
	if stripped != "" {
		b.Canon = stripped
	}
	r.Versions.Decorate(ex, v)
	return vr, nil
}

// fail renders err unless a response was already committed to the client.
func (g *Gateway) fail(ex Exchange, b *Base, err error) {
	b.Err = err
	pe := problem.From(err)
	var keep *problem.Error
	if !errors.As(err, &keep) {
		g.log.Error("request failed", "request_id", b.ID, "route", b.Info.Name, "err", err)
	}
	if b.Committed {
		return
	}
	b.Status = pe.Status
	ex.WriteProblem(pe)
}

// Compose builds a chain: handlers run in order and the last calls final.
func Compose(handlers []policy.Handler, final policy.Next) policy.Next {
	next := final
	for i := len(handlers) - 1; i >= 0; i-- {
		h, n := handlers[i], next
		next = func(ex policy.Exchange) error { return h.Handle(ex, n) }
	}
	return next
}
