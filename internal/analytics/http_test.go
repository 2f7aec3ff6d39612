package analytics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// memQuerier answers queries from rollups in memory, like usagedb does from SQL.
type memQuerier struct {
	rows []Rollup
	err  error
	now  time.Time
}

func (m *memQuerier) Query(_ context.Context, f Filter) (*Usage, error) {
	if m.err != nil {
		return nil, m.err
	}
	now := m.now
	if now.IsZero() {
		now = time.Now()
	}
	f, err := f.Normalize(now)
	if err != nil {
		return nil, err
	}
	b := NewUsageBuilder(f)
	for _, r := range m.rows {
		t := BucketStart(f.Granularity, r.Minute)
		if t.Before(f.From) || !t.Before(f.To) || (f.Consumer != "" && f.Consumer != r.ConsumerID) || (f.Route != "" && f.Route != r.Route) {
			continue
		}
		b.Add(r.ConsumerID, r.Route, t, Counts{r.Requests, r.Errors, r.ClientErrors, r.BytesIn, r.BytesOut}, r.Latency)
	}
	return b.Build(), nil
}

// sampleRows makes traffic for the last hour: two consumers, three routes.
func sampleRows(now time.Time) []Rollup {
	var rows []Rollup
	start := now.Truncate(time.Minute).Add(-50 * time.Minute)
	for i := range 50 {
		for j, c := range []struct{ consumer, route string }{{"acme", "orders"}, {"acme", "users"}, {"globex", "orders"}, {"globex", "search"}} {
			sk := NewSketch()
			n := int64(10 + i%7 + j*5)
			for k := range n {
				sk.Add(float64(5 + k + int64(j*10)))
			}
			rows = append(rows, Rollup{Minute: start.Add(time.Duration(i) * time.Minute), ConsumerID: c.consumer, Route: c.route,
				StatusClass: 2, Requests: n, Errors: int64(i % 3), ClientErrors: 1, BytesIn: n * 10, BytesOut: n * 100, Latency: sk})
		}
	}
	return rows
}

func TestUsageHandler(t *testing.T) {
	now := time.Now()
	q := &memQuerier{rows: sampleRows(now)}
	cases := []struct {
		name, method, query string
		q                   Querier
		status              int
		detail              string
	}{
		{"ok", "GET", "granularity=minute&from=" + now.Add(-2*time.Hour).Format(time.RFC3339), q, 200, ""},
		{"unix times", "GET", "granularity=hour&from=" + strconv.FormatInt(now.Add(-48*time.Hour).Unix(), 10) + "&to=" + strconv.FormatInt(now.Add(time.Hour).Unix(), 10), q, 200, ""},
		{"bad granularity", "GET", "granularity=week", q, 400, "granularity"},
		{"bad from", "GET", "from=yesterday", q, 400, "from"},
		{"bad to", "GET", "to=-5", q, 400, "to"},
		{"reversed", "GET", "from=2000&to=1000", q, 400, "before"},
		{"range too large", "GET", "granularity=minute&from=0", q, 400, "too many buckets"},
		{"store error", "GET", "", &memQuerier{err: errors.New("pq: connection refused at 10.0.0.3")}, 500, "could not complete"},
		{"method", "POST", "", q, 405, "GET"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			UsageHandler(c.q).ServeHTTP(rec, httptest.NewRequest(c.method, "/usage?"+c.query, nil))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, c.status, rec.Body)
			}
			if c.status != 200 {
				if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
					t.Fatalf("content type %q", ct)
				}
				if !strings.Contains(rec.Body.String(), c.detail) || strings.Contains(rec.Body.String(), "10.0.0.3") {
					t.Fatalf("body %s", rec.Body)
				}
				return
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"granularity", "from", "to", "series", "totals"} {
				if _, ok := got[k]; !ok {
					t.Errorf("missing %q", k)
				}
			}
			pt := got["series"].([]any)[0].(map[string]any)["points"].([]any)[0].(map[string]any)
			for _, k := range []string{"t", "requests", "errors", "bytes_in", "bytes_out", "p50_ms", "p95_ms", "p99_ms"} {
				if _, ok := pt[k]; !ok {
					t.Errorf("point misses %q", k)
				}
			}
		})
	}
}

func TestUsageCommand(t *testing.T) {
	now := time.Now()
	q := &memQuerier{rows: sampleRows(now)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(401)
			w.Write([]byte(`{"title":"Unauthorized","status":401,"detail":"admin token required"}`))
			return
		}
		UsageHandler(q).ServeHTTP(w, r)
	}))
	defer srv.Close()
	run := func(token string, args ...string) (string, error) {
		cmd := NewUsageCommand(func() string { return srv.URL }, func() string { return token })
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		err := cmd.ExecuteContext(context.Background())
		return out.String(), err
	}
	out, err := run("s3cret", "--granularity", "minute", "--from", now.Add(-time.Hour).Format(time.RFC3339))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CONSUMER", "acme", "globex", "search", "TOTAL", "█"} {
		if !strings.Contains(out, want) {
			t.Errorf("table misses %q:\n%s", want, out)
		}
	}
	u, _ := q.Query(context.Background(), Filter{Granularity: Minute, From: now.Add(-time.Hour), To: now})
	if !strings.Contains(out, strconv.FormatInt(u.Totals.Requests, 10)) {
		t.Errorf("total %d not in table:\n%s", u.Totals.Requests, out)
	}
	js, err := run("s3cret", "-o", "json", "--consumer", "acme")
	if err != nil {
		t.Fatal(err)
	}
	var got Usage
	if err := json.Unmarshal([]byte(js), &got); err != nil || len(got.Series) != 2 {
		t.Fatalf("json output: %v %d series", err, len(got.Series))
	}
	if _, err := run("wrong"); err == nil || !strings.Contains(err.Error(), "admin token required") {
		t.Fatalf("auth failure: %v", err)
	}
	if _, err := run("s3cret", "--granularity", "fortnight"); err == nil || !strings.Contains(err.Error(), "granularity") {
		t.Fatalf("bad granularity: %v", err)
	}
}

func TestSparkline(t *testing.T) {
	if got := Sparkline([]float64{0, 1, 2, 3, 4, 5, 6, 7}, 40); got != "▁▂▃▄▅▆▇█" {
		t.Fatalf("%q", got)
	}
	if got := []rune(Sparkline(make([]float64, 100), 40)); len(got) != 40 {
		t.Fatalf("width %d", len(got))
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"", "0", "1767225600", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00+02:00", "-1", "99999999999999", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err == nil && s != "" && (tm.Year() < 1970 || tm.Year() > 9999) {
			t.Fatalf("%q parsed to %v", s, tm)
		}
	})
}
