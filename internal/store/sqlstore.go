package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode"
)

// sqlStore implements Store once for both dialects.
type sqlStore struct {
	db   *sql.DB
	d    dialect
	log  *slog.Logger
	feed *feed

	bcryptCost int

	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

func (s *sqlStore) Dialect() string                { return s.d.name }
func (s *sqlStore) DB() *sql.DB                    { return s.db }
func (s *sqlStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *sqlStore) Close() error {
	var err error
	s.closed.Do(func() {
		s.stop()
		s.wg.Wait()
		s.feed.close()
		err = s.db.Close()
	})
	return err
}

// now is the stored clock: UTC, microseconds (PostgreSQL's precision).
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func (s *sqlStore) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return s.db.QueryContext(ctx, s.d.rebind(q), args...)
}

func (s *sqlStore) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	return s.db.QueryRowContext(ctx, s.d.rebind(q), args...)
}

// tx is a write transaction that records the changes it makes, so they are
// written to the changes table atomically and published after commit.
type tx struct {
	*sql.Tx
	d       dialect
	ctx     context.Context
	changes []Change
	seqs    []int64
}

func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	return t.ExecContext(t.ctx, t.d.rebind(q), args...)
}

func (t *tx) queryRow(q string, args ...any) *sql.Row {
	return t.QueryRowContext(t.ctx, t.d.rebind(q), args...)
}

// changed appends to the change feed inside the transaction.
func (t *tx) changed(kind, id, consumerID string) error {
	var seq int64
	err := t.queryRow("INSERT INTO changes(at, kind, id, consumer_id) VALUES (?, ?, ?, ?) RETURNING seq",
		now(), kind, id, consumerID).Scan(&seq)
	if err != nil {
		return err
	}
	t.changes = append(t.changes, Change{Kind: kind, ID: id, ConsumerID: consumerID})
	t.seqs = append(t.seqs, seq)
	return nil
}

// write runs fn in a transaction (BEGIN IMMEDIATE on SQLite), wakes other
// nodes (NOTIFY is delivered at commit) and publishes the changes locally.
// It retries when fn loses a race on a unique value it generated itself.
func (s *sqlStore) write(ctx context.Context, fn func(t *tx) error) error {
	for attempt := 0; ; attempt++ {
		t, err := s.begin(ctx)
		if err != nil {
			return err
		}
		err = fn(t)
		if err == nil && len(t.changes) > 0 && s.d.name == "postgres" {
			_, err = t.exec("SELECT pg_notify('tollgate_changes', ?)", t.changes[0].Kind)
		}
		if err == nil {
			err = t.Commit()
		}
		if err == nil {
			s.feed.publishOwn(t.changes, t.seqs)
			return nil
		}
		_ = t.Rollback()
		if errors.Is(err, errRetry) && attempt < 4 {
			continue
		}
		if errors.Is(err, errRetry) || s.d.uniqueViolation(err) {
			return ErrConflict
		}
		return err
	}
}

// errRetry marks a collision on a generated value (key id, revision number).
var errRetry = errors.New("store: retry")

func (s *sqlStore) begin(ctx context.Context) (*tx, error) {
	t, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &tx{Tx: t, d: s.d, ctx: ctx}, nil
}

// retryOnUnique turns a unique violation on a generated value into errRetry.
func (s *sqlStore) retryOnUnique(err error) error {
	if err != nil && s.d.uniqueViolation(err) {
		return errRetry
	}
	return err
}

// --- consumers ---

const consumerCols = "id, name, plan, groups, metadata, enabled, created_at, updated_at"

type scanner interface{ Scan(dest ...any) error }

