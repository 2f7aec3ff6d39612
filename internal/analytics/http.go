package analytics

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/tollgate-dev/tollgate/internal/problem"
)

// UsageHandler serves GET /usage?consumer=&route=&from=&to=&granularity=
// (times as RFC 3339 or unix seconds). Bad parameters answer 400 problem+json.
func UsageHandler(q Querier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := r.Header.Get("X-Request-ID")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			problem.New(http.StatusMethodNotAllowed, "use GET").With("Allow", "GET, HEAD").Write(w, reqID)
			return
		}
		f, err := ParseFilter(r.URL.Query())
		if err != nil {
			problem.From(err).Write(w, reqID)
			return
		}
		u, err := q.Query(r.Context(), f)
		if err != nil {
			queryProblem(err).Write(w, reqID)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(u)
	})
}

// queryProblem maps a Querier error: filter errors are the client's, the rest are ours.
func queryProblem(err error) *problem.Error {
	if errors.Is(err, ErrBadFilter) {
		return problem.BadRequest(err.Error())
	}
	return problem.From(err)
}

// ParseFilter reads a Filter from query parameters. It checks syntax only;
// ranges are checked by Filter.Normalize in the Querier.
func ParseFilter(v url.Values) (Filter, error) {
	f := Filter{Consumer: v.Get("consumer"), Route: v.Get("route"), Granularity: v.Get("granularity")}
	if f.Granularity != "" && BucketSize(f.Granularity) == 0 {
		return f, problem.BadRequest("granularity must be minute, hour or day")
	}
	var err error
	if f.From, err = ParseTime(v.Get("from")); err != nil {
		return f, problem.BadRequest("from: " + err.Error())
	}
	if f.To, err = ParseTime(v.Get("to")); err != nil {
		return f, problem.BadRequest("to: " + err.Error())
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, problem.BadRequest("from must be before to")
	}
	return f, nil
}

var errBadTime = errors.New("want an RFC 3339 time (2026-03-01T00:00:00Z) or unix seconds")

// ParseTime accepts RFC 3339 or integer unix seconds; "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > 253402300799 { // year 9999
			return time.Time{}, errBadTime
		}
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil || t.Year() < 1970 {
		return time.Time{}, errBadTime
	}
	return t.UTC(), nil
}
