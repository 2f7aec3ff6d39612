// Package app wires tollgate's parts into one running gateway: config load,
// compile, listeners, reload on SIGHUP and file change, graceful shutdown.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tollgate-dev/tollgate/internal/compile"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/server"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// Options say where the config comes from.
type Options struct {
	// ConfigPath is the config file; "" with Document set means an in-memory
	// document (the quickstart).
	ConfigPath string
	Document   []byte
	Log        *slog.Logger
	// Ready, when set, is called once the listeners are bound.
	Ready func(a *App)
}

// App is one running gateway.
type App struct {
	opts     Options
	log      *slog.Logger
	registry *upstream.Registry
	state    *compile.State
	gw       *runtime.Gateway
	srv      *server.Server
	cfg      *config.Config
	mu       sync.Mutex // serialises reloads
	proxyLn  net.Listener
	tlsLn    net.Listener
}

// New loads and compiles the config and binds the listeners.
func New(opts Options) (*App, error) {
	a := &App{opts: opts, log: opts.Log, registry: upstream.NewRegistry(opts.Log), state: compile.NewState()}
	cfg, err := a.load()
	if err != nil {
		return nil, err
	}
	t, err := a.compile(cfg)
	if err != nil {
		a.registry.Close()
		return nil, err
	}
	a.cfg = cfg
	a.gw = runtime.NewGateway(t, a.log)
	a.srv = server.New(a.gw, cfg.Server, a.log)
	if err := a.listen(cfg); err != nil {
		a.registry.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) load() (*config.Config, error) {
	var (
		cfg *config.Config
		err error
	)
	if a.opts.ConfigPath != "" {
		cfg, err = config.Load(a.opts.ConfigPath)
	} else {
		cfg, err = config.Parse(a.opts.Document, "quickstart")
	}
	if err != nil {
		return nil, err
	}
	cfg.Defaults()
	return cfg, nil
}

func (a *App) compile(cfg *config.Config) (*runtime.Table, error) {
	pools, err := a.registry.Update(cfg.Services)
	if err != nil {
		return nil, err
	}
	return compile.Compile(cfg, compile.Env{Pools: pools, State: a.state, Services: map[string]any{}})
}

func (a *App) listen(cfg *config.Config) error {
	ln, err := net.Listen("tcp", cfg.Listen.Proxy)
	if err != nil {
		return fmt.Errorf("proxy listener %s: %w", cfg.Listen.Proxy, err)
	}
	a.proxyLn = ln
	if cfg.TLS != nil && cfg.Listen.TLS != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls: %w", err)
		}
		tln, err := net.Listen("tcp", cfg.Listen.TLS)
		if err != nil {
			ln.Close()
			return fmt.Errorf("tls listener %s: %w", cfg.Listen.TLS, err)
		}
		a.tlsLn = tln
		go func() {
			_ = a.srv.ServeTLS(tln, &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert})
		}()
	}
	go func() { _ = a.srv.Serve(ln) }()
	return nil
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

// Gateway exposes the live gateway (admin API, tests).
func (a *App) Gateway() *runtime.Gateway { return a.gw }

// Reload re-reads the config; a bad document is refused and the old one
// keeps serving. It reports whether a new table went live.
func (a *App) Reload() (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg, err := a.load()
	if err != nil {
		return false, err
	}
	if cfg.Hash() == a.cfg.Hash() {
		return false, nil
	}
	if cfg.Listen != a.cfg.Listen {
		a.log.Warn("listener changes need a restart; keeping the current listeners")
	}
	t, err := a.compile(cfg)
	if err != nil {
		_, _ = a.registry.Update(a.cfg.Services) // keep the old pools alive
		return false, err
	}
	a.gw.Swap(t)
	a.cfg = cfg
	return true, nil
}

// Run serves until ctx ends or SIGTERM/SIGINT, reloading on SIGHUP and when
// the config file changes, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	if a.opts.Ready != nil {
		a.opts.Ready(a)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	changes := a.watch(ctx)
	for {
		select {
		case <-ctx.Done():
			return a.Shutdown()
		case s := <-sigs:
			if s != syscall.SIGHUP {
				a.log.Info("shutting down", "signal", s.String())
				return a.Shutdown()
			}
			a.reloadAndLog("SIGHUP")
		case <-changes:
			a.reloadAndLog("file change")
		}
	}
}

func (a *App) reloadAndLog(why string) {
	ok, err := a.Reload()
	switch {
	case err != nil:
		a.log.Error("config reload refused; the previous config keeps serving", "trigger", why, "errors", err.Error())
	case ok:
		a.log.Info("config reloaded", "trigger", why, "hash", a.cfg.Hash()[:12])
	}
}

// watch reports changes of the config file (editors replace files, so the
// directory is watched), debounced.
func (a *App) watch(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	if a.opts.ConfigPath == "" {
		return out
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		a.log.Warn("config file watching is off", "err", err)
		return out
	}
	abs, _ := filepath.Abs(a.opts.ConfigPath)
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return out
	}
	go func() {
		defer w.Close()
		var debounce <-chan time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-w.Events:
				if p, _ := filepath.Abs(ev.Name); p == abs {
					debounce = time.After(200 * time.Millisecond)
				}
			case <-w.Errors:
			case <-debounce:
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}

// Shutdown stops accepting, drains in-flight requests within the configured
// deadline, and releases upstream pools.
func (a *App) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Server.ShutdownTimeout.D())
	defer cancel()
	err := a.srv.Shutdown(ctx)
	a.registry.Close()
	if errors.Is(err, context.DeadlineExceeded) {
		a.log.Warn("shutdown deadline passed with requests still running")
		return nil
	}
	return err
}
