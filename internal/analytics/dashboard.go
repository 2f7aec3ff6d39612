package analytics

import (
	"html/template"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/tollgate-dev/tollgate/internal/problem"
)

// dashboardRanges are the ranges the page offers, each with a granularity
// that keeps charts between ~24 and ~360 points.
var dashboardRanges = []struct {
	Name        string
	Span        time.Duration
	Granularity string
}{
	{"1h", time.Hour, Minute},
	{"6h", 6 * time.Hour, Minute},
	{"24h", 24 * time.Hour, Hour},
	{"7d", 7 * 24 * time.Hour, Hour},
	{"30d", 30 * 24 * time.Hour, Day},
}

// topN is how many routes and consumers the bar charts show.
const topN = 10

type dashboardData struct {
	Range, Consumer, Route string
	Ranges                 []string
	Usage                  *Usage
	ErrorRate              float64
	RequestsChart          template.HTML
	ErrorsChart            template.HTML
	LatencyChart           template.HTML
	TopRoutes              template.HTML
	TopConsumers           template.HTML
}

// AnalyticsPage serves /ui/analytics: server-rendered HTML with inline SVG
// charts (requests/s, error rate, p50/p95/p99; top routes and consumers).
// Query: range=1h|6h|24h|7d|30d (default 1h), consumer=, route=.
func AnalyticsPage(q Querier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := r.Header.Get("X-Request-ID")
		p := r.URL.Query()
		d := dashboardData{Range: p.Get("range"), Consumer: p.Get("consumer"), Route: p.Get("route")}
		if d.Range == "" {
			d.Range = "1h"
		}
		f, ok := dashboardFilter(d.Range, time.Now())
		if !ok {
			problem.BadRequest("range must be one of 1h, 6h, 24h, 7d, 30d").Write(w, reqID)
			return
		}
		f.Consumer, f.Route = d.Consumer, d.Route
		u, err := q.Query(r.Context(), f)
		if err != nil {
			queryProblem(err).Write(w, reqID)
			return
		}
		fillDashboard(&d, u)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'")
		_ = dashboardTmpl.Execute(w, d)
	})
}

func dashboardFilter(name string, now time.Time) (Filter, bool) {
	for _, rg := range dashboardRanges {
		if rg.Name == name {
			return Filter{From: now.Add(-rg.Span), To: now, Granularity: rg.Granularity}, true
		}
	}
	return Filter{}, false
}

func fillDashboard(d *dashboardData, u *Usage) {
	for _, rg := range dashboardRanges {
		d.Ranges = append(d.Ranges, rg.Name)
	}
	d.Usage = u
	if u.Totals.Requests > 0 {
		d.ErrorRate = float64(u.Totals.Errors) / float64(u.Totals.Requests) * 100
	}
	xs, perBucket := denseBuckets(u)
	secs := BucketSize(u.Granularity).Seconds()
	rps, errRate, p50, p95, p99 := make([]float64, len(xs)), make([]float64, len(xs)), nan(len(xs)), nan(len(xs)), nan(len(xs))
	for i, pt := range perBucket {
		if pt == nil {
			continue
		}
		rps[i] = float64(pt.Requests) / secs
		if pt.Requests > 0 {
			errRate[i] = float64(pt.Errors) / float64(pt.Requests) * 100
		}
		p50[i], p95[i], p99[i] = pt.P50, pt.P95, pt.P99
	}
	d.RequestsChart = lineChart("requests-chart", "/s", xs, []line{{"requests/s", "#4e79a7", rps}})
	d.ErrorsChart = lineChart("errors-chart", "%", xs, []line{{"5xx rate", "#e15759", errRate}})
	d.LatencyChart = lineChart("latency-chart", "ms", xs, []line{{"p50", "#59a14f", p50}, {"p95", "#f28e2b", p95}, {"p99", "#e15759", p99}})
	d.TopRoutes = barChart("top-routes", topBars(u, func(s Series) string { return s.Route }))
	d.TopConsumers = barChart("top-consumers", topBars(u, func(s Series) string { return orDash(s.Consumer) }))
}

