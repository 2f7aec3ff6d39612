package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

func (s *sqlStore) AppendAudit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = now()
	}
	detail := string(e.Detail)
	if detail == "" {
		detail = "{}"
	}
	if !json.Valid([]byte(detail)) {
		return errors.Join(ErrInvalid, errors.New("audit detail is not JSON"))
	}
	_, err := s.db.ExecContext(ctx, s.d.rebind("INSERT INTO audit_log(at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)"),
		e.At.UTC().Truncate(time.Microsecond), e.Actor, e.Action, e.Target, detail)
	return err
}

func (s *sqlStore) ListAudit(ctx context.Context, cursor string, limit int) ([]AuditEntry, string, error) {
	limit = clampLimit(limit)
	q, args, err := pageDesc("SELECT id, at, actor, action, target, detail FROM audit_log", "id", cursor, limit)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.query(ctx, q, args...)
	var out []AuditEntry
	err = eachRow(rows, err, func(r *sql.Rows) error {
		var e AuditEntry
		var d string
		err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &d)
		e.At, e.Detail = e.At.UTC(), json.RawMessage(d)
		out = append(out, e)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	if len(out) > limit {
		out = out[:limit]
		return out, strconv.FormatInt(out[limit-1].ID, 10), nil
	}
	return out, "", nil
}

// pageDesc builds a newest-first keyset page over an integer column; the
// cursor is the last value of the previous page.
func pageDesc(base, col, cursor string, limit int) (string, []any, error) {
	if cursor == "" {
		return base + " ORDER BY " + col + " DESC LIMIT ?", []any{limit + 1}, nil
	}
	after, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil {
		return "", nil, errors.Join(ErrInvalid, errors.New("bad cursor"))
	}
	return base + " WHERE " + col + " < ? ORDER BY " + col + " DESC LIMIT ?", []any{after, limit + 1}, nil
}

// --- config revisions ---

const revisionCols = "n, created_at, author, source, hash, document"

func scanRevision(r scanner) (*ConfigRevision, error) {
	var c ConfigRevision
	var doc string
	if err := r.Scan(&c.N, &c.CreatedAt, &c.Author, &c.Source, &c.Hash, &doc); err != nil {
		return nil, err
	}
	c.CreatedAt, c.Document = c.CreatedAt.UTC(), []byte(doc)
	return &c, nil
}

func (s *sqlStore) PutConfigRevision(ctx context.Context, doc []byte, hash, author, source string) (int64, bool, error) {
	var rev int64
	var created bool
	err := s.write(ctx, func(t *tx) error {
		if s.d.name == "postgres" { // serialise revision writers (SQLite's BEGIN IMMEDIATE already does)
			if _, err := t.exec("SELECT pg_advisory_xact_lock(hashtext('tollgate_config_revisions.' || coalesce(current_schema(), '')))"); err != nil {
				return err
			}
		}
		var latest int64
		var latestHash string
		err := t.queryRow("SELECT n, hash FROM config_revisions ORDER BY n DESC LIMIT 1").Scan(&latest, &latestHash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && latestHash == hash {
			rev, created = latest, false
			return nil
		}
		rev, created = latest+1, true
		_, err = t.exec("INSERT INTO config_revisions("+revisionCols+") VALUES (?, ?, ?, ?, ?, ?)",
			rev, now(), author, source, hash, string(doc))
		if err != nil {
			return s.retryOnUnique(err) // another node took n: read the new latest and try again
		}
		return t.changed(KindConfig, strconv.FormatInt(rev, 10), "")
	})
	return rev, created, err
}

func (s *sqlStore) GetConfigRevision(ctx context.Context, n int64) (*ConfigRevision, error) {
	return s.oneRevision(ctx, "SELECT "+revisionCols+" FROM config_revisions WHERE n = ?", n)
}

func (s *sqlStore) LatestConfigRevision(ctx context.Context) (*ConfigRevision, error) {
	return s.oneRevision(ctx, "SELECT "+revisionCols+" FROM config_revisions ORDER BY n DESC LIMIT 1")
}

func (s *sqlStore) oneRevision(ctx context.Context, q string, args ...any) (*ConfigRevision, error) {
	r, err := scanRevision(s.queryRow(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return r, err
}

func (s *sqlStore) ListConfigRevisions(ctx context.Context, cursor string, limit int) ([]ConfigRevision, string, error) {
	limit = clampLimit(limit)
	q, args, err := pageDesc("SELECT "+revisionCols+" FROM config_revisions", "n", cursor, limit)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.query(ctx, q, args...)
	var out []ConfigRevision
	err = eachRow(rows, err, func(r *sql.Rows) error {
		c, err := scanRevision(r)
		if err == nil {
			out = append(out, *c)
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	if len(out) > limit {
		out = out[:limit]
		return out, strconv.FormatInt(out[limit-1].N, 10), nil
	}
	return out, "", nil
}
