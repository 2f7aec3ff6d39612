package ratelimit

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/counters"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// t0 is aligned to the hour so window offsets read naturally.
var t0 = time.Unix(1_699_999_200, 0)

type fixedClock struct{}

func (fixedClock) Now() time.Time { return t0 }

func newCounters(t testing.TB) counters.Counters {
	c, err := counters.Open("memory://", nil, counters.WithClock(fixedClock{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func build(t testing.TB, yml string, c counters.Counters) policy.Handler {
	t.Helper()
	cfg := Definition.New()
	if err := decodeStrict(yml, cfg); err != nil {
		t.Fatal(err)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		t.Fatal(errs)
	}
	h, err := cfg.Build(policy.BuildEnv{Route: policy.RouteInfo{Name: "orders"}, Services: map[string]any{"counters": c}})
	if err != nil {
		t.Fatal(err)
	}
	return h.(policy.Handler)
}

func decodeStrict(yml string, into any) error {
	dec := yaml.NewDecoder(strings.NewReader(yml))
	dec.KnownFields(true)
	return dec.Decode(into)
}

// send runs one request at offset at and returns the exchange and error.
func send(h policy.Handler, at time.Duration, mod func(*policytest.Exchange)) (*policytest.Exchange, error) {
	ex := policytest.New("GET", "/v1/orders")
	ex.At = t0.Add(at)
	if mod != nil {
		mod(ex)
	}
	err := h.Handle(ex, policytest.Upstream(200, nil, "ok", nil))
	return ex, err
}

func as429(t *testing.T, err error) *problem.Error {
	t.Helper()
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusTooManyRequests {
		t.Fatalf("want 429, got %v", err)
	}
	return pe
}

func header(pe *problem.Error, name string) string {
	for _, kv := range pe.Headers {
		if kv[0] == name {
			return kv[1]
		}
	}
	return ""
}

// drivers are the counters backends the header tests run on: memory, and
// Redis when TOLLGATE_TEST_REDIS is set.
func drivers(t *testing.T) map[string]counters.Counters {
	out := map[string]counters.Counters{"memory": newCounters(t)}
	if base := os.Getenv("TOLLGATE_TEST_REDIS"); base != "" {
		c, err := counters.Open(base+"?prefix=tgtest:rl:"+strconv.FormatInt(time.Now().UnixNano(), 36)+":", nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			rdb, prefix, _ := counters.RedisClient(c)
			ctx := context.Background()
			keys, _ := rdb.Keys(ctx, prefix+"*").Result()
			if len(keys) > 0 {
				rdb.Del(ctx, keys...)
			}
			c.Close()
		})
		out["redis"] = c
	}
	return out
}

func TestHeadersOnAllowedAndRefused(t *testing.T) {
	for name, c := range drivers(t) {
		t.Run(name, func(t *testing.T) { testHeaders(t, c) })
	}
}

func testHeaders(t *testing.T, c counters.Counters) {
	h := build(t, "{limit: 2, window: 1m}", c)
	ex, err := send(h, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"RateLimit-Policy": `"consumer";q=2;w=60`, "RateLimit": `"consumer";r=1;t=60`,
		"RateLimit-Limit": "2", "RateLimit-Remaining": "1", "RateLimit-Reset": "60",
	}
	for k, v := range want {
		if got := ex.Extra.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	send(h, time.Second, nil)
	ex, err = send(h, 2*time.Second, nil)
	pe := as429(t, err)
	if ra := header(pe, "Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After = %q", ra)
	}
	if got := ex.Extra.Get("RateLimit"); got != `"consumer";r=0;t=58` {
		t.Fatalf("RateLimit on 429 = %q", got)
	}
	if ex.Extra.Get("RateLimit-Policy") == "" || ex.Resp != nil {
		t.Fatal("429 must carry the policy header and never reach the upstream")
	}
}

func TestRetryAfterTokenBucket(t *testing.T) {
	h := build(t, "{limit: 10, window: 10s, algorithm: token_bucket}", newCounters(t))
	for range 10 {
		if _, err := send(h, 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := send(h, 0, nil)
	if ra := header(as429(t, err), "Retry-After"); ra != "1" {
		t.Fatalf("Retry-After = %s, want 1", ra)
	}
	if _, err := send(h, time.Second, nil); err != nil {
		t.Fatalf("a token is back after 1s: %v", err)
	}
}

func TestByKeys(t *testing.T) {
	alice := &policy.Consumer{ID: "c1", Name: "alice", Plan: "gold"}
	bob := &policy.Consumer{ID: "c2", Name: "bob", Plan: "gold"}
	anon := &policy.Consumer{ID: "anonymous", Anonymous: true}
	ip := func(s string) func(*policytest.Exchange) {
		return func(e *policytest.Exchange) { e.IP = netip.MustParseAddr(s) }
	}
	as := func(c *policy.Consumer, addr string) func(*policytest.Exchange) {
		return func(e *policytest.Exchange) { e.Cons = c; e.IP = netip.MustParseAddr(addr) }
	}
	hdr := func(v string) func(*policytest.Exchange) {
		return func(e *policytest.Exchange) { e.ReqHeader.Set("X-Tenant", v) }
	}
	cases := []struct {
		by           string
		first, other func(*policytest.Exchange)
		shared       bool // does other share first's counter?
	}{
		{"consumer", as(alice, "10.0.0.1"), as(bob, "10.0.0.1"), false},
		{"consumer", as(alice, "10.0.0.1"), as(alice, "10.0.0.2"), true},
		{"consumer", as(anon, "10.0.0.1"), as(anon, "10.0.0.2"), false}, // anonymous falls back to ip
		{"consumer", ip("10.0.0.1"), ip("10.0.0.1"), true},
		{"ip", as(alice, "10.0.0.1"), as(bob, "10.0.0.1"), true},
		{"route", ip("10.0.0.1"), ip("10.0.0.2"), true},
		{"plan", as(alice, "10.0.0.1"), as(bob, "10.0.0.2"), true},
		{"header:X-Tenant", hdr("a"), hdr("b"), false},
		{"header:X-Tenant", hdr("a"), hdr("a"), true},
	}
	for _, tc := range cases {
		t.Run(tc.by, func(t *testing.T) {
			h := build(t, "{limit: 1, window: 1m, by: '"+tc.by+"'}", newCounters(t))
			if _, err := send(h, 0, tc.first); err != nil {
				t.Fatal(err)
			}
			_, err := send(h, 0, tc.other)
			if shared := err != nil; shared != tc.shared {
				t.Fatalf("shared = %v, want %v (err %v)", shared, tc.shared, err)
			}
		})
	}
}

func TestMultipleLimits(t *testing.T) {
	h := build(t, "{limits: [{limit: 2, window: 1s}, {limit: 3, window: 1h}], by: ip}", newCounters(t))
	ex, _ := send(h, 0, nil)
	if got, want := ex.Extra.Get("RateLimit-Policy"), `"ip-1s";q=2;w=1, "ip-1h";q=3;w=3600`; got != want {
		t.Fatalf("policy = %q, want %q", got, want)
	}
	if got, want := ex.Extra.Get("RateLimit"), `"ip-1s";r=1;t=1, "ip-1h";r=2;t=3600`; got != want {
		t.Fatalf("RateLimit = %q, want %q", got, want)
	}
	legacy := func(ex *policytest.Exchange) string {
		return ex.Extra.Get("RateLimit-Limit") + " " + ex.Extra.Get("RateLimit-Remaining") + " " + ex.Extra.Get("RateLimit-Reset")
	}
	if got := legacy(ex); got != "2 1 1" { // the 1s item has fewer left
		t.Fatalf("RateLimit-Limit/-Remaining/-Reset = %s, want 2 1 1", got)
	}
	send(h, 0, nil)
	if _, err := send(h, 0, nil); err == nil {
		t.Fatal("third request in 1s must be refused by the 1s limit")
	}
	if _, err := send(h, 2*time.Second, nil); err == nil {
		t.Fatal("the 1h limit (3) is spent: 2 admitted + 1 refused-by-1s still counted")
	}
	ex, err := send(h, 2*time.Second, nil)
	pe := as429(t, err)
	// The hour bucket holds 3; in the next hour it weighs 3*(1-e/1h) and
	// admits once that is <= 2: e = 20min. 3598s left + 1200s.
	if ra := header(pe, "Retry-After"); ra != "4798" {
		t.Fatalf("Retry-After = %s, want 4798 (the hour window)", ra)
	}
	if ex.Extra.Get("RateLimit-Limit") != "3" {
		t.Fatalf("legacy headers show the tightest limit, got %v", ex.Extra)
	}
	// Refused by the hour item: the trio repeats its numbers, not the
	// first item's.
	if got, want := ex.Extra.Get("RateLimit"), `"ip-1s";r=0;t=1, "ip-1h";r=0;t=3598`; got != want {
		t.Fatalf("RateLimit = %q, want %q", got, want)
	}
	if got := legacy(ex); got != "3 0 3598" {
		t.Fatalf("RateLimit-Limit/-Remaining/-Reset = %s, want 3 0 3598", got)
	}
}

// TestStateSurvivesRebuild: a reload rebuilds the handler; counts must stay.
func TestStateSurvivesRebuild(t *testing.T) {
	c := newCounters(t)
	send(build(t, "{limit: 1, window: 1m}", c), 0, nil)
	if _, err := send(build(t, "{limit: 1, window: 1m}", c), time.Second, nil); err == nil {
		t.Fatal("rebuilt handler forgot the count")
	}
}

func TestValidate(t *testing.T) {
	bad := []string{
		"{limit: 0, window: 1s}",
		"{limit: 1}",
		"{limit: 1, window: 1s, limits: [{limit: 1, window: 1s}]}",
		"{limit: 1, window: 1s, by: user}",
		"{limit: 1, window: 1s, by: 'header:'}",
		"{limit: 1, window: 1s, algorithm: leaky}",
		"{limit: 1, window: 1s, mode: eventual}",
		"{limit: 1, window: 1s, on_redis_error: ignore}",
	}
	for _, y := range bad {
		cfg := &Config{}
		if err := decodeStrict(y, cfg); err != nil {
			t.Fatal(err)
		}
		if errs := cfg.Validate(); len(errs) == 0 {
			t.Errorf("%s: want a validation error", y)
		}
	}
	if err := decodeStrict("{limit: 1, window: 1s, burst: 3}", &Config{}); err == nil {
		t.Error("unknown field must fail strict decoding")
	}
}

func TestPlanHandler(t *testing.T) {
	c := newCounters(t)
	plans := map[string]config.Plan{
		"free": {Name: "free", RateLimit: &config.PlanLimit{Limit: 2, Window: config.Duration(time.Minute)},
			Quota: &config.PlanQuota{Limit: 3, Period: "day", Timezone: "Europe/Paris"}},
		"gold": {Name: "gold"},
	}
	h := NewPlanHandler(plans, c)
	route := build(t, "{limit: 1, window: 1m}", c)
	chain := func(ex policy.Exchange, next policy.Next) error {
		return h.Handle(ex, func(ex policy.Exchange) error { return route.Handle(ex, next) })
	}
	free := &policy.Consumer{ID: "c1", Plan: "free"}
	ex, err := send(policy.HandlerFunc(chain), 0, func(e *policytest.Exchange) { e.Cons = free })
	if err != nil {
		t.Fatal(err)
	}
	if got := ex.Extra.Values("RateLimit-Policy"); len(got) != 2 || got[0] != `"plan";q=2;w=60` {
		t.Fatalf("plan and route policies both announced, got %q", got)
	}
	if ex.Extra.Get("X-Quota-Limit") != "3" || ex.Extra.Get("X-Quota-Remaining") != "2" {
		t.Fatalf("quota headers: %v", ex.Extra)
	}
	if n := len(ex.Extra.Values("RateLimit-Limit")); n != 1 {
		t.Fatalf("legacy trio must appear once, got %d", n)
	}
	// The route's tighter limit (1/min) refuses the second request.
	if _, err := send(policy.HandlerFunc(chain), time.Second, func(e *policytest.Exchange) { e.Cons = free }); err == nil {
		t.Fatal("route limit must still apply")
	}
	// Plan limit alone: 2/min.
	send(h, 2*time.Second, func(e *policytest.Exchange) { e.Cons = free }) // plan count 3 -> refused by rate
	_, err = send(h, 3*time.Second, func(e *policytest.Exchange) { e.Cons = free })
	as429(t, err)
	// Gold has no limits; anonymous passes.
	if _, err := send(h, 0, func(e *policytest.Exchange) { e.Cons = &policy.Consumer{ID: "g", Plan: "gold"} }); err != nil {
		t.Fatal(err)
	}
	if ex, err := send(h, 0, nil); err != nil || ex.Extra.Get("RateLimit") != "" {
		t.Fatalf("unauthenticated requests are not plan-limited: %v %v", err, ex.Extra)
	}
}

func TestPlanQuotaRefuses(t *testing.T) {
	c := newCounters(t)
	h := NewPlanHandler(map[string]config.Plan{"q": {Quota: &config.PlanQuota{Limit: 2, Period: "month"}}}, c)
	cons := func(e *policytest.Exchange) { e.Cons = &policy.Consumer{ID: "c9", Plan: "q"} }
	send(h, 0, cons)
	send(h, time.Hour, cons)
	_, err := send(h, 2*time.Hour, cons)
	if ra := header(as429(t, err), "Retry-After"); ra == "" || ra == "1" {
		t.Fatalf("Retry-After should be seconds to next month, got %s", ra)
	}
}

func TestReadmeExample(t *testing.T) { policytest.CheckREADME(t, Definition) }

func BenchmarkRateLimitMemory(b *testing.B) {
	h := build(b, "{limit: 1000000000, window: 1s, by: ip}", newCounters(b))
	next := func(policy.Exchange) error { return nil }
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ex := policytest.New("GET", "/v1/orders")
		for pb.Next() {
			ex.Extra = http.Header{}
			ex.Values = map[any]any{}
			if err := h.Handle(ex, next); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// downCounters is a backend whose Redis is down and whose limit says fail_closed.
type downCounters struct {
	counters.Counters
	seen counters.Limit
}

func (d *downCounters) Allow(_ context.Context, _ string, l counters.Limit, _ time.Time) (counters.Decision, error) {
	d.seen = l
	return counters.Decision{RetryAfter: time.Second, Degraded: true}, counters.ErrUnavailable
}

func TestFailClosedAnswers503(t *testing.T) {
	c := &downCounters{}
	h := build(t, "{limit: 5, window: 1s, mode: local, on_redis_error: fail_closed, algorithm: token_bucket}", c)
	ex, err := send(h, 0, nil)
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusServiceUnavailable || header(pe, "Retry-After") != "1" {
		t.Fatalf("want 503 with Retry-After, got %v", err)
	}
	if ex.Extra.Get("RateLimit-Policy") == "" {
		t.Fatal("headers must be present on the 503 too")
	}
	want := counters.Limit{Count: 5, Window: time.Second, Algorithm: counters.TokenBucket, Mode: counters.Local, OnError: counters.FailClosed}
	if c.seen != want {
		t.Fatalf("limit passed to the backend: %+v, want %+v", c.seen, want)
	}
}

func TestBuildNeedsCounters(t *testing.T) {
	cfg := &Config{Limit: 1, Window: config.Duration(time.Second)}
	if _, err := cfg.Build(policy.BuildEnv{}); err == nil || !strings.Contains(err.Error(), "counters") {
		t.Fatalf("want a clear error, got %v", err)
	}
}
