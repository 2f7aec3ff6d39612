package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/tollgate-dev/tollgate/internal/admin"
	"github.com/tollgate-dev/tollgate/internal/analytics"
	"github.com/tollgate-dev/tollgate/internal/policy/cache"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

type adminListener struct {
	ln  net.Listener
	srv *http.Server
}

// startAdmin binds the admin API. A non-loopback address without a token
// is refused (SPEC §2).
func (a *App) startAdmin() error {
	addr := a.node.Listen.Admin
	if addr == "" {
		return nil
	}
	if a.node.Admin.Token == "" && !loopback(addr) {
		return errors.New("the admin listener " + addr + " is not a loopback address and admin.token is empty; set admin.token or bind 127.0.0.1")
	}
	h, err := admin.New(admin.Options{
		Token:   a.node.Admin.Token,
		Version: Version,
		Started: a.started,
		Store:   a.st,
		Config:  a.mgr,
		Table:   func() *runtime.Table { return a.gw.Table() },
		Pools:   a.livePools,
		Health:  a.health,
		Extra:   a.adminExtras(),
		Refresh: a.creds.Refresh,
		Log:     a.log,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin listener %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	a.admin = &adminListener{ln: ln, srv: srv}
	a.closers = append(a.closers, func() { _ = srv.Close() })
	go func() { _ = srv.Serve(ln) }()
	return nil
}

func (a *App) livePools() map[string]*upstream.Pool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pools
}

func (a *App) health() map[string]admin.ComponentHealth {
	up, detail, since := a.mgr.Health()
	cup, csince, cerr := a.ctr.Health()
	cdetail := "ok"
	if !cup {
		cdetail = "down: " + cerr + " (rate limits use the per-node fallback)"
	}
	return map[string]admin.ComponentHealth{
		"store":    {Up: up, Detail: detail, Since: since},
		"counters": {Up: cup, Detail: cdetail, Since: csince},
	}
}

// adminExtras are the routes other parts mount on the admin listener.
func (a *App) adminExtras() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /cache/purge": http.HandlerFunc(purgeCache),
		"GET /metrics":      a.tel.metrics.Handler(),
		"GET /usage":        analytics.UsageHandler(a.tel.udb),
		"GET /ui/analytics": analytics.AnalyticsPage(a.tel.udb),
		// Go's profiler, behind the admin token like every admin route.
		"GET /debug/pprof/":          http.HandlerFunc(pprof.Index),
		"GET /debug/pprof/profile":   http.HandlerFunc(pprof.Profile),
		"GET /debug/pprof/heap":      pprof.Handler("heap"),
		"GET /debug/pprof/allocs":    pprof.Handler("allocs"),
		"GET /debug/pprof/goroutine": pprof.Handler("goroutine"),
	}
}

// purgeCache drops cached responses of a route ("" = every route) under a
// path prefix: POST /cache/purge {"route": "orders", "prefix": "/v1/orders"}.
func purgeCache(w http.ResponseWriter, r *http.Request) {
	var in struct{ Route, Prefix string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil && err != io.EOF {
		problem.BadRequest("the body must be JSON: {\"route\": ..., \"prefix\": ...}").Write(w, "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"purged": cache.Purge(in.Route, in.Prefix)})
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
