// Package usagedb stores usage rollups in SQL (SQLite or PostgreSQL) and
// answers usage queries. Schema: internal/store/migrations/<dialect>/0100_usage.sql.
//
// Hour and day rows are derived from minute rollups at write time: every
// minute rollup is upsert-merged into its minute, hour and day rows in the
// same transaction (counts added, latency sketches merged), so a query at any
// granularity reads one row per bucket and status class.
package usagedb

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/internal/analytics"
)

// BatchRetention is how long applied batch ids are remembered for dedupe.
const BatchRetention = 7 * 24 * time.Hour

// Retention is how long rows of each granularity are kept; day rows (what
// billing reads) are kept forever. Pruning runs at most once an hour, after a write.
var Retention = map[string]time.Duration{
	analytics.Minute: 14 * 24 * time.Hour,
	analytics.Hour:   400 * 24 * time.Hour,
}

// DB is the usage store over a *sql.DB.
type DB struct {
	db        *sql.DB
	dialect   string
	q         queries
	lastPrune atomic.Int64
	now       func() time.Time
}

type queries struct {
	markBatch, ensureRow, selectSketch, updateRow, pruneBatches, pruneRows, selectRange string
}

// New returns the usage store for dialect "sqlite" or "postgres".
func New(db *sql.DB, dialect string) (*DB, error) {
	if dialect != "sqlite" && dialect != "postgres" {
		return nil, fmt.Errorf("usagedb: unknown dialect %q (want sqlite or postgres)", dialect)
	}
	d := &DB{db: db, dialect: dialect, now: time.Now}
	d.q = buildQueries(dialect)
	return d, nil
}

const pk = `granularity = ? AND consumer_id = ? AND route = ? AND bucket = ? AND status_class = ?`

func buildQueries(dialect string) queries {
	lock := ""
	if dialect == "postgres" {
		lock = " FOR UPDATE"
	}
	q := queries{
		markBatch: `INSERT INTO usage_batches (id, applied_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
		ensureRow: `INSERT INTO usage_rollups (granularity, consumer_id, route, bucket, status_class)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		selectSketch: `SELECT latency FROM usage_rollups WHERE ` + pk + lock,
		updateRow: `UPDATE usage_rollups SET requests = requests + ?, errors = errors + ?,
			client_errors = client_errors + ?, bytes_in = bytes_in + ?, bytes_out = bytes_out + ?,
			latency = ? WHERE ` + pk,
		pruneBatches: `DELETE FROM usage_batches WHERE applied_at < ?`,
		pruneRows:    `DELETE FROM usage_rollups WHERE granularity = ? AND bucket < ?`,
		selectRange: `SELECT consumer_id, route, bucket, requests, errors, client_errors, bytes_in, bytes_out, latency
			FROM usage_rollups WHERE granularity = ? AND bucket >= ? AND bucket < ?`,
	}
	if dialect == "postgres" {
		for _, s := range []*string{&q.markBatch, &q.ensureRow, &q.selectSketch, &q.updateRow, &q.pruneBatches, &q.pruneRows} {
			*s = rebind(*s)
		}
	}
	return q
}

// rebind turns ? placeholders into $1, $2 ... for PostgreSQL.
func rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// rowKey is one stored row.
type rowKey struct {
	gran            string
	consumer, route string
	bucket          int64
	class           int
}

type rowDelta struct {
	c  analytics.Counts
	sk analytics.Sketch
}

// WriteRollups applies batches of minute rollups in one transaction. A batch
// id seen before is skipped, so a retried batch is never counted twice.
func (d *DB) WriteRollups(ctx context.Context, rs []analytics.Rollup) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("usagedb: begin: %w", err)
	}
	defer tx.Rollback()
	fresh, err := d.markBatches(ctx, tx, rs)
	if err != nil {
		return err
	}
	deltas := explode(rs, fresh)
	if err := d.applyDeltas(ctx, tx, deltas); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("usagedb: commit: %w", err)
	}
	d.maybePrune(ctx)
	return nil
}

// markBatches records every batch id and returns the ones not applied before.
func (d *DB) markBatches(ctx context.Context, tx *sql.Tx, rs []analytics.Rollup) (map[string]bool, error) {
	fresh := map[string]bool{}
	seen := map[string]bool{}
	now := d.now().Unix()
	for _, r := range rs {
		if seen[r.BatchID] {
			continue
		}
		seen[r.BatchID] = true
		if r.BatchID == "" { // no id: cannot dedupe, always apply
			fresh[""] = true
			continue
		}
		res, err := tx.ExecContext(ctx, d.q.markBatch, r.BatchID, now)
		if err != nil {
			return nil, fmt.Errorf("usagedb: mark batch: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			fresh[r.BatchID] = true
		}
	}
	return fresh, nil
}

var granularities = []string{analytics.Minute, analytics.Hour, analytics.Day}

// explode turns each rollup into its minute, hour and day row deltas, merged per row.
func explode(rs []analytics.Rollup, fresh map[string]bool) map[rowKey]*rowDelta {
	out := map[rowKey]*rowDelta{}
	for _, r := range rs {
		if !fresh[r.BatchID] {
			continue
		}
		c := analytics.Counts{Requests: r.Requests, Errors: r.Errors, ClientErrors: r.ClientErrors, BytesIn: r.BytesIn, BytesOut: r.BytesOut}
		for _, g := range granularities {
			k := rowKey{g, r.ConsumerID, r.Route, analytics.BucketStart(g, r.Minute).Unix(), r.StatusClass}
			dl := out[k]
			if dl == nil {
				dl = &rowDelta{}
				out[k] = dl
			}
			addCounts(&dl.c, c)
			dl.sk.Merge(r.Latency)
		}
	}
	return out
}

func addCounts(a *analytics.Counts, b analytics.Counts) {
	a.Requests += b.Requests
	a.Errors += b.Errors
	a.ClientErrors += b.ClientErrors
	a.BytesIn += b.BytesIn
	a.BytesOut += b.BytesOut
}

// applyDeltas upserts rows in key order (a fixed lock order: no deadlocks
// between gateway nodes writing the same rows on PostgreSQL).
func (d *DB) applyDeltas(ctx context.Context, tx *sql.Tx, deltas map[rowKey]*rowDelta) error {
	keys := make([]rowKey, 0, len(deltas))
	for k := range deltas {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].less(keys[j]) })
	st, err := prepare(ctx, tx, d.q.ensureRow, d.q.selectSketch, d.q.updateRow)
	if err != nil {
		return err
	}
	defer closeAll(st)
	for _, k := range keys {
		if err := applyRow(ctx, st, k, deltas[k]); err != nil {
			return err
		}
	}
	return nil
}

