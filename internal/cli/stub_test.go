package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/controlplane"
	_ "github.com/tollgate-dev/tollgate/internal/policy/builtin"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

const stubToken = "s3cret"

// stubAdmin implements the admin endpoints the CLI uses, with SPEC §6
// shapes: config through a real controlplane.Manager on SQLite, consumers
// and keys in memory.
type stubAdmin struct {
	t    *testing.T
	m    *controlplane.Manager
	mu   sync.Mutex
	cons map[string]*consumer
	keys map[string][]key
	seq  int
	srv  *httptest.Server
	puts []string // If-Match of each PUT /config
}

type okApplier struct{}

func (okApplier) Apply(*config.Config) error { return nil }

func newStub(t *testing.T) *stubAdmin {
	t.Helper()
	st, err := store.Open(context.Background(), storetest.SQLiteDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	node, _ := config.Parse(nil, "node")
	s := &stubAdmin{t: t, m: controlplane.New(st, okApplier{}, node, slog.New(slog.NewTextHandler(io.Discard, nil))), cons: map[string]*consumer{}, keys: map[string][]key{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /config", s.getConfig)
	mux.HandleFunc("PUT /config", s.putConfig)
	mux.HandleFunc("GET /config/revisions", s.revisions)
	mux.HandleFunc("GET /config/revisions/{n}", s.revision)
	mux.HandleFunc("POST /config/revisions/{n}/rollback", s.rollback)
	mux.HandleFunc("GET /plans", s.plans)
	mux.HandleFunc("GET /consumers", s.listConsumers)
	mux.HandleFunc("POST /consumers", s.createConsumer)
	mux.HandleFunc("GET /consumers/{id}", s.getConsumer)
	mux.HandleFunc("PATCH /consumers/{id}", s.patchConsumer)
	mux.HandleFunc("DELETE /consumers/{id}", s.deleteConsumer)
	mux.HandleFunc("GET /consumers/{id}/keys", s.listKeys)
	mux.HandleFunc("POST /consumers/{id}/keys", s.createKey)
	mux.HandleFunc("DELETE /consumers/{id}/keys/{key_id}", s.revokeKey)
	mux.HandleFunc("POST /consumers/{id}/keys/{key_id}/rotate", s.rotateKey)
	s.srv = httptest.NewServer(s.auth(mux))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *stubAdmin) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+stubToken {
			writeProblem(w, 401, "Unauthorized", "missing or wrong admin token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeProblem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": title, "status": status, "detail": detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (s *stubAdmin) getConfig(w http.ResponseWriter, r *http.Request) {
	rev, hash, doc := s.m.Current()
	w.Header().Set("ETag", `"`+hash+`"`)
	w.Header().Set("X-Tollgate-Revision", strconv.FormatInt(rev, 10))
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(doc)
}

func (s *stubAdmin) putConfig(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	_, hash, _ := s.m.Current()
	s.mu.Lock()
	s.puts = append(s.puts, r.Header.Get("If-Match"))
	s.mu.Unlock()
	if im := r.Header.Get("If-Match"); im != "" && im != `"`+hash+`"` {
		writeProblem(w, 412, "Precondition Failed", "the config changed since you read it")
		return
	}
	rev, changed, err := s.m.Apply(r.Context(), body, r.Header.Get("X-Tollgate-Author"), "admin")
	var list config.ErrorList
	if errors.As(err, &list) {
		items := make([]map[string]any, len(list))
		for i, fe := range list {
			items[i] = map[string]any{"line": fe.Line, "path": fe.Path, "message": fe.Msg, "hint": fe.Hint}
		}
		writeJSON(w, 400, map[string]any{"title": "Bad Request", "status": 400, "detail": "config errors", "errors": items})
		return
	}
	if err != nil {
		writeProblem(w, 500, "Internal Server Error", err.Error())
		return
	}
	writeJSON(w, 200, map[string]any{"revision": rev, "changed": changed})
}

func revView(m *controlplane.Manager, c *store.ConfigRevision, withDoc bool) map[string]any {
	cur, _, _ := m.Current()
	v := map[string]any{"n": c.N, "created_at": c.CreatedAt, "author": c.Author, "source": c.Source, "hash": c.Hash, "current": c.N == cur}
	if withDoc {
		v["document"] = string(c.Document)
	}
	return v
}

func (s *stubAdmin) revisions(w http.ResponseWriter, r *http.Request) {
	list, next, err := s.m.Revisions(r.Context(), r.URL.Query().Get("cursor"), 50)
	if err != nil {
		writeProblem(w, 500, "Internal Server Error", err.Error())
		return
	}
	out := make([]map[string]any, len(list))
	for i := range list {
		out[i] = revView(s.m, &list[i], false)
	}
	writeJSON(w, 200, pageOf(out, next))
}

func pageOf[T any](data []T, next string) map[string]any {
	p := map[string]any{"data": data, "next": nil}
	if next != "" {
		p["next"] = next
	}
	return p
}

func (s *stubAdmin) revision(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.ParseInt(r.PathValue("n"), 10, 64)
	c, err := s.m.Revision(r.Context(), n)
	if err != nil {
		writeProblem(w, 404, "Not Found", fmt.Sprintf("there is no config revision %d", n))
		return
	}
	writeJSON(w, 200, revView(s.m, c, true))
}

func (s *stubAdmin) rollback(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.ParseInt(r.PathValue("n"), 10, 64)
	rev, err := s.m.Rollback(r.Context(), n, "cli")
	if err != nil {
		writeProblem(w, 404, "Not Found", fmt.Sprintf("there is no config revision %d", n))
		return
	}
	writeJSON(w, 200, map[string]any{"revision": rev, "rolled_back_to": n})
}

func (s *stubAdmin) plans(w http.ResponseWriter, r *http.Request) {
	cfg := s.m.Config()
	var plans []config.Plan
	if cfg != nil {
		plans = cfg.Plans
	}
	writeJSON(w, 200, pageOf(plans, ""))
}

func (s *stubAdmin) find(ref string) *consumer {
	if c, ok := s.cons[ref]; ok {
		return c
	}
	for _, c := range s.cons {
		if c.Name == ref {
			return c
		}
	}
	return nil
}

func (s *stubAdmin) listConsumers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []consumer{}
	for _, c := range s.cons {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, 200, pageOf(out, ""))
}

func (s *stubAdmin) createConsumer(w http.ResponseWriter, r *http.Request) {
	var c consumer
	if json.NewDecoder(r.Body).Decode(&c) != nil || c.Name == "" {
		writeProblem(w, 400, "Bad Request", "name is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	c.ID = fmt.Sprintf("c_%d", s.seq)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c.CreatedAt = &now
	s.cons[c.ID] = &c
	writeJSON(w, 201, c)
}

func (s *stubAdmin) getConsumer(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find(r.PathValue("id"))
	if c == nil {
		writeProblem(w, 404, "Not Found", "no such consumer")
		return
	}
	w.Header().Set("ETag", `"`+c.ID+c.Plan+`"`)
	writeJSON(w, 200, c)
}

func (s *stubAdmin) patchConsumer(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find(r.PathValue("id"))
	if c == nil {
		writeProblem(w, 404, "Not Found", "no such consumer")
		return
	}
	if r.Header.Get("If-Match") != `"`+c.ID+c.Plan+`"` {
		writeProblem(w, 412, "Precondition Failed", "stale")
		return
	}
	if err := json.NewDecoder(r.Body).Decode(c); err != nil {
		writeProblem(w, 400, "Bad Request", err.Error())
		return
	}
	writeJSON(w, 200, c)
}

func (s *stubAdmin) deleteConsumer(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find(r.PathValue("id"))
	if c == nil {
		writeProblem(w, 404, "Not Found", "no such consumer")
		return
	}
	delete(s.cons, c.ID)
	w.WriteHeader(204)
}

func (s *stubAdmin) listKeys(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find(r.PathValue("id"))
	if c == nil {
		writeProblem(w, 404, "Not Found", "no such consumer")
		return
	}
	writeJSON(w, 200, pageOf(append([]key{}, s.keys[c.ID]...), ""))
}

func (s *stubAdmin) newKey(w http.ResponseWriter, c *consumer, exp *time.Time) {
	s.seq++
	k := key{ID: fmt.Sprintf("k_%d", s.seq), Prefix: fmt.Sprintf("tg_live_%04d", s.seq), Active: true, ExpiresAt: exp}
	s.keys[c.ID] = append(s.keys[c.ID], k)
	writeJSON(w, 201, map[string]any{"id": k.ID, "key": k.Prefix + "SECRET", "prefix": k.Prefix, "created_at": time.Now(), "expires_at": exp})
}

func (s *stubAdmin) createKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ExpiresAt *time.Time `json:"expires_at"`
	}
	json.NewDecoder(r.Body).Decode(&in)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find(r.PathValue("id"))
	if c == nil {
		writeProblem(w, 404, "Not Found", "no such consumer")
		return
	}
	s.newKey(w, c, in.ExpiresAt)
}

func (s *stubAdmin) revokeKey(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find(r.PathValue("id"))
	for i, k := range s.keys[c.ID] {
		if k.ID == r.PathValue("key_id") {
			now := time.Now()
			s.keys[c.ID][i].RevokedAt, s.keys[c.ID][i].Active = &now, false
			w.WriteHeader(204)
			return
		}
	}
	writeProblem(w, 404, "Not Found", "no such key")
}

func (s *stubAdmin) rotateKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Overlap string `json:"overlap"`
	}
	json.NewDecoder(r.Body).Decode(&in)
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find(r.PathValue("id"))
	if c == nil || in.Overlap != "24h" {
		writeProblem(w, 400, "Bad Request", "want overlap 24h in this test")
		return
	}
	s.newKey(w, c, nil)
}

// run executes one CLI command line against the stub (or any URL).
func run(t *testing.T, admin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := &cobra.Command{Use: "tollgate", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(Commands()...)
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(append(args, "--admin", admin, "--token", stubToken))
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func exitCode(err error) int { return Report(err, io.Discard) }
