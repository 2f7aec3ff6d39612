package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/store/migrations"
	"github.com/tollgate-dev/tollgate/internal/store/postgres"
	"github.com/tollgate-dev/tollgate/internal/store/sqlite"
	"golang.org/x/crypto/bcrypt"
)

// Options tune Open; the zero value is the production default.
type Options struct {
	Log *slog.Logger // default slog.Default()
	// BcryptCost for basic credential hashes; default bcrypt.DefaultCost.
	// Tests lower it (bcrypt.MinCost) to stay fast under -race.
	BcryptCost int
}

// Open connects to dsn (sqlite://PATH or postgres://...), applies pending
// migrations and starts following the change feed.
func Open(ctx context.Context, dsn string) (Store, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, o Options) (Store, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	d, db, err := openDB(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := migrations.Apply(ctx, db, d.name); err != nil {
		db.Close()
		return nil, err
	}
	s := &sqlStore{db: db, d: d, log: o.Log, bcryptCost: o.BcryptCost}
	if err := s.startFeed(ctx, dsn); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// dialect is what differs between the two databases at run time; the SQL
// itself is shared, written with ? placeholders.
type dialect struct {
	name            string
	uniqueViolation func(error) bool
	readTx          *sql.TxOptions
}

func openDB(ctx context.Context, dsn string) (dialect, *sql.DB, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite://"):
		db, err := sqlite.Open(ctx, dsn)
		return dialect{name: "sqlite", uniqueViolation: sqlite.IsUniqueViolation,
			readTx: &sql.TxOptions{ReadOnly: true}}, db, err
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := postgres.Open(ctx, dsn)
		return dialect{name: "postgres", uniqueViolation: postgres.IsUniqueViolation,
			readTx: &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}}, db, err
	}
	return dialect{}, nil, fmt.Errorf("store: unsupported DSN (want sqlite://PATH or postgres://...)")
}

// rebind turns ? placeholders into $1, $2... for PostgreSQL. Queries in this
// package never contain a literal '?'.
func (d dialect) rebind(q string) string {
	if d.name != "postgres" || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
