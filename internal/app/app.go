// Package app wires tollgate's parts into one running gateway: node settings,
// store, credential cache, control plane (config revisions), compile, proxy
// and admin listeners, reload on SIGHUP and file change, graceful shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate-dev/tollgate/internal/compile"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/controlplane"
	"github.com/tollgate-dev/tollgate/internal/counters"
	"github.com/tollgate-dev/tollgate/internal/credentials"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/ratelimit"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/server"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/internal/upstream"
	"github.com/tollgate-dev/tollgate/internal/versioning"
)

// Version is reported by /status; cmd/tollgate sets it from its ldflags.
var Version = "dev"

// Options say where the config comes from.
type Options struct {
	// ConfigPath is the node's file; "" with Document set means an in-memory
	// document (the quickstart).
	ConfigPath string
	Document   []byte
	Log        *slog.Logger
	// Ready, when set, is called once the listeners are bound.
	Ready func(a *App)
}

// App is one running gateway node.
type App struct {
	opts     Options
	log      *slog.Logger
	started  time.Time
	node     *config.Config
	st       store.Store
	creds    *credentials.Cache
	ctr      counters.Counters
	registry *upstream.Registry
	state    *compile.State
	mgr      *controlplane.Manager
	gw       *runtime.Gateway
	srv      *server.Server
	admin    *adminListener
	tel      *telemetry
	proxyLn  net.Listener
	tlsLn    net.Listener
	sigs     chan os.Signal // SIGHUP, SIGTERM, SIGINT, read by Run

	mu    sync.Mutex // serialises Apply
	pools map[string]*upstream.Pool
	cfg   *config.Config

	cancelBg context.CancelFunc
	closers  []func()
}

// New opens the store, boots the config (from the file, or the store's latest
// revision for a node file without routes) and binds the listeners.
func New(opts Options) (_ *App, err error) {
	a := &App{opts: opts, log: opts.Log, started: time.Now(), registry: upstream.NewRegistry(opts.Log), state: compile.NewState()}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	a.closers = append(a.closers, a.registry.Close)
	raw, source, err := a.source()
	if err != nil {
		return nil, err
	}
	if a.node, err = config.Parse(raw, source); err != nil {
		return nil, err
	}
	if err := a.openState(); err != nil {
		return nil, err
	}
	if err := a.openTelemetry(); err != nil {
		return nil, err
	}
	a.mgr = controlplane.New(a.st, a, a.node, a.log)
	if err := a.mgr.Boot(context.Background(), raw, source); err != nil {
		return nil, err
	}
	a.gw.SetTracer(a.tel.tracer)
	a.gw.SetObserver(a.tel)
	a.srv = server.New(a.gw, a.node.Server, a.log)
	// Signals are caught from before the listeners open, not from when Run
	// starts: a SIGTERM sent as soon as the proxy answers (a supervisor, a
	// test) shuts down gracefully instead of killing the process.
	a.sigs = make(chan os.Signal, 4)
	signal.Notify(a.sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	a.closers = append(a.closers, func() { signal.Stop(a.sigs) })
	if err := a.listen(); err != nil {
		return nil, err
	}
	return a, nil
}

func (a *App) source() ([]byte, string, error) {
	if a.opts.ConfigPath == "" {
		return a.opts.Document, "quickstart", nil
	}
	raw, err := os.ReadFile(a.opts.ConfigPath)
	if err != nil {
		return nil, "", fmt.Errorf("read config: %w", err)
	}
	return raw, a.opts.ConfigPath, nil
}

// openState opens the store and the in-memory credential cache over it.
func (a *App) openState() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.OpenWith(ctx, a.node.Store, store.Options{Log: a.log})
	if err != nil {
		return fmt.Errorf("store %s: %w", redact(a.node.Store), err)
	}
	a.st = st
	a.closers = append(a.closers, func() { _ = st.Close() })
	creds, err := credentials.New(ctx, st, a.log)
	if err != nil {
		return fmt.Errorf("credential cache: %w", err)
	}
	a.creds = creds
	a.closers = append(a.closers, creds.Close)
	return a.openCounters()
}

// openCounters opens the rate-limit/quota backend. In memory, quota counts
// are snapshotted so a restart does not reset them: to the DSN's
// ?snapshot=PATH when given, else to counters.json in the data directory;
// Redis keeps them itself.
func (a *App) openCounters() error {
	snap := filepath.Join(dataDir(a.node.Store), "counters.json")
	ctr, err := counters.Open(a.node.Counters, a.log, counters.WithDefaultSnapshot(snap))
	if err != nil {
		return fmt.Errorf("counters %s: %w", redact(a.node.Counters), err)
	}
	a.ctr = ctr
	a.closers = append(a.closers, func() { _ = ctr.Close() })
	return nil
}

