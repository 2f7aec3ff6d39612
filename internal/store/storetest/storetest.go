// Package storetest gives tests a fresh store DSN per driver: SQLite in
// t.TempDir(), and PostgreSQL (when TOLLGATE_TEST_POSTGRES is set) in a new
// schema of its own, dropped at cleanup.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvPostgres names the variable holding the test server's DSN.
const EnvPostgres = "TOLLGATE_TEST_POSTGRES"

// SQLiteDSN returns a DSN for a new database file under t.TempDir().
func SQLiteDSN(t testing.TB) string {
	return "sqlite://" + t.TempDir() + "/data/tollgate.db"
}

// PostgresDSN returns a DSN whose search_path is a fresh schema, or skips t
// when TOLLGATE_TEST_POSTGRES is unset.
func PostgresDSN(t testing.TB) string {
	base := os.Getenv(EnvPostgres)
	if base == "" {
		t.Skip("set TOLLGATE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run")
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	schema := "t_" + strings.ToLower(rand.Text()[:16])
	if _, err := db.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return fmt.Sprintf("%s%ssearch_path=%s", base, sep, schema)
}

// ForEachDriver runs fn as a subtest per driver with a fresh DSN.
func ForEachDriver(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresDSN(t)) })
}
