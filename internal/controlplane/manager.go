// Package controlplane keeps the gateway's config as versioned documents in
// the store. A document (services, routes, plans, consumers and the other
// non-node fields) becomes revision N on every successful apply; node
// settings (listeners, secrets, storage, edge limits) stay in each node's
// file. Every node follows the store's newest revision, and one that loses
// the store keeps serving its last good revision until the store is back.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/store"
)

// Applier puts a config live (the app compiles it and swaps the table). An
// error means the config was refused and the old one keeps serving.
type Applier interface {
	Apply(cfg *config.Config) error
}

// ErrNoConfig is Boot's answer when neither the file nor the store holds a document.
var ErrNoConfig = errors.New("no config: add routes to the file or apply one with tollgate apply")

// RefusedError is a document that parsed but that the gateway refused to
// put live (compile failed); Err is the applier's reason.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return "config refused: " + e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// Manager owns this node's running revision. It is safe for concurrent use.
type Manager struct {
	st   store.Store
	ap   Applier
	node *config.Config
	log  *slog.Logger

	// mu serialises changes of the running revision (local swap and store
	// write), so Apply, Rollback and the follower never interleave.
	mu      sync.Mutex
	cur     atomic.Pointer[running]
	refused int64 // newest revision the applier refused while following; not retried

	health health
}

// running is the revision this node serves.
type running struct {
	n    int64
	hash string
	doc  []byte
	cfg  *config.Config
}

// New returns a Manager; node holds this node's settings (from its file).
func New(st store.Store, ap Applier, node *config.Config, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.Default()
	}
	m := &Manager{st: st, ap: ap, node: node, log: log.With("component", "controlplane")}
	m.health.init()
	return m
}

// Current is the revision this node serves (0 before Boot).
func (m *Manager) Current() (rev int64, hash string, doc []byte) {
	r := m.cur.Load()
	if r == nil {
		return 0, "", nil
	}
	return r.n, r.hash, r.doc
}

// Config is the merged config this node serves (nil before Boot).
func (m *Manager) Config() *config.Config {
	if r := m.cur.Load(); r != nil {
		return r.cfg
	}
	return nil
}

// Boot brings up the first config. A file with a document part becomes a
// revision (unless the store's latest already has its hash), carrying the
// files it names (see Attach; source is the file's path); a pure node file
// follows the store's latest revision.
func (m *Manager) Boot(ctx context.Context, file []byte, source string) error {
	_, doc, err := SplitDocument(file)
	if err != nil {
		return err
	}
	if !HasDocument(file) {
		if doc != nil {
			m.log.Warn("the file has document settings but no services, routes or plans; following the store's revision instead", "source", source)
		}
		return m.bootFromStore(ctx)
	}
	if doc, err = Attach(doc, filepath.Dir(source), source); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, err = m.applyLocked(ctx, doc, "file", source)
	return err
}