// denseBuckets lists every bucket of the range with its overall point (nil when no traffic).
func denseBuckets(u *Usage) ([]time.Time, []*Point) {
	size := BucketSize(u.Granularity)
	n := min(int(u.To.Sub(u.From)/size), MaxBuckets)
	xs, pts := make([]time.Time, n), make([]*Point, n)
	for i := range xs {
		xs[i] = u.From.Add(time.Duration(i) * size)
	}
	for i := range u.Overall {
		if j := int(u.Overall[i].T.Sub(u.From) / size); j >= 0 && j < n {
			pts[j] = &u.Overall[i]
		}
	}
	return xs, pts
}

func nan(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.NaN()
	}
	return out
}

// topBars sums requests per label and keeps the topN largest.
func topBars(u *Usage, label func(Series) string) []bar {
	sums := map[string]float64{}
	for _, s := range u.Series {
		for _, p := range s.Points {
			sums[label(s)] += float64(p.Requests)
		}
	}
	bars := make([]bar, 0, len(sums))
	for l, v := range sums {
		bars = append(bars, bar{l, v})
	}
	sort.Slice(bars, func(i, j int) bool {
		return bars[i].Value > bars[j].Value || (bars[i].Value == bars[j].Value && bars[i].Label < bars[j].Label)
	})
	return bars[:min(len(bars), topN)]
}

var dashboardTmpl = template.Must(template.New("analytics").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tollgate · analytics</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#222}
header{background:#1f2937;color:#fff;padding:12px 24px}header h1{margin:0;font-size:18px}
main{max-width:1100px;margin:0 auto;padding:16px 24px}
form{display:flex;gap:8px;align-items:end;flex-wrap:wrap;margin-bottom:16px}
label{font-size:12px;display:flex;flex-direction:column}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px;margin-bottom:16px}
.card,.panel{background:#fff;border:1px solid #e5e7eb;border-radius:6px;padding:12px}
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#666}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px}
h2{font-size:14px;margin:0 0 8px}
</style></head><body>
<header><h1>tollgate analytics</h1></header>
<main>
<form method="get" action="">
<label>Range<select name="range">{{range .Ranges}}<option value="{{.}}"{{if eq . $.Range}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>Consumer<input name="consumer" value="{{.Consumer}}" placeholder="all"></label>
<label>Route<input name="route" value="{{.Route}}" placeholder="all"></label>
<button type="submit">Show</button>
</form>
<section class="cards" id="totals">
<div class="card"><b id="total-requests">{{.Usage.Totals.Requests}}</b><span>requests</span></div>
<div class="card"><b>{{printf "%.2f" .ErrorRate}}%</b><span>5xx error rate</span></div>
<div class="card"><b>{{.Usage.Totals.ClientErrors}}</b><span>4xx responses</span></div>
<div class="card"><b>{{printf "%.1f" .Usage.Totals.P50}} / {{printf "%.1f" .Usage.Totals.P95}} / {{printf "%.1f" .Usage.Totals.P99}}</b><span>p50 / p95 / p99 ms</span></div>
</section>
<div class="grid">
<section class="panel"><h2>Requests per second</h2>{{.RequestsChart}}</section>
<section class="panel"><h2>Error rate (5xx)</h2>{{.ErrorsChart}}</section>
<section class="panel"><h2>Latency percentiles</h2>{{.LatencyChart}}</section>
<section class="panel"><h2>Top routes</h2>{{.TopRoutes}}</section>
<section class="panel"><h2>Top consumers</h2>{{.TopConsumers}}</section>
</div>
<p style="font-size:12px;color:#666">{{.Usage.From.Format "2006-01-02 15:04"}} – {{.Usage.To.Format "2006-01-02 15:04"}} UTC, per {{.Usage.Granularity}}. Latency percentiles are within 1% relative error.</p>
</main></body></html>`))
