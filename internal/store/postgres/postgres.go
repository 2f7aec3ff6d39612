// Package postgres opens PostgreSQL through pgx (database/sql for queries) and
// follows LISTEN/NOTIFY on a dedicated connection that reconnects.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Open opens a pool for dsn. Any runtime parameter in the DSN (for example
// search_path=myschema, or options=-c search_path=myschema) applies to every
// connection, which is how tests isolate themselves in a schema.
func Open(ctx context.Context, dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad DSN: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return db, nil
}

// IsUniqueViolation reports whether err is a unique_violation (23505).
func IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// Listen runs until ctx is done: it LISTENs on channel and calls wake for every
// notification, and also once after each (re)connect because notifications
// sent while disconnected are lost. It reconnects with backoff (max 5 s).
func Listen(ctx context.Context, dsn, channel string, wake func(), log *slog.Logger) {
	backoff := 100 * time.Millisecond
	var down time.Time // when the connection was lost; zero while connected
	connected := func() {
		backoff = 100 * time.Millisecond
		if !down.IsZero() {
			log.Info("store: LISTEN connection back", "after", time.Since(down).Round(time.Millisecond))
			down = time.Time{}
		}
	}
	for ctx.Err() == nil {
		err := listenOnce(ctx, dsn, channel, wake, connected)
		if ctx.Err() != nil {
			return
		}
		if down.IsZero() { // one warning per outage; the retries are debug lines
			down = time.Now()
			log.Warn("store: LISTEN connection lost, reconnecting", "err", err, "in", backoff)
		} else {
			log.Debug("store: LISTEN reconnect failed", "err", err, "in", backoff)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// ListenerName is the application_name of the LISTEN connection (plus the
// search_path when set), so operators and tests can find it in pg_stat_activity.
func ListenerName(cfg *pgx.ConnConfig) string {
	name := "tollgate-listen"
	if sp := cfg.RuntimeParams["search_path"]; sp != "" {
		name += " " + sp
	}
	return name
}

func listenOnce(ctx context.Context, dsn, channel string, wake, connected func()) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = ListenerName(cfg)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(c)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	connected()
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake()
	}
}