func (a rowKey) less(b rowKey) bool {
	if a.gran != b.gran {
		return a.gran < b.gran
	}
	if a.consumer != b.consumer {
		return a.consumer < b.consumer
	}
	if a.route != b.route {
		return a.route < b.route
	}
	if a.bucket != b.bucket {
		return a.bucket < b.bucket
	}
	return a.class < b.class
}

// applyRow makes sure the row exists, locks and reads its sketch, and adds the delta.
func applyRow(ctx context.Context, st []*sql.Stmt, k rowKey, dl *rowDelta) error {
	args := []any{k.gran, k.consumer, k.route, k.bucket, k.class}
	if _, err := st[0].ExecContext(ctx, args...); err != nil {
		return fmt.Errorf("usagedb: insert rollup: %w", err)
	}
	var raw []byte
	if err := st[1].QueryRowContext(ctx, args...).Scan(&raw); err != nil {
		return fmt.Errorf("usagedb: read rollup: %w", err)
	}
	var sk analytics.Sketch
	if err := sk.UnmarshalBinary(raw); err != nil {
		return fmt.Errorf("usagedb: stored sketch for %s/%s: %w", k.consumer, k.route, err)
	}
	sk.Merge(&dl.sk)
	enc, _ := sk.MarshalBinary()
	c := dl.c
	_, err := st[2].ExecContext(ctx, append([]any{c.Requests, c.Errors, c.ClientErrors, c.BytesIn, c.BytesOut, enc}, args...)...)
	if err != nil {
		return fmt.Errorf("usagedb: update rollup: %w", err)
	}
	return nil
}

func prepare(ctx context.Context, tx *sql.Tx, qs ...string) ([]*sql.Stmt, error) {
	out := make([]*sql.Stmt, 0, len(qs))
	for _, q := range qs {
		s, err := tx.PrepareContext(ctx, q)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("usagedb: prepare: %w", err)
		}
		out = append(out, s)
	}
	return out, nil
}

func closeAll(st []*sql.Stmt) {
	for _, s := range st {
		_ = s.Close()
	}
}

// maybePrune forgets batch ids older than BatchRetention and rows past
// their Retention, at most once an hour.
func (d *DB) maybePrune(ctx context.Context) {
	now := d.now()
	last := d.lastPrune.Load()
	if now.Unix()-last < 3600 || !d.lastPrune.CompareAndSwap(last, now.Unix()) {
		return
	}
	_ = d.Prune(ctx, now)
}

// Prune deletes batch ids and rows older than their retention at now.
func (d *DB) Prune(ctx context.Context, now time.Time) error {
	if _, err := d.db.ExecContext(ctx, d.q.pruneBatches, now.Add(-BatchRetention).Unix()); err != nil {
		return fmt.Errorf("usagedb: prune batches: %w", err)
	}
	for g, keep := range Retention {
		if _, err := d.db.ExecContext(ctx, d.q.pruneRows, g, now.Add(-keep).Unix()); err != nil {
			return fmt.Errorf("usagedb: prune %s rows: %w", g, err)
		}
	}
	return nil
}

// rangeQuery adds the optional filters so the primary key
// (granularity, consumer_id, route, bucket) serves per-consumer queries.
func (d *DB) rangeQuery(f analytics.Filter) (string, []any) {
	q, args := d.q.selectRange, []any{f.Granularity, f.From.Unix(), f.To.Unix()}
	if f.Consumer != "" {
		q, args = q+" AND consumer_id = ?", append(args, f.Consumer)
	}
	if f.Route != "" {
		q, args = q+" AND route = ?", append(args, f.Route)
	}
	if d.dialect == "postgres" {
		q = rebind(q)
	}
	return q, args
}

// Query returns the usage series and totals selected by f (see analytics.Filter.Normalize).
func (d *DB) Query(ctx context.Context, f analytics.Filter) (*analytics.Usage, error) {
	f, err := f.Normalize(d.now())
	if err != nil {
		return nil, err
	}
	q, args := d.rangeQuery(f)
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("usagedb: query: %w", err)
	}
	defer rows.Close()
	b := analytics.NewUsageBuilder(f)
	for rows.Next() {
		var consumer, route string
		var bucket int64
		var c analytics.Counts
		var raw []byte
		if err := rows.Scan(&consumer, &route, &bucket, &c.Requests, &c.Errors, &c.ClientErrors, &c.BytesIn, &c.BytesOut, &raw); err != nil {
			return nil, fmt.Errorf("usagedb: scan: %w", err)
		}
		var sk analytics.Sketch
		if err := sk.UnmarshalBinary(raw); err != nil {
			return nil, fmt.Errorf("usagedb: stored sketch: %w", err)
		}
		b.Add(consumer, route, time.Unix(bucket, 0), c, &sk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("usagedb: query: %w", err)
	}
	return b.Build(), nil
}
