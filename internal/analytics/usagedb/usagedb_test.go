package usagedb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/tollgate-dev/tollgate/internal/analytics"
)

// migrate runs this package's migration file (until internal/store's runner does it).
func migrate(t *testing.T, db *sql.DB, dialect string) {
	t.Helper()
	sqlText, err := os.ReadFile(filepath.Join("..", "..", "store", "migrations", dialect, "0100_usage.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(sqlText)); err != nil {
		t.Fatalf("migration: %v", err)
	}
}

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "usage.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	migrate(t, db, "sqlite")
	return db
}

// openPostgres gives each test a fresh schema on TOLLGATE_TEST_POSTGRES, dropped afterwards.
func openPostgres(t *testing.T) *sql.DB {
	t.Helper()
	dsn := os.Getenv("TOLLGATE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("set TOLLGATE_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable to run")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "usagedb_test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	migrate(t, db, "postgres")
	return db
}

var dialects = []struct {
	name string
	open func(*testing.T) *sql.DB
}{{"sqlite", openSQLite}, {"postgres", openPostgres}}

// base is today 09:58 UTC: recent enough to survive retention pruning, and
// the mix straddles an hour boundary but not a day boundary.
var base = time.Now().UTC().Truncate(24 * time.Hour).Add(9*time.Hour + 58*time.Minute)

type want struct {
	counts    analytics.Counts
	latencies []float64 // ms
}

// knownMix: 3 consumers x 2 routes, statuses in a fixed rotation, spread over ~5 minutes
// that straddle an hour boundary (9:58 - 10:03).
func knownMix(n int) ([]analytics.Event, map[[2]string]*want) {
	consumers := []string{"acme", "globex", "initech"}
	routes := []string{"orders", "users"}
	statuses := []int{200, 200, 201, 404, 429, 500, 502, 204}
	ws := map[[2]string]*want{}
	evs := make([]analytics.Event, n)
	for i := range evs {
		lat := time.Duration(math.Exp(float64(i%50)/10)*1000) * time.Microsecond // 1 ms .. ~134 ms
		e := analytics.Event{
			Time: base.Add(time.Duration(i) * 300 * time.Second / time.Duration(n)), ConsumerID: consumers[i%3],
			Route: routes[(i/3)%2], Method: "GET", Status: statuses[i%len(statuses)], Latency: lat,
			BytesIn: int64(i % 13), BytesOut: int64(200 + i%31),
		}
		evs[i] = e
		k := [2]string{e.ConsumerID, e.Route}
		w := ws[k]
		if w == nil {
			w = &want{}
			ws[k] = w
		}
		w.counts.Requests++
		switch {
		case e.Status >= 500:
			w.counts.Errors++
		case e.Status >= 400:
			w.counts.ClientErrors++
		}
		w.counts.BytesIn += e.BytesIn
		w.counts.BytesOut += e.BytesOut
		w.latencies = append(w.latencies, float64(lat)/float64(time.Millisecond))
	}
	return evs, ws
}

func quickOpts(dir string) analytics.Options {
	return analytics.Options{FlushInterval: 10 * time.Millisecond, Grace: time.Millisecond, BatchSize: 7,
		RetryMin: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond, SpillDir: dir}
}

// TestPipelineToStoreExactAcrossRestart is the acceptance test: a known mix
// through Pipeline -> usagedb, with a graceful restart in the middle, must
// come back from Query with exactly those counts at every granularity, and
// percentiles within the sketch's relative accuracy of the exact ones.
func TestPipelineToStoreExactAcrossRestart(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			db := d.open(t)
			store, err := New(db, d.name)
			if err != nil {
				t.Fatal(err)
			}
			evs, ws := knownMix(3000)
			dir := t.TempDir()
			half := len(evs) / 2
			for _, part := range [][]analytics.Event{evs[:half], evs[half:]} {
				p := analytics.NewPipeline(store, quickOpts(dir), nil)
				for _, e := range part {
					p.Emit(e)
				}
				if err := p.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				if p.Dropped() != 0 {
					t.Fatalf("dropped %d", p.Dropped())
				}
			}
			for _, g := range []string{analytics.Minute, analytics.Hour, analytics.Day} {
				u, err := store.Query(context.Background(), analytics.Filter{Granularity: g, From: base.Add(-time.Hour), To: base.Add(2 * time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				checkUsage(t, g, u, ws)
			}
			one, err := store.Query(context.Background(), analytics.Filter{Consumer: "acme", Route: "users", Granularity: analytics.Minute, From: base, To: base.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if len(one.Series) != 1 || one.Totals.Counts != ws[[2]string{"acme", "users"}].counts {
				t.Fatalf("filtered query: %+v", one.Totals)
			}
			if n := len(one.Series[0].Points); n != 5 {
				t.Fatalf("minute points: %d, want 5 (9:58..10:02)", n)
			}
		})
	}
}

func checkUsage(t *testing.T, g string, u *analytics.Usage, ws map[[2]string]*want) {
	t.Helper()
	if len(u.Series) != len(ws) {
		t.Fatalf("%s: %d series, want %d", g, len(u.Series), len(ws))
	}
	var all []float64
	var total analytics.Counts
	for _, s := range u.Series {
		w := ws[[2]string{s.Consumer, s.Route}]
		var got analytics.Counts
		for _, p := range s.Points {
			got.Requests += p.Requests
			got.Errors += p.Errors
			got.ClientErrors += p.ClientErrors
			got.BytesIn += p.BytesIn
			got.BytesOut += p.BytesOut
		}
		if got != w.counts {
			t.Errorf("%s %s/%s: got %+v want %+v", g, s.Consumer, s.Route, got, w.counts)
		}
		all = append(all, w.latencies...)
		total.Requests += w.counts.Requests
		total.Errors += w.counts.Errors
		total.ClientErrors += w.counts.ClientErrors
		total.BytesIn += w.counts.BytesIn
		total.BytesOut += w.counts.BytesOut
	}
	if u.Totals.Counts != total {
		t.Errorf("%s totals: got %+v want %+v", g, u.Totals.Counts, total)
	}
	slices.Sort(all)
	for _, c := range []struct {
		q   float64
		got float64
	}{{0.5, u.Totals.P50}, {0.95, u.Totals.P95}, {0.99, u.Totals.P99}} {
		exact := all[int(c.q*float64(len(all)-1))]
		if rel := math.Abs(c.got-exact) / exact; rel > analytics.RelativeAccuracy {
			t.Errorf("%s p%v: got %.3f exact %.3f (rel %.4f)", g, c.q*100, c.got, exact, rel)
		}
	}
}

func TestRetriedBatchIsAppliedOnce(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			store, err := New(d.open(t), d.name)
			if err != nil {
				t.Fatal(err)
			}
			sk := analytics.NewSketch()
			sk.Add(10)
			r := []analytics.Rollup{{BatchID: "b1", Minute: base, ConsumerID: "c", Route: "r", StatusClass: 2, Requests: 5, BytesOut: 50, Latency: sk}}
			for range 3 {
				if err := store.WriteRollups(context.Background(), r); err != nil {
					t.Fatal(err)
				}
			}
			r[0].BatchID = "b2"
			if err := store.WriteRollups(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			u, err := store.Query(context.Background(), analytics.Filter{Granularity: analytics.Day, From: base, To: base.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if u.Totals.Requests != 10 || u.Totals.BytesOut != 100 {
				t.Fatalf("got %+v, want 10 requests (two distinct batches)", u.Totals.Counts)
			}
		})
	}
}

func TestQueryRejectsBadFilters(t *testing.T) {
	store, _ := New(openSQLite(t), "sqlite")
	for _, f := range []analytics.Filter{
		{Granularity: "week"},
		{Granularity: analytics.Minute, From: base, To: base.Add(-time.Hour)},
		{Granularity: analytics.Minute, From: base.Add(-365 * 24 * time.Hour), To: base},
	} {
		if _, err := store.Query(context.Background(), f); err == nil {
			t.Errorf("%+v accepted", f)
		}
	}
	if _, err := New(nil, "oracle"); err == nil {
		t.Error("unknown dialect accepted")
	}
}

// ackLost applies a write but reports failure for the first n calls: the
// "commit succeeded, answer lost" store hiccup. Retries must not double count.
type ackLost struct {
	*DB
	n int
}

func (a *ackLost) WriteRollups(ctx context.Context, rs []analytics.Rollup) error {
	err := a.DB.WriteRollups(ctx, rs)
	if err == nil && a.n > 0 {
		a.n--
		return errors.New("connection reset after commit")
	}
	return err
}

func TestStoreHiccupNeverDoubleCounts(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			store, err := New(d.open(t), d.name)
			if err != nil {
				t.Fatal(err)
			}
			evs, ws := knownMix(900)
			p := analytics.NewPipeline(&ackLost{DB: store, n: 5}, quickOpts(t.TempDir()), nil)
			for _, e := range evs {
				p.Emit(e)
			}
			if err := p.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			u, err := store.Query(context.Background(), analytics.Filter{Granularity: analytics.Hour, From: base.Add(-time.Hour), To: base.Add(2 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			checkUsage(t, analytics.Hour, u, ws)
		})
	}
}

func TestPruneKeepsDays(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			store, err := New(d.open(t), d.name)
			if err != nil {
				t.Fatal(err)
			}
			sk := analytics.NewSketch()
			sk.Add(3)
			r := []analytics.Rollup{{BatchID: "old", Minute: base, ConsumerID: "c", Route: "r", StatusClass: 2, Requests: 4, Latency: sk}}
			if err := store.WriteRollups(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			if err := store.Prune(context.Background(), base.Add(30*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
			count := func(g string) int64 {
				u, err := store.Query(context.Background(), analytics.Filter{Granularity: g, From: base.Add(-24 * time.Hour), To: base.Add(24 * time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				return u.Totals.Requests
			}
			if m, h, dd := count(analytics.Minute), count(analytics.Hour), count(analytics.Day); m != 0 || h != 4 || dd != 4 {
				t.Fatalf("after 30 days: minute %d hour %d day %d, want 0 4 4", m, h, dd)
			}
		})
	}
}