func scanConsumer(r scanner) (*Consumer, error) {
	var c Consumer
	var groups, meta string
	var enabled bool
	if err := r.Scan(&c.ID, &c.Name, &c.Plan, &groups, &meta, &enabled, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return nil, err
	}
	c.Disabled = !enabled
	if err := json.Unmarshal([]byte(groups), &c.Groups); err != nil {
		return nil, fmt.Errorf("store: consumer %s groups: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(meta), &c.Metadata); err != nil {
		return nil, fmt.Errorf("store: consumer %s metadata: %w", c.ID, err)
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

func validateConsumer(c *Consumer) error {
	c.Name = strings.TrimSpace(c.Name)
	if c.Name == "" || len(c.Name) > 200 {
		return fmt.Errorf("%w: consumer name must be 1-200 characters", ErrInvalid)
	}
	if strings.ContainsFunc(c.Name, unicode.IsControl) {
		return fmt.Errorf("%w: consumer name contains control characters", ErrInvalid)
	}
	if c.Groups == nil {
		c.Groups = []string{}
	}
	if c.Metadata == nil {
		c.Metadata = map[string]string{}
	}
	return nil
}

func consumerJSON(c *Consumer) (groups, meta string) {
	g, _ := json.Marshal(c.Groups)
	m, _ := json.Marshal(c.Metadata)
	return string(g), string(m)
}

func (s *sqlStore) CreateConsumer(ctx context.Context, c *Consumer) error {
	if err := validateConsumer(c); err != nil {
		return err
	}
	groups, meta := consumerJSON(c)
	id, at := newID("c_"), now()
	err := s.write(ctx, func(t *tx) error {
		_, err := t.exec("INSERT INTO consumers("+consumerCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			id, c.Name, c.Plan, groups, meta, !c.Disabled, at, at)
		if err != nil {
			return err
		}
		return t.changed(KindConsumer, id, id)
	})
	if err != nil {
		return err
	}
	c.ID, c.CreatedAt, c.UpdatedAt = id, at, at
	return nil
}

func (s *sqlStore) GetConsumer(ctx context.Context, idOrName string) (*Consumer, error) {
	c, err := scanConsumer(s.queryRow(ctx, "SELECT "+consumerCols+" FROM consumers WHERE id = ?", idOrName))
	if errors.Is(err, sql.ErrNoRows) {
		c, err = scanConsumer(s.queryRow(ctx, "SELECT "+consumerCols+" FROM consumers WHERE name = ?", idOrName))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return c, err
}

// resolveConsumer maps an id or a name to the id, inside t.
func (t *tx) resolveConsumer(idOrName string) (string, error) {
	var id string
	err := t.queryRow("SELECT id FROM consumers WHERE id = ? OR name = ? ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1",
		idOrName, idOrName, idOrName).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return id, err
}

func (s *sqlStore) ListConsumers(ctx context.Context, cursor string, limit int) ([]*Consumer, string, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	limit = clampLimit(limit)
	rows, err := s.query(ctx, "SELECT "+consumerCols+" FROM consumers WHERE name > ? ORDER BY name LIMIT ?", after, limit+1)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	var out []*Consumer
	for rows.Next() {
		c, err := scanConsumer(rows)
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if len(out) > limit {
		out = out[:limit]
		return out, encodeCursor(out[limit-1].Name), nil
	}
	return out, "", nil
}

func (s *sqlStore) UpdateConsumer(ctx context.Context, c *Consumer) error {
	if err := validateConsumer(c); err != nil {
		return err
	}
	groups, meta := consumerJSON(c)
	at := now()
	err := s.write(ctx, func(t *tx) error {
		if !c.UpdatedAt.IsZero() {
			// Compare-and-set: the row is locked (PostgreSQL) or the write
			// transaction is the only one (SQLite) until the update below.
			lock := ""
			if s.d.name == "postgres" {
				lock = " FOR UPDATE"
			}
			var stored time.Time
			if err := t.queryRow("SELECT updated_at FROM consumers WHERE id = ?"+lock, c.ID).Scan(&stored); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return ErrNotFound
				}
				return err
			}
			if !stored.Equal(c.UpdatedAt) {
				return ErrStale
			}
			if !at.After(stored) { // two writes in one microsecond: keep the ETag moving
				at = stored.Add(time.Microsecond)
			}
		}
		res, err := t.exec("UPDATE consumers SET name = ?, plan = ?, groups = ?, metadata = ?, enabled = ?, updated_at = ? WHERE id = ?",
			c.Name, c.Plan, groups, meta, !c.Disabled, at, c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return t.changed(KindConsumer, c.ID, c.ID)
	})
	if err == nil {
		c.UpdatedAt = at
	}
	return err
}

func (s *sqlStore) DeleteConsumer(ctx context.Context, idOrName string) error {
	return s.write(ctx, func(t *tx) error {
		id, err := t.resolveConsumer(idOrName)
		if err != nil {
			return err
		}
		if _, err := t.exec("DELETE FROM consumers WHERE id = ?", id); err != nil {
			return err
		}
		return t.changed(KindConsumer, id, id)
	})
}

// --- cursors ---

func clampLimit(n int) int {
	if n <= 0 {
		return 100
	}
	return min(n, 1000)
}

// Cursors are opaque to clients: base64url of the last item's sort key.
func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("%w: bad cursor", ErrInvalid)
	}
	return string(b), nil
}