// dataDir is where node-local state lives: next to the SQLite file, else
// ./tollgate-data.
func dataDir(storeDSN string) string {
	if p, ok := strings.CutPrefix(storeDSN, "sqlite://"); ok {
		return filepath.Dir(p)
	}
	return "tollgate-data"
}

// Apply puts cfg live: update the upstream pools, compile, swap. It is the
// control plane's Applier; an error leaves the running table untouched.
func (a *App) Apply(cfg *config.Config) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	pools, err := a.registry.Update(cfg.Services)
	if err != nil {
		a.tel.metrics.ConfigReloaded(err)
		return err
	}
	t, err := compile.Compile(cfg, a.env(pools, cfg.Plans))
	a.tel.metrics.ConfigReloaded(err)
	if err != nil {
		if a.cfg != nil {
			_, _ = a.registry.Update(a.cfg.Services) // keep the running pools alive
		}
		return err
	}
	if a.gw == nil {
		a.gw = runtime.NewGateway(t, a.log)
	} else {
		a.gw.Swap(t)
	}
	a.cfg, a.pools = cfg, pools
	a.seedConsumers(cfg)
	return nil
}

// planHandler enforces the authenticated consumer's plan limits; nil
// (nothing to enforce) when the config defines no plans.
func (a *App) planHandler(list []config.Plan) policy.Handler {
	if len(list) == 0 {
		return nil
	}
	plans := make(map[string]config.Plan, len(list))
	for _, p := range list {
		plans[p.Name] = p
	}
	return ratelimit.NewPlanHandler(plans, a.ctr)
}

func (a *App) env(pools map[string]*upstream.Pool, plans []config.Plan) compile.Env {
	return compile.Env{
		Pools: pools,
		State: a.state,
		Services: map[string]any{
			"credentials": a.creds,
			"consumers":   a.creds,
			"counters":    a.ctr,
		},
		PlanHandler: a.planHandler(plans),
		NewVersions: func(v *config.Versions) (runtime.VersionSelector, error) {
			return versioning.New(v, time.Now)
		},
	}
}

// seedConsumers creates the config's seed consumers that do not exist yet.
func (a *App) seedConsumers(cfg *config.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, c := range cfg.Consumers {
		if _, err := a.st.GetConsumer(ctx, c.Name); err == nil || !errors.Is(err, store.ErrNotFound) {
			continue
		}
		sc := &store.Consumer{Name: c.Name, Plan: c.Plan, Groups: c.Groups, Metadata: c.Metadata}
		if err := a.st.CreateConsumer(ctx, sc); err != nil && !errors.Is(err, store.ErrConflict) {
			a.log.Warn("could not create seed consumer", "consumer", c.Name, "err", err)
		}
	}
}

// ProxyAddr is the bound proxy address (useful with port 0 in tests).
func (a *App) ProxyAddr() string { return a.proxyLn.Addr().String() }

// TLSAddr is the bound TLS proxy address, "" when TLS is off.
func (a *App) TLSAddr() string {
	if a.tlsLn == nil {
		return ""
	}
	return a.tlsLn.Addr().String()
}

// AdminAddr is the bound admin address, "" when the admin listener is off.
func (a *App) AdminAddr() string {
	if a.admin == nil {
		return ""
	}
	return a.admin.ln.Addr().String()
}

// Gateway exposes the live gateway (tests).
func (a *App) Gateway() *runtime.Gateway { return a.gw }

// Store exposes the store (the quickstart creates its demo consumer).
func (a *App) Store() store.Store { return a.st }

// Reload re-reads the node's file and applies it through the control plane
// (a new revision when its document changed). A bad file is refused and the
// running config keeps serving. It reports whether anything changed.
func (a *App) Reload() (bool, error) {
	if a.opts.ConfigPath == "" {
		return false, nil
	}
	raw, source, err := a.source()
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, changed, err := a.mgr.ApplyFile(ctx, raw, source)
	return changed, err
}

// redact hides the credentials of a DSN ("scheme://user:pass@host") in messages.
func redact(dsn string) string {
	at := strings.LastIndexByte(dsn, '@')
	scheme := strings.Index(dsn, "://")
	if at < 0 || scheme < 0 || scheme+3 > at {
		return dsn
	}
	return dsn[:scheme+3] + "***" + dsn[at:]
}

// close releases everything opened so far, newest first.
func (a *App) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}
