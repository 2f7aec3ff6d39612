package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/problem"
	"github.com/tollgate-dev/tollgate/internal/store"
)

func (s *Server) status(w http.ResponseWriter, r *http.Request) error {
	rev, hash, _ := s.o.Config.Current()
	comps := s.components(r.Context())
	state := "ok"
	for _, c := range comps {
		if !c.Up {
			state = "degraded"
		}
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"status":         state,
		"version":        s.o.Version,
		"uptime_seconds": int64(time.Since(s.o.Started).Seconds()),
		"config":         map[string]any{"revision": rev, "hash": hash},
		"components":     comps,
	})
}

// components merges the integrator's health report with a store ping when
// the report does not cover the store.
func (s *Server) components(ctx context.Context) map[string]ComponentHealth {
	out := map[string]ComponentHealth{}
	if s.o.Health != nil {
		for k, v := range s.o.Health() {
			out[k] = v
		}
	}
	if _, ok := out["store"]; !ok {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		h := ComponentHealth{Up: true, Detail: s.o.Store.Dialect()}
		if err := s.o.Store.Ping(ctx); err != nil {
			h = ComponentHealth{Up: false, Detail: s.o.Store.Dialect() + ": not reachable"}
		}
		out["store"] = h
	}
	return out
}

func configETag(hash string) string { return `"` + hash + `"` }

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) error {
	rev, hash, doc := s.o.Config.Current()
	etag := configETag(hash)
	w.Header().Set("ETag", etag)
	w.Header().Set("X-Tollgate-Revision", strconv.FormatInt(rev, 10))
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if wantsJSON(r) {
		b, err := yamlToJSON(doc)
		if err != nil {
			return fmt.Errorf("current config is not convertible to JSON: %w", err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
		return nil
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(doc)
	return nil
}

// maxConfigBody leaves room for attached OpenAPI documents (up to 20 MiB each).
const maxConfigBody = 64 << 20

func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxConfigBody))
	if err != nil {
		return problem.TooLarge(fmt.Sprintf("the config document is larger than %d bytes", maxConfigBody))
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return problem.BadRequest("the request body is empty; send the config document as YAML or JSON")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		if body, err = jsonToYAML(body); err != nil {
			return problem.BadRequest("the body is not valid JSON")
		}
	}
	// A raw API user may still name spec files on this node; apply -f
	// already attached the ones on the user's machine.
	if body, err = s.o.Config.AttachFiles(body, "admin"); err != nil {
		return configProblem(err)
	}
	s.writeLock.Lock()
	defer s.writeLock.Unlock()
	_, hash, _ := s.o.Config.Current()
	if err := checkIfMatch(r, configETag(hash)); err != nil {
		return err
	}
	author := actor(r)
	rev, changed, err := s.o.Config.Apply(r.Context(), body, author, "admin")
	if err != nil {
		return configProblem(err)
	}
	if changed {
		s.audit(r, "config.apply", "config/"+strconv.FormatInt(rev, 10), map[string]any{"revision": rev})
	}
	_, hash, _ = s.o.Config.Current()
	w.Header().Set("ETag", configETag(hash))
	return writeJSON(w, http.StatusOK, map[string]any{"revision": rev, "changed": changed})
}

// configErrors is the 400 problem for a rejected document: the detail lists
// every error with its line, and "errors" carries them for scripts.
type configErrors struct {
	list config.ErrorList
}

func (e *configErrors) Error() string { return e.list.Error() }

func configProblem(err error) error {
	var list config.ErrorList
	var one *config.FieldError
	switch {
	case errors.As(err, &list):
		return &configErrors{list: list}
	case errors.As(err, &one):
		return &configErrors{list: config.ErrorList{one}}
	case errors.Is(err, store.ErrNotFound):
		return notFound("no such config revision")
	}
	return err
}

