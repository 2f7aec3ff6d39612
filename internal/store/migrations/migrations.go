// Package migrations holds the versioned SQL schema of the store, one folder
// per dialect, and the runner that applies it.
//
// Files are named NNNN_name.sql and applied in lexical order, each in its own
// transaction, and recorded in schema_migrations(version, applied_at) where
// version is the file name without ".sql". Any file dropped into a dialect
// folder is picked up: core tables own 0001-0099, other packages take higher
// numbers (analytics: 0100_usage.sql).
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Migration is one schema step.
type Migration struct {
	Version string // file name without ".sql", e.g. "0001_init"
	SQL     string
}

// List returns the migrations of a dialect ("sqlite" or "postgres") in order.
func List(dialect string) ([]Migration, error) {
	names, err := fs.Glob(files, dialect+"/*.sql")
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("migrations: no files for dialect %q", dialect)
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Migration{Version: strings.TrimSuffix(path.Base(n), ".sql"), SQL: string(b)})
	}
	return out, nil
}

// Apply brings db up to date and returns the versions it applied. It is safe
// when several nodes start at once: on PostgreSQL the whole run holds an
// advisory lock scoped to the current schema; on SQLite every step runs in a
// BEGIN IMMEDIATE transaction (the driver's _txlock) and re-checks the version
// inside it.
func Apply(ctx context.Context, db *sql.DB, dialect string) ([]string, error) {
	all, err := List(dialect)
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dialect == "postgres" {
		unlock, err := lockPostgres(ctx, conn)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	if _, err := conn.ExecContext(ctx, createTable(dialect)); err != nil {
		return nil, fmt.Errorf("migrations: create schema_migrations: %w", err)
	}
	var applied []string
	for _, m := range all {
		did, err := applyOne(ctx, conn, dialect, m)
		if err != nil {
			return applied, fmt.Errorf("migrations: %s: %w", m.Version, err)
		}
		if did {
			applied = append(applied, m.Version)
		}
	}
	return applied, nil
}

func createTable(dialect string) string {
	ts := "TIMESTAMP"
	if dialect == "postgres" {
		ts = "TIMESTAMPTZ"
	}
	return "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at " + ts + " NOT NULL)"
}

// lockPostgres takes a session advisory lock keyed by the current schema, so
// tests (and tenants) in different schemas do not wait for each other.
func lockPostgres(ctx context.Context, conn *sql.Conn) (func(), error) {
	const key = "hashtext('tollgate_migrations.' || coalesce(current_schema(), ''))"
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+key+")"); err != nil {
		return nil, fmt.Errorf("migrations: advisory lock: %w", err)
	}
	return func() {
		// A fresh context: the unlock must run even when ctx was cancelled.
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(c, "SELECT pg_advisory_unlock("+key+")")
	}, nil
}

func applyOne(ctx context.Context, conn *sql.Conn, dialect string, m Migration) (bool, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	q, ins := "SELECT count(*) FROM schema_migrations WHERE version = ?", "INSERT INTO schema_migrations(version, applied_at) VALUES (?, ?)"
	if dialect == "postgres" {
		q, ins = "SELECT count(*) FROM schema_migrations WHERE version = $1", "INSERT INTO schema_migrations(version, applied_at) VALUES ($1, $2)"
	}
	var n int
	if err := tx.QueryRowContext(ctx, q, m.Version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, ins, m.Version, time.Now().UTC()); err != nil {
		return false, err
	}
	return true, tx.Commit()
}
