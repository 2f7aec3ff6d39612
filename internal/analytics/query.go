package analytics

import (
	"context"
	"errors"
	"sort"
	"time"
)

// Granularities a usage query can ask for. Hours and days are UTC.
const (
	Minute = "minute"
	Hour   = "hour"
	Day    = "day"
)

// MaxBuckets caps how many buckets one query may span (a month of minutes fits).
const MaxBuckets = 50000

// ErrBadFilter wraps every filter validation error (the handler answers 400).
var ErrBadFilter = errors.New("bad usage filter")

// Filter selects usage. Empty Consumer/Route mean all.
type Filter struct {
	Consumer    string
	Route       string
	From, To    time.Time // [From, To); aligned down/up to Granularity by Normalize
	Granularity string    // minute | hour | day
}

// Querier answers usage queries (usagedb.DB implements it).
type Querier interface {
	Query(ctx context.Context, f Filter) (*Usage, error)
}

// BucketSize is the length of one bucket of granularity g (0 if unknown).
func BucketSize(g string) time.Duration {
	switch g {
	case Minute:
		return time.Minute
	case Hour:
		return time.Hour
	case Day:
		return 24 * time.Hour
	}
	return 0
}

// BucketStart truncates t (UTC) to the start of its bucket.
func BucketStart(g string, t time.Time) time.Time {
	return t.UTC().Truncate(BucketSize(g))
}

// Normalize fills defaults (granularity hour, to = now, from = to - 24h) and
// aligns the range to bucket bounds. Errors wrap ErrBadFilter.
func (f Filter) Normalize(now time.Time) (Filter, error) {
	if f.Granularity == "" {
		f.Granularity = Hour
	}
	size := BucketSize(f.Granularity)
	if size == 0 {
		return f, badFilter("granularity must be minute, hour or day")
	}
	if f.To.IsZero() {
		f.To = now
	}
	if f.From.IsZero() {
		f.From = f.To.Add(-24 * time.Hour)
	}
	f.From = BucketStart(f.Granularity, f.From)
	if end := BucketStart(f.Granularity, f.To); !end.Equal(f.To.UTC()) {
		f.To = end.Add(size)
	} else {
		f.To = end
	}
	if !f.From.Before(f.To) {
		return f, badFilter("from must be before to")
	}
	if f.To.Sub(f.From)/size > MaxBuckets {
		return f, badFilter("the range spans too many buckets; use a coarser granularity")
	}
	return f, nil
}

type filterError string

func (e filterError) Error() string { return string(e) }
func (e filterError) Unwrap() error { return ErrBadFilter }

func badFilter(msg string) error { return filterError(msg) }

// Counts are the additive figures of a bucket.
type Counts struct {
	Requests     int64 `json:"requests"`
	Errors       int64 `json:"errors"`
	ClientErrors int64 `json:"client_errors"`
	BytesIn      int64 `json:"bytes_in"`
	BytesOut     int64 `json:"bytes_out"`
}

func (c *Counts) add(o Counts) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.ClientErrors += o.ClientErrors
	c.BytesIn += o.BytesIn
	c.BytesOut += o.BytesOut
}

// Percentiles are latency quantiles in milliseconds, within RelativeAccuracy.
type Percentiles struct {
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
}

func percentilesOf(s *Sketch) Percentiles {
	return Percentiles{P50: s.Quantile(0.50), P95: s.Quantile(0.95), P99: s.Quantile(0.99)}
}

// Point is one bucket of one series.
type Point struct {
	T time.Time `json:"t"`
	Counts
	Percentiles
}

// Series is the usage of one (consumer, route), buckets with traffic only, in time order.
type Series struct {
	Consumer string  `json:"consumer"`
	Route    string  `json:"route"`
	Points   []Point `json:"points"`
}

// Totals sum every series over the whole range.
type Totals struct {
	Counts
	Percentiles
}

// Usage is the answer to a query (and the JSON of GET /usage).
type Usage struct {
	Granularity string    `json:"granularity"`
	From        time.Time `json:"from"`
	To          time.Time `json:"to"`
	Series      []Series  `json:"series"`
	// Overall is every series merged per bucket (percentiles from the merged
	// sketches), for charts of the whole selection.
	Overall []Point `json:"overall"`
	Totals  Totals  `json:"totals"`
}

// UsageBuilder merges stored rows (any order, any status class) into a Usage.
type UsageBuilder struct {
	f       Filter
	series  map[[2]string]map[int64]*pointAcc
	overall map[int64]*pointAcc
	total   pointAcc
}

type pointAcc struct {
	c  Counts
	sk Sketch
}

// NewUsageBuilder starts a Usage for a normalised filter.
func NewUsageBuilder(f Filter) *UsageBuilder {
	return &UsageBuilder{f: f, series: map[[2]string]map[int64]*pointAcc{}, overall: map[int64]*pointAcc{}}
}

// Add merges one row into its series' bucket.
func (b *UsageBuilder) Add(consumer, route string, bucket time.Time, c Counts, sk *Sketch) {
	k := [2]string{consumer, route}
	pts := b.series[k]
	if pts == nil {
		pts = map[int64]*pointAcc{}
		b.series[k] = pts
	}
	t := bucket.Unix()
	for _, acc := range []*pointAcc{accAt(pts, t), accAt(b.overall, t), &b.total} {
		acc.c.add(c)
		acc.sk.Merge(sk)
	}
}

func accAt(pts map[int64]*pointAcc, t int64) *pointAcc {
	acc := pts[t]
	if acc == nil {
		acc = &pointAcc{}
		pts[t] = acc
	}
	return acc
}

// points turns bucket accumulators into time-ordered points.
func points(pts map[int64]*pointAcc) []Point {
	out := make([]Point, 0, len(pts))
	for t, acc := range pts {
		out = append(out, Point{T: time.Unix(t, 0).UTC(), Counts: acc.c, Percentiles: percentilesOf(&acc.sk)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out
}

// Build returns the Usage: series sorted by consumer then route, points by time.
func (b *UsageBuilder) Build() *Usage {
	u := &Usage{Granularity: b.f.Granularity, From: b.f.From.UTC(), To: b.f.To.UTC(), Series: []Series{}}
	for k, pts := range b.series {
		u.Series = append(u.Series, Series{Consumer: k[0], Route: k[1], Points: points(pts)})
	}
	sort.Slice(u.Series, func(i, j int) bool {
		a, c := u.Series[i], u.Series[j]
		return a.Consumer < c.Consumer || (a.Consumer == c.Consumer && a.Route < c.Route)
	})
	u.Overall = points(b.overall)
	u.Totals = Totals{Counts: b.total.c, Percentiles: percentilesOf(&b.total.sk)}
	return u
}