// writeConfigErrors renders configErrors as problem+json with an "errors" member.
func writeConfigErrors(w http.ResponseWriter, rid string, e *configErrors) {
	lines := make([]string, len(e.list))
	items := make([]map[string]any, len(e.list))
	for i, fe := range e.list {
		lines[i] = fieldErrorLine(fe)
		items[i] = map[string]any{"line": fe.Line, "path": fe.Path, "message": fe.Msg, "hint": fe.Hint}
	}
	pe := problem.BadRequest(fmt.Sprintf("%d config error(s): %s", len(e.list), strings.Join(lines, "; ")))
	b, _ := json.Marshal(struct {
		Type      string           `json:"type"`
		Title     string           `json:"title"`
		Status    int              `json:"status"`
		Detail    string           `json:"detail"`
		RequestID string           `json:"request_id"`
		Errors    []map[string]any `json:"errors"`
	}{"about:blank", http.StatusText(pe.Status), pe.Status, pe.Detail, rid, items})
	w.Header().Set("Content-Type", problem.ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write(b)
}

// fieldErrorLine is "line N: path: message (hint: ...)"; the source name is
// left out because a PUT body has no file name.
func fieldErrorLine(fe *config.FieldError) string {
	c := *fe
	c.File, c.Line = "", 0
	if fe.Line > 0 {
		return fmt.Sprintf("line %d: %s", fe.Line, c.Error())
	}
	return c.Error()
}

// revisionView is a revision's metadata; the document only in the single view.
type revisionView struct {
	N         int64     `json:"n"`
	CreatedAt time.Time `json:"created_at"`
	Author    string    `json:"author"`
	Source    string    `json:"source"`
	Hash      string    `json:"hash"`
	Current   bool      `json:"current"`
	Document  *string   `json:"document,omitempty"`
}

func (s *Server) viewRevision(c *store.ConfigRevision, withDoc bool) revisionView {
	cur, _, _ := s.o.Config.Current()
	v := revisionView{N: c.N, CreatedAt: c.CreatedAt, Author: c.Author, Source: c.Source, Hash: c.Hash, Current: c.N == cur}
	if withDoc {
		d := string(c.Document)
		v.Document = &d
	}
	return v
}

func (s *Server) listRevisions(w http.ResponseWriter, r *http.Request) error {
	cursor, limit, err := pageParams(r)
	if err != nil {
		return err
	}
	list, next, err := s.o.Config.Revisions(r.Context(), cursor, limit)
	if err != nil {
		return err
	}
	out := make([]revisionView, len(list))
	for i := range list {
		out[i] = s.viewRevision(&list[i], false)
	}
	return writeJSON(w, http.StatusOK, newPage(out, next))
}

func revisionNumber(r *http.Request) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue("n"), 10, 64)
	if err != nil || n < 1 {
		return 0, problem.BadRequest("the revision number must be a positive integer")
	}
	return n, nil
}

func (s *Server) getRevision(w http.ResponseWriter, r *http.Request) error {
	n, err := revisionNumber(r)
	if err != nil {
		return err
	}
	rev, err := s.o.Config.Revision(r.Context(), n)
	if err != nil {
		return revisionNotFoundAs(err, n)
	}
	return writeJSON(w, http.StatusOK, s.viewRevision(rev, true))
}

func revisionNotFoundAs(err error, n int64) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound(fmt.Sprintf("there is no config revision %d", n))
	}
	return configProblem(err)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) error {
	n, err := revisionNumber(r)
	if err != nil {
		return err
	}
	s.writeLock.Lock()
	defer s.writeLock.Unlock()
	rev, err := s.o.Config.Rollback(r.Context(), n, actor(r))
	if err != nil {
		return revisionNotFoundAs(err, n)
	}
	s.audit(r, "config.rollback", "config/"+strconv.FormatInt(rev, 10), map[string]any{"to": n, "revision": rev})
	return writeJSON(w, http.StatusOK, map[string]any{"revision": rev, "rolled_back_to": n})
}

// yamlToJSON converts a YAML document to JSON (key order is not kept).
func yamlToJSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// jsonToYAML re-renders a JSON document as block-style YAML, keeping key
// order, so every stored revision is YAML.
func jsonToYAML(doc []byte) ([]byte, error) {
	if !json.Valid(doc) {
		return nil, errors.New("invalid JSON")
	}
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, err
	}
	blockStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// blockStyle drops the flow and quoting styles JSON parses into; the encoder
// still quotes any string that would otherwise read back as another type.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}