func (m *Manager) bootFromStore(ctx context.Context) error {
	latest, err := m.st.LatestConfigRevision(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoConfig
	}
	if err != nil {
		return fmt.Errorf("read the latest config revision: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runRevision(latest)
}

// Apply validates doc, puts it live on this node and stores it as a new
// revision. Content identical to the store's latest revision makes none
// (changed=false). A parse error is a config.ErrorList (with doc's lines);
// a refusal by the gateway is a *RefusedError; either way nothing changed.
func (m *Manager) Apply(ctx context.Context, doc []byte, author, source string) (rev int64, changed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.applyLocked(ctx, doc, author, source)
}

func (m *Manager) applyLocked(ctx context.Context, doc []byte, author, source string) (int64, bool, error) {
	cfg, hash, err := parseDocument(doc, source)
	if err != nil {
		return 0, false, err
	}
	cfg = withNode(m.node, cfg)
	prev := m.cur.Load()
	swapped := prev == nil || prev.hash != hash
	if swapped {
		if err := m.ap.Apply(cfg); err != nil {
			return 0, false, &RefusedError{Err: err}
		}
	}
	rev, created, err := m.st.PutConfigRevision(ctx, doc, hash, author, source)
	if err != nil {
		m.undo(prev, swapped)
		return 0, false, fmt.Errorf("store the config revision: %w", err)
	}
	m.cur.Store(&running{n: rev, hash: hash, doc: doc, cfg: cfg})
	if created {
		m.log.Info("config revision applied", "rev", rev, "author", author, "source", source)
	}
	return rev, created, nil
}

// undo puts the previous config back when the store refused the new one, so
// this node never runs a document no revision records.
func (m *Manager) undo(prev *running, swapped bool) {
	if !swapped || prev == nil {
		return
	}
	if err := m.ap.Apply(prev.cfg); err != nil {
		m.log.Error("could not restore the previous config after a failed store write", "rev", prev.n, "err", err)
	}
}

// ApplyFile applies the document part of a config file (SIGHUP, file
// change) with author "file", with the files it names attached (source is
// the file's path). A file without a document part changes nothing: node
// settings take effect on restart.
func (m *Manager) ApplyFile(ctx context.Context, raw []byte, source string) (rev int64, changed bool, err error) {
	// A file that does not parse is refused with config.Parse's errors
	// (file:line), not taken for one without a document part: the previous
	// config keeps serving and the operator is told why.
	if _, err := topMapping(raw); err != nil {
		if _, perr := config.Parse(raw, source); perr != nil {
			return 0, false, perr
		}
		return 0, false, err
	}
	if !HasDocument(raw) {
		rev, _, _ := m.Current()
		return rev, false, nil
	}
	_, doc, err := SplitDocument(raw)
	if err != nil {
		return 0, false, err
	}
	if doc, err = Attach(doc, filepath.Dir(source), source); err != nil {
		return 0, false, err
	}
	return m.Apply(ctx, doc, "file", source)
}

// AttachFiles is Attach for a document sent to this node (PUT /config):
// names resolve against the directory of the node's config file, or the
// working directory when it has none, and must stay under it, so the admin
// API cannot be used to read arbitrary files of the gateway's host.
func (m *Manager) AttachFiles(doc []byte, source string) ([]byte, error) {
	dir := "."
	if m.node != nil && m.node.Source != "" {
		dir = filepath.Dir(m.node.Source)
	}
	return attach(doc, dir, source, true)
}

// Rollback re-applies revision n's document as a new revision with source
// "rollback:n"; history is never rewritten.
func (m *Manager) Rollback(ctx context.Context, n int64, author string) (rev int64, err error) {
	old, err := m.st.GetConfigRevision(ctx, n)
	if err != nil {
		return 0, err
	}
	rev, _, err = m.Apply(ctx, old.Document, author, fmt.Sprintf("rollback:%d", n))
	return rev, err
}

// Revisions pages the stored revisions, newest first.
func (m *Manager) Revisions(ctx context.Context, cursor string, limit int) ([]store.ConfigRevision, string, error) {
	return m.st.ListConfigRevisions(ctx, cursor, limit)
}

// Revision returns revision n (store.ErrNotFound when there is none).
func (m *Manager) Revision(ctx context.Context, n int64) (*store.ConfigRevision, error) {
	return m.st.GetConfigRevision(ctx, n)
}

// runRevision puts a stored revision live on this node. Callers hold mu.
func (m *Manager) runRevision(r *store.ConfigRevision) error {
	cfg, err := Merge(m.node, r.Document, fmt.Sprintf("revision %d", r.N))
	if err != nil {
		return err
	}
	if err := m.ap.Apply(cfg); err != nil {
		return &RefusedError{Err: err}
	}
	m.cur.Store(&running{n: r.N, hash: r.Hash, doc: r.Document, cfg: cfg})
	return nil
}

// health is the store's reachability as this node last saw it.
type health struct {
	mu     sync.Mutex
	up     bool
	detail string
	since  time.Time
}

func (h *health) init() { h.up, h.detail, h.since = true, "ok", time.Now() }
