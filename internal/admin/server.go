// Package admin is tollgate's admin listener: the REST admin API (SPEC §6),
// its own OpenAPI document and the server-rendered admin dashboard under /ui.
//
// Every route is declared once, in endpoints(); the mux, the auth rules and
// GET /openapi.json are all derived from that one table.
package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// ConfigManager is the config revisions manager (internal/controlplane).
type ConfigManager interface {
	// Current is the running revision; doc is the YAML config document.
	Current() (rev int64, hash string, doc []byte)
	// Apply validates doc, stores it as a revision and puts it live. err may be
	// a config.ErrorList, which the API answers as a 400 listing every error.
	Apply(ctx context.Context, doc []byte, author, source string) (rev int64, changed bool, err error)
	// AttachFiles fills a sent document's attachments: with the files it
	// names that exist on this node (controlplane.Attach); err may be a
	// config.ErrorList (a file too large to attach).
	AttachFiles(doc []byte, source string) ([]byte, error)
	Rollback(ctx context.Context, n int64, author string) (rev int64, err error)
	Revisions(ctx context.Context, cursor string, limit int) ([]store.ConfigRevision, string, error)
	Revision(ctx context.Context, n int64) (*store.ConfigRevision, error)
}

// ComponentHealth is one dependency's state as /status shows it.
type ComponentHealth struct {
	Up     bool      `json:"up"`
	Detail string    `json:"detail,omitempty"`
	Since  time.Time `json:"since,omitzero"`
}

// Options wire the admin server to the rest of the gateway.
type Options struct {
	// Token is the admin bearer token; "" leaves every route open (the
	// integrator refuses to bind a non-loopback address without one).
	Token   string
	Version string
	Started time.Time
	Store   store.Store
	Config  ConfigManager
	// Table is the live table: routes, compiled chains, services.
	Table func() *runtime.Table
	// Pools gives target health per service (optional).
	Pools func() map[string]*upstream.Pool
	// Health reports components such as "store" and "counters" (optional).
	Health func() map[string]ComponentHealth
	// Extra mounts more routes, keyed by a net/http pattern such as
	// "GET /metrics" or "GET /ui/analytics". Paths under /ui need a UI
	// session (or the bearer token); /metrics is open to loopback clients.
	Extra map[string]http.Handler
	// Refresh (optional) reloads one consumer into this node's credential
	// cache; called after every consumer, key or basic-auth change.
	Refresh func(ctx context.Context, consumerID string)
	Log     *slog.Logger
}

// Server is the admin listener's http.Handler.
type Server struct {
	o         Options
	mux       *http.ServeMux
	eps       []endpoint
	sessions  sessionKeys
	ui        *uiPages
	writeLock sync.Mutex // serialises compare-then-write (If-Match) on this node
}

// New builds the admin server. Store, Config and Table are required.
func New(o Options) (*Server, error) {
	switch {
	case o.Store == nil:
		return nil, errors.New("admin: Options.Store is required")
	case o.Config == nil:
		return nil, errors.New("admin: Options.Config is required")
	case o.Table == nil:
		return nil, errors.New("admin: Options.Table is required")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Started.IsZero() {
		o.Started = time.Now()
	}
	s := &Server{o: o, mux: http.NewServeMux()}
	if err := s.sessions.init(); err != nil {
		return nil, err
	}
	ui, err := newUIPages()
	if err != nil {
		return nil, err
	}
	s.ui = ui
	s.eps = s.endpoints()
	if err := s.register(); err != nil {
		return nil, err
	}
	return s, nil
}

// register mounts every endpoint; a bad or clashing Extra pattern is an
// error, not a panic.
func (s *Server) register() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("admin: cannot mount routes: %v", r)
		}
	}()
	for _, ep := range s.eps {
		s.mux.Handle(ep.Method+" "+ep.Path, s.guard(ep))
	}
	return nil
}

// Patterns lists every registered "METHOD /path" pattern, in table order.
func (s *Server) Patterns() []string {
	out := make([]string, len(s.eps))
	for i, ep := range s.eps {
		out[i] = ep.Method + " " + ep.Path
	}
	return out
}

// ServeHTTP routes the request; unknown paths and methods get problem bodies.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rid := requestID(r)
	w.Header().Set("X-Request-ID", rid)
	r = r.WithContext(context.WithValue(r.Context(), ridKey{}, rid))
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.unrouted(w, r)
}

// unrouted answers 401 (before revealing anything), 405 with Allow, or 404.
func (s *Server) unrouted(w http.ResponseWriter, r *http.Request) {
	if !s.bearerOK(r) {
		s.fail(w, r, unauthorized())
		return
	}
	if allow := s.allowed(r); allow != "" {
		s.fail(w, r, newProblem(http.StatusMethodNotAllowed, "this path does not accept "+r.Method).With("Allow", allow))
		return
	}
	s.fail(w, r, notFound("no admin endpoint at "+r.URL.Path))
}

// allowed lists the methods the mux would accept for r's path.
func (s *Server) allowed(r *http.Request) string {
	var allow string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			if allow != "" {
				allow += ", "
			}
			allow += m
		}
	}
	return allow
}

type ridKey struct{}

// requestID keeps a sane client-sent X-Request-ID, else makes one.
func requestID(r *http.Request) string {
	if v := r.Header.Get("X-Request-ID"); saneID(v) {
		return v
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func saneID(v string) bool {
	if v == "" || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func ridOf(r *http.Request) string {
	v, _ := r.Context().Value(ridKey{}).(string)
	return v
}
