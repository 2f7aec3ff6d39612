package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// recorder is a fake Applier that records every config it was given and can
// be told to refuse.
type recorder struct {
	mu      sync.Mutex
	applied []*config.Config
	refuse  error
}

func (r *recorder) Apply(cfg *config.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse != nil {
		return r.refuse
	}
	r.applied = append(r.applied, cfg)
	return nil
}

func (r *recorder) setRefuse(err error) {
	r.mu.Lock()
	r.refuse = err
	r.mu.Unlock()
}

// live is the name of the first route of the config last applied ("" if none).
func (r *recorder) live() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		return ""
	}
	c := r.applied[len(r.applied)-1]
	if len(c.Routes) == 0 {
		return "-"
	}
	return c.Routes[0].Name
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.applied)
}

// docFor is a valid document with one service and one route named route.
func docFor(route string) []byte {
	return fmt.Appendf(nil, `services:
  - name: orders
    targets: ["http://127.0.0.1:9001"]
routes:
  - name: %s
    service: orders
    match: { paths: ["/v1/%s"] }
`, route, route)
}

func nodeConfig(t testing.TB, proxy string) *config.Config {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, "listen: { proxy: %q, admin: \"127.0.0.1:0\" }\n", proxy), "node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func openStore(t testing.TB, dsn string) store.Store {
	t.Helper()
	st, err := store.OpenWith(context.Background(), dsn, store.Options{Log: quietLog()})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runManager starts m.Run until the test ends.
func runManager(t testing.TB, m *Manager) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// eventually polls cond every 10 ms until it holds or within passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var errRefused = errors.New("route orders: upstream pool failed to build")
