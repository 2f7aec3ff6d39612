package quota

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/counters"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

func decodeStrict(yml string, into any) error {
	dec := yaml.NewDecoder(strings.NewReader(yml))
	dec.KnownFields(true)
	return dec.Decode(into)
}

func build(t *testing.T, yml string) policy.Handler {
	t.Helper()
	// Counter expiry is checked against this clock; keep it before every
	// request time in the tests so only period keys decide resets.
	c, err := counters.Open("memory://", nil, counters.WithClock(fixedClock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cfg := Definition.New()
	if err := decodeStrict(yml, cfg); err != nil {
		t.Fatal(err)
	}
	h, err := cfg.Build(policy.BuildEnv{Route: policy.RouteInfo{Name: "r"}, Services: map[string]any{"counters": c}})
	if err != nil {
		t.Fatal(err)
	}
	return h.(policy.Handler)
}

func send(h policy.Handler, at time.Time) (*policytest.Exchange, error) {
	ex := policytest.New("GET", "/x")
	ex.At = at
	ex.Cons = &policy.Consumer{ID: "c1"}
	return ex, h.Handle(ex, policytest.Upstream(200, nil, "ok", nil))
}

func TestDailyQuotaInTimeZone(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	h := build(t, "{limit: 2, period: day, timezone: Europe/Paris}")
	// 2026-03-28 23:00 Paris; the next day is the 23-hour DST day.
	at := time.Date(2026, 3, 28, 23, 0, 0, 0, paris)
	ex, err := send(h, at)
	if err != nil {
		t.Fatal(err)
	}
	if ex.Extra.Get("X-Quota-Limit") != "2" || ex.Extra.Get("X-Quota-Remaining") != "1" || ex.Extra.Get("X-Quota-Reset") != "3600" {
		t.Fatalf("headers: %v", ex.Extra)
	}
	send(h, at.Add(time.Minute))
	ex, err = send(h, at.Add(30*time.Minute))
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusTooManyRequests {
		t.Fatalf("want 429, got %v", err)
	}
	if got := pe.Headers[0]; got != [2]string{"Retry-After", "1800"} {
		t.Fatalf("Retry-After = %v, want seconds to Paris midnight (1800)", got)
	}
	if ex.Extra.Get("X-Quota-Remaining") != "0" {
		t.Fatalf("remaining on 429: %v", ex.Extra)
	}
	// Paris midnight (23:00 UTC): a new day.
	ex, err = send(h, time.Date(2026, 3, 29, 0, 0, 1, 0, paris))
	if err != nil {
		t.Fatalf("new day must reset: %v", err)
	}
	if got := ex.Extra.Get("X-Quota-Reset"); got != "82799" { // 23h day minus 1s
		t.Fatalf("reset on the DST day = %s, want 82799", got)
	}
}

func TestMonthlyBounds(t *testing.T) {
	for _, tc := range []struct {
		at         time.Time
		start, end string
	}{
		{time.Date(2026, 1, 31, 12, 0, 0, 0, time.UTC), "2026-01-01", "2026-02-01"},
		{time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), "2026-12-01", "2027-01-01"},
		{time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), "2026-02-01", "2026-03-01"},
	} {
		s, e, id := Month.Bounds(tc.at, time.UTC)
		if s.Format("2006-01-02") != tc.start || e.Format("2006-01-02") != tc.end || id != tc.start[:7] {
			t.Errorf("%v: %v %v %s", tc.at, s, e, id)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, y := range []string{
		"{limit: 0, period: day}",
		"{limit: 1, period: week}",
		"{limit: 1, period: day, timezone: Mars/Olympus}",
		"{limit: 1, period: day, by: nobody}",
	} {
		cfg := &Config{}
		if err := decodeStrict(y, cfg); err != nil {
			t.Fatal(err)
		}
		if len(cfg.Validate()) == 0 {
			t.Errorf("%s: want an error", y)
		}
	}
}

func TestReadmeExample(t *testing.T) { policytest.CheckREADME(t, Definition) }

// TestRefundWhenRateLimited: quota runs before rate_limit (same phase, by
// name); a request the rate limit refuses must not use quota.
func TestRefundWhenRateLimited(t *testing.T) {
	h := build(t, "{limit: 5, period: day}")
	at := time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	limited := func(policy.Exchange) error { return problem.TooManyRequests(1, "rate") }
	for range 3 {
		ex := policytest.New("GET", "/x")
		ex.At, ex.Cons = at, &policy.Consumer{ID: "c1"}
		h.Handle(ex, limited)
	}
	ex, err := send(h, at)
	if err != nil || ex.Extra.Get("X-Quota-Remaining") != "4" {
		t.Fatalf("refused requests used quota: %v %v", err, ex.Extra)
	}
}
