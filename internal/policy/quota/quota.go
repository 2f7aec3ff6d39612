// Package quota is the quota policy: a number of requests per calendar day
// or month in a time zone, with X-Quota-* headers and 429 + Retry-After
// (seconds to the next period) when used up.
package quota

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate-dev/tollgate/internal/counters"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/ratelimit/clientkey"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Definition is the quota policy.
var Definition = policy.Definition{
	Name:  "quota",
	Phase: policy.PhaseLimit,
	New:   func() policy.Config { return &Config{} },
	Doc:   "caps requests per calendar day or month (429 + X-Quota headers)",
}

// Config is `policies.quota`.
type Config struct {
	Limit    int64  `yaml:"limit" json:"limit"`
	Period   string `yaml:"period" json:"period"`               // day | month
	Timezone string `yaml:"timezone" json:"timezone,omitempty"` // IANA name, default UTC
	By       string `yaml:"by" json:"by,omitempty"`             // as rate_limit; default consumer
}

func (c *Config) Validate() []error {
	var errs []error
	if c.Limit <= 0 {
		errs = append(errs, errors.New("quota: limit must be a positive number of requests"))
	}
	if _, err := ParsePeriod(c.Period); err != nil {
		errs = append(errs, err)
	}
	if _, err := loadZone(c.Timezone); err != nil {
		errs = append(errs, err)
	}
	if _, err := clientkey.Parse(c.By); err != nil {
		errs = append(errs, fmt.Errorf("quota: %w", err))
	}
	return errs
}

// Build resolves the counters backend and the time zone once.
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cs, ok := policy.Service[counters.Counters](env, "counters")
	if !ok {
		return nil, errors.New("quota: the counters service is not configured")
	}
	by, _ := clientkey.Parse(c.By)
	p, _ := ParsePeriod(c.Period)
	loc, _ := loadZone(c.Timezone)
	q := &Counter{Limit: c.Limit, Period: p, Loc: loc, C: cs, scope: "q:route:" + env.Route.Name + ":" + by.String() + ":"}
	return policy.HandlerFunc(func(ex policy.Exchange, next policy.Next) error {
		id := by.Key(ex)
		if err := q.Check(ex, id); err != nil {
			return err
		}
		err := next(ex)
		q.RefundIfLimited(ex, id, err)
		return err
	}), nil
}

// Period is a calendar period.
type Period int

const (
	Day Period = iota
	Month
)

// ParsePeriod reads day or month.
func ParsePeriod(s string) (Period, error) {
	switch s {
	case "day":
		return Day, nil
	case "month":
		return Month, nil
	}
	return 0, fmt.Errorf("quota: period %q is not day or month", s)
}

func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("quota: timezone %q is not an IANA time zone name (e.g. Europe/Paris)", name)
	}
	return loc, nil
}

// Bounds is the period containing t, in loc: its first instant, the first
// instant of the next one, and a stable id used in counter keys.
func (p Period) Bounds(t time.Time, loc *time.Location) (start, end time.Time, id string) {
	t = t.In(loc)
	if p == Month {
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc)
		return start, start.AddDate(0, 1, 0), start.Format("2006-01")
	}
	start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	return start, start.AddDate(0, 0, 1), start.Format("2006-01-02")
}

// Counter counts requests of one quota. The plan handler in rate_limit
// reuses it for plan quotas.
type Counter struct {
	Limit  int64
	Period Period
	Loc    *time.Location
	C      counters.Counters
	scope  string
}

// NewCounter is a quota counting under a stable scope (e.g. "q:consumer:").
func NewCounter(scope string, limit int64, p Period, loc *time.Location, c counters.Counters) *Counter {
	if loc == nil {
		loc = time.UTC
	}
	return &Counter{Limit: limit, Period: p, Loc: loc, C: c, scope: scope}
}

// Check counts one request for identity id, adds X-Quota-Limit,
// X-Quota-Remaining and X-Quota-Reset, and returns a 429 when used up.
func (q *Counter) Check(ex policy.Exchange, id string) error {
	now := ex.Now()
	_, end, pid := q.Period.Bounds(now, q.Loc)
	total, added, err := q.C.Add(ex.Context(), q.scope+id+":"+pid, 1, q.Limit, end)
	if err != nil {
		// A quota must not take the API down with its backend; the counters
		// driver already fell back per node, so this is rare.
		return nil
	}
	reset := int(end.Sub(now).Seconds() + 0.999)
	ex.AddResponseHeader("X-Quota-Limit", strconv.FormatInt(q.Limit, 10))
	ex.AddResponseHeader("X-Quota-Remaining", strconv.FormatInt(max(0, q.Limit-total), 10))
	ex.AddResponseHeader("X-Quota-Reset", strconv.Itoa(reset))
	if !added {
		return problem.TooManyRequests(reset, "quota exhausted for this period; it resets at "+end.UTC().Format(time.RFC3339))
	}
	return nil
}

// RefundIfLimited gives the request back when a later limiter (a rate
// limit, which runs after quota in the same phase) refused it with 429: a
// request the client was told to retry must not use up quota.
func (q *Counter) RefundIfLimited(ex policy.Exchange, id string, err error) {
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusTooManyRequests {
		return
	}
	_, end, pid := q.Period.Bounds(ex.Now(), q.Loc)
	_, _, _ = q.C.Add(ex.Context(), q.scope+id+":"+pid, -1, 0, end)
}
