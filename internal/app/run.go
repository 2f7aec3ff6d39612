package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tollgate-dev/tollgate/internal/server"
)

func (a *App) listen() error {
	ln, err := net.Listen("tcp", a.node.Listen.Proxy)
	if err != nil {
		return fmt.Errorf("proxy listener %s: %w", a.node.Listen.Proxy, err)
	}
	a.proxyLn = ln
	a.closers = append(a.closers, func() { _ = ln.Close() })
	if err := a.listenTLS(); err != nil {
		return err
	}
	if err := a.startAdmin(); err != nil {
		return err
	}
	go func() { _ = a.srv.Serve(ln) }()
	return nil
}

func (a *App) listenTLS() error {
	t := a.node.TLS
	if t == nil || t.Cert == "" || a.node.Listen.TLS == "" {
		return nil
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	ln, err := net.Listen("tcp", a.node.Listen.TLS)
	if err != nil {
		return fmt.Errorf("tls listener %s: %w", a.node.Listen.TLS, err)
	}
	a.tlsLn = ln
	a.closers = append(a.closers, func() { _ = ln.Close() })
	// Client certificates are requested, never required here: each route's
	// mtls policy verifies against its own CA.
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}
	go func() { _ = a.srv.ServeTLS(ln, conf) }()
	return nil
}

// Run serves until ctx ends or SIGTERM/SIGINT, reloading on SIGHUP and when
// the config file changes, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	bg, cancel := context.WithCancel(context.Background())
	a.cancelBg = cancel
	go a.mgr.Run(bg)
	if a.opts.Ready != nil {
		a.opts.Ready(a)
	}
	sigs := a.sigs
	changes := a.watch(bg)
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
	changed, err := a.Reload()
	switch {
	case err != nil:
		a.log.Error("config reload refused; the previous config keeps serving", "trigger", why, "errors", err.Error())
	case changed:
		rev, hash, _ := a.mgr.Current()
		a.log.Info("config reloaded", "trigger", why, "revision", rev, "hash", short(hash))
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
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
// deadline, then releases everything.
func (a *App) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.node.Server.ShutdownTimeout.D())
	defer cancel()
	err := a.srv.Shutdown(ctx)
	if a.admin != nil {
		_ = a.admin.srv.Shutdown(ctx)
	}
	a.tel.close(ctx, a.log)
	if a.cancelBg != nil {
		a.cancelBg()
	}
	a.close()
	// Connections cut at the drain deadline are a warning, not a failure:
	// the gateway did what server.shutdown_timeout asks, and exits 0.
	var cut *server.DrainError
	if errors.As(err, &cut) {
		a.log.Warn("shutdown deadline passed; closed the connections still open",
			"deadline", a.node.Server.ShutdownTimeout.D().String(), "connections_closed", cut.Closed)
		return nil
	}
	return err
}
