package upstream

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// countingBackend counts health checks it receives.
func countingBackend(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func withHealth(s config.Service) config.Service {
	s.Health = &config.Health{Path: "/healthz", Interval: dur(10 * time.Millisecond)}
	return s
}

func TestRegistryUpdateKeepsStateAndRetiresRemoved(t *testing.T) {
	x, _ := countingBackend(t)
	y, _ := countingBackend(t)
	z, zChecks := countingBackend(t)
	w, _ := countingBackend(t)
	baseline := runtime.NumGoroutine()

	r := NewRegistry(nil)
	v1, err := r.Update([]config.Service{
		withHealth(service("a", "", x.URL, y.URL)),
		withHealth(service("gone", "", z.URL)),
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "checks on the removed service", func() bool { return zChecks.Load() >= 2 })
	x1, y1 := v1["a"].targets[0], v1["a"].targets[1]
	inFlight := x1.Begin()
	y1.eject(time.Now().UnixNano())

	v2, err := r.Update([]config.Service{withHealth(service("a", "", x.URL, y.URL, w.URL))})
	if err != nil {
		t.Fatal(err)
	}
	if v2["gone"] != nil {
		t.Fatal("removed service still has a pool")
	}
	x2, y2 := v2["a"].targets[0], v2["a"].targets[1]
	if x2.HTTP1() != x1.HTTP1() || x2.RoundTripper() != x1.RoundTripper() {
		t.Error("unchanged target got new connection pools")
	}
	if got := v2["a"].Snapshot()[0].InFlight; got != 1 {
		t.Errorf("in-flight count lost across reload: %d", got)
	}
	if v2["a"].Snapshot()[1].EjectedUntil.IsZero() {
		t.Error("ejection lost across reload")
	}
	_ = y2
	inFlight.End(OK) // an attempt begun on the old version ends fine
	if got := x2.st.inFlight.Load(); got != 0 {
		t.Errorf("in flight = %d after End via the old version", got)
	}

	// The removed target's checker is stopped by the time Update returned.
	before := zChecks.Load()
	time.Sleep(50 * time.Millisecond)
	if after := zChecks.Load(); after != before {
		t.Errorf("removed target still checked: %d -> %d", before, after)
	}

	// Changed transport settings: new clients, same state.
	changed := withHealth(service("a", "", x.URL, y.URL, w.URL))
	changed.Timeouts.Response = dur(5 * time.Second)
	v3, err := r.Update([]config.Service{changed})
	if err != nil {
		t.Fatal(err)
	}
	if v3["a"].targets[0].HTTP1() == x1.HTTP1() {
		t.Error("changed timeouts kept the old client")
	}
	if v3["a"].Snapshot()[1].EjectedUntil.IsZero() {
		t.Error("ejection lost when clients were renewed")
	}

	r.Close()
	eventually(t, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

func TestRegistryUpdateHealthRemovedMarksHealthy(t *testing.T) {
	srv, status, _ := flakyBackend(t)
	status.Store(http.StatusServiceUnavailable)
	svc := service("a", "", srv.URL)
	svc.Health = &config.Health{Path: "/healthz", Interval: dur(10 * time.Millisecond)}
	r, p := newPool(t, svc)
	eventually(t, "unhealthy", func() bool { return !p.Snapshot()[0].Healthy })
	svc.Health = nil
	pools, err := r.Update([]config.Service{svc})
	if err != nil {
		t.Fatal(err)
	}
	if !pools["a"].Snapshot()[0].Healthy {
		t.Fatal("with health checks off nothing can bring the target back")
	}
}

// A health probe cut short because its checker was stopped (a reload, a
// shutdown) says nothing about the target: it must not count as a failure.
func TestStoppedCheckerDoesNotMarkTargetDown(t *testing.T) {
	probing := make(chan struct{}, 1)
	release := make(chan struct{})
	var probes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probes.Add(1) > 1 { // the first probe passes; later ones hang
			probing <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	svc := service("a", "", srv.URL)
	svc.Health = &config.Health{Path: "/healthz", Interval: dur(10 * time.Millisecond),
		Timeout: dur(5 * time.Second), UnhealthyThreshold: 1}
	r, p := newPool(t, svc)
	<-probing // a probe is in flight
	r.Close() // stops the checker, cutting that probe
	if !p.Snapshot()[0].Healthy {
		t.Fatal("a probe cut by stopping its checker marked the target down")
	}
}

func TestRegistryUpdateRejectsBadServicesAtomically(t *testing.T) {
	r, p := newPool(t, service("good", "", fakeTargets(1)...))
	neg := -1
	bad := []config.Service{
		{Name: "", Targets: []config.Target{{URL: "http://a:1"}}},
		{Name: "t", Targets: []config.Target{{URL: "ftp://x"}, {URL: "http://"}, {URL: "http://a:1"}, {URL: "http://a:1"}}},
		{Name: "m", Balance: "random", Protocol: "h3", HashBy: "cookie:x", Retries: &neg, Targets: []config.Target{{URL: "http://a:1"}}},
		{Name: "h", Health: &config.Health{Path: "healthz"}, Breaker: &config.Breaker{FailureRatio: 2}, Targets: []config.Target{{URL: "http://a:1"}}},
		{Name: "p", Protocol: "h2c", Targets: []config.Target{{URL: "https://a:1"}}},
		{Name: "i", Health: &config.Health{Path: "/h", Interval: dur(time.Millisecond)}, Targets: []config.Target{{URL: "http://a:1"}}},
		{Name: "hb", Balance: "least_conn", HashBy: "header:X-User", Targets: []config.Target{{URL: "http://a:1"}}},
		{Name: "p", Line: 40},
	}
	pools, err := r.Update(bad)
	if pools != nil || err == nil {
		t.Fatalf("Update = %v, %v; want an error", pools, err)
	}
	var list config.ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T, want config.ErrorList", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"services[0].name", "must use http or https", "invalid target URL", "duplicate target",
		"unknown balance", "unknown protocol", "invalid hash_by", "retries must not be negative",
		"health path must start with /", "failure_ratio", "h2c needs an http://", "duplicate service name", "40:",
		"at least one target", "too short", `hash_by "header:X-User" has no effect with balance "least_conn"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %q:\n%s", want, msg)
		}
	}
	if tg := mustPick(t, p, ""); tg == nil {
		t.Fatal("old pool broken by a rejected update")
	}
}

func TestRegistryClosedRefusesUpdate(t *testing.T) {
	r := NewRegistry(nil)
	r.Close()
	if _, err := r.Update(nil); err == nil {
		t.Fatal("Update after Close succeeded")
	}
}

func TestPoolAccessors(t *testing.T) {
	svc := service("acc", ConsistentHash, "https://example.com", "http://127.0.0.1:9/")
	svc.Protocol, svc.HashBy = "", "header:X-User"
	svc.Timeouts = config.Timeouts{Connect: dur(time.Second)}
	_, p := newPool(t, svc)
	if p.Name() != "acc" || p.HashBy() != "header:X-User" || p.Protocol() != "http" || p.Balance() != ConsistentHash {
		t.Errorf("accessors: %q %q %q %q", p.Name(), p.HashBy(), p.Protocol(), p.Balance())
	}
	if c, r := p.Timeouts(); c != time.Second || r != defaultResponseTimeout {
		t.Errorf("Timeouts = %v, %v", c, r)
	}
	if p.targets[0].Addr() != "example.com:443" || p.targets[1].Addr() != "127.0.0.1:9" {
		t.Errorf("Addr = %q, %q", p.targets[0].Addr(), p.targets[1].Addr())
	}
	if p.targets[1].URL.Path != "" {
		t.Errorf("trailing slash kept: %q", p.targets[1].URL.Path)
	}
	hc := p.targets[0].HTTP1()
	if !hc.IsTLS || hc.MaxConns != defaultMaxConns || hc.MaxIdleConnDuration != defaultIdleTimeout ||
		!hc.StreamResponseBody || !hc.DisableHeaderNamesNormalizing || !hc.DisablePathNormalizing || !hc.NoDefaultUserAgentHeader {
		t.Errorf("HTTP1 client not tuned: %+v", hc)
	}
	if p.Retries() != defaultRetries {
		t.Errorf("Retries = %d", p.Retries())
	}
}
