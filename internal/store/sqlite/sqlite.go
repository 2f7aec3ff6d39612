// Package sqlite opens the embedded SQLite database (modernc.org/sqlite, pure
// Go) with the settings the store relies on.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Path extracts the file path from a "sqlite://PATH" DSN:
// sqlite://./tollgate-data/tollgate.db and sqlite:///var/lib/tollgate.db.
func Path(dsn string) (string, error) {
	p, ok := strings.CutPrefix(dsn, "sqlite://")
	if !ok {
		return "", fmt.Errorf("sqlite: DSN must start with sqlite://")
	}
	p, _, _ = strings.Cut(p, "?")
	if p == "" {
		return "", fmt.Errorf("sqlite: DSN has no file path")
	}
	return p, nil
}

// Open opens (creating the directory and file when needed) the database in
// WAL mode with a busy timeout and foreign keys on. Write transactions begin
// IMMEDIATE so two writers never deadlock upgrading a read lock; read-only
// transactions stay deferred (a consistent WAL snapshot without blocking writers).
func Open(ctx context.Context, dsn string) (*sql.DB, error) {
	p, err := Path(dsn)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: create data directory: %w", err)
	}
	q := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate&_time_format=sqlite"
	db, err := sql.Open("sqlite", "file:"+p+q)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(8)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", p, err)
	}
	return db, nil
}

// IsUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY conflict.
func IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code()
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}
