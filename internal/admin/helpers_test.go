package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/compile"
	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/controlplane"
	"github.com/tollgate-dev/tollgate/internal/runtime"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/internal/store/storetest"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

const testToken = "s3cret-admin-token"

const baseDoc = `services:
  - name: orders
    targets: ["http://127.0.0.1:9"]
routes:
  - name: orders-v1
    service: orders
    match: { paths: ["/v1/orders", "/v1/orders/{id}"], methods: [GET, POST] }
plans:
  - name: free
    rate_limit: { limit: 10, window: 1s }
  - name: gold
`

// fakeConfig is a small ConfigManager over the real store: it parses and
// compiles each document, keeps revisions in the store and swaps the table.
type fakeConfig struct {
	st    store.Store
	reg   *upstream.Registry
	mu    sync.Mutex
	rev   int64
	hash  string
	doc   []byte
	table atomic.Pointer[runtime.Table]
	pools atomic.Pointer[map[string]*upstream.Pool]
}

func (f *fakeConfig) Current() (int64, string, []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rev, f.hash, f.doc
}

func (f *fakeConfig) AttachFiles(doc []byte, source string) ([]byte, error) {
	return controlplane.Attach(doc, ".", source)
}

func (f *fakeConfig) Apply(ctx context.Context, doc []byte, author, source string) (int64, bool, error) {
	cfg, err := config.Parse(doc, source)
	if err != nil {
		return 0, false, err
	}
	pools, err := f.reg.Update(cfg.Services)
	if err != nil {
		return 0, false, err
	}
	t, err := compile.Compile(cfg, compile.Env{Pools: pools, State: compile.NewState(), Services: map[string]any{}})
	if err != nil {
		return 0, false, err
	}
	rev, created, err := f.st.PutConfigRevision(ctx, doc, t.Hash, author, source)
	if err != nil {
		return 0, false, err
	}
	f.mu.Lock()
	f.rev, f.hash, f.doc = rev, t.Hash, doc
	f.mu.Unlock()
	f.table.Store(t)
	f.pools.Store(&pools)
	return rev, created, nil
}

func (f *fakeConfig) Rollback(ctx context.Context, n int64, author string) (int64, error) {
	r, err := f.st.GetConfigRevision(ctx, n)
	if err != nil {
		return 0, err
	}
	rev, _, err := f.Apply(ctx, r.Document, author, "rollback")
	return rev, err
}

func (f *fakeConfig) Revisions(ctx context.Context, cursor string, limit int) ([]store.ConfigRevision, string, error) {
	return f.st.ListConfigRevisions(ctx, cursor, limit)
}

func (f *fakeConfig) Revision(ctx context.Context, n int64) (*store.ConfigRevision, error) {
	return f.st.GetConfigRevision(ctx, n)
}

type harness struct {
	t   *testing.T
	srv *Server
	st  store.Store
	cfg *fakeConfig
	url string // a real listener, for tests that need one
}

type harnessOpt func(*Options)

func newHarness(t *testing.T, dsn string, opts ...harnessOpt) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := upstream.NewRegistry(slog.New(slog.DiscardHandler))
	t.Cleanup(reg.Close)
	fc := &fakeConfig{st: st, reg: reg}
	if _, _, err := fc.Apply(ctx, []byte(baseDoc), "test", "file"); err != nil {
		t.Fatal(err)
	}
	o := Options{
		Token: testToken, Version: "test", Started: time.Now().Add(-time.Minute), Store: st, Config: fc,
		Table: fc.table.Load,
		Pools: func() map[string]*upstream.Pool { return *fc.pools.Load() },
		Log:   slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, srv: srv, st: st, cfg: fc}
}

func newSQLiteHarness(t *testing.T, opts ...harnessOpt) *harness {
	return newHarness(t, storetest.SQLiteDSN(t), opts...)
}

// do sends a request with the admin token; hdr adds headers ("K: V").
func (h *harness) do(method, path string, body any, hdr ...string) *httptest.ResponseRecorder {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+testToken)
	for _, kv := range hdr {
		k, v, _ := strings.Cut(kv, ": ")
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, req)
	return w
}

// want asserts a status and decodes the JSON body into a map (or nil).
func want(t *testing.T, w *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d; body: %s", w.Code, status, w.Body.String())
	}
	var m map[string]any
	if strings.Contains(w.Header().Get("Content-Type"), "json") {
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("body is not a JSON object: %v: %s", err, w.Body.String())
		}
	}
	return m
}

// wantProblem asserts a problem+json response with status.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	m := want(t, w, status)
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	if m["status"] != float64(status) || m["title"] == "" || m["request_id"] == "" {
		t.Fatalf("problem body incomplete: %v", m)
	}
	return m
}
