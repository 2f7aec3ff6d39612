package upstream

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// flakyBackend answers its health path with whatever status is stored.
func flakyBackend(t *testing.T) (*httptest.Server, *atomic.Int32, *atomic.Int32) {
	t.Helper()
	var status, checks atomic.Int32
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			checks.Add(1)
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv, &status, &checks
}

func TestActiveHealthEjectsAndRecovers(t *testing.T) {
	sick, status, _ := flakyBackend(t)
	fine := backends(t, 1)[0]
	svc := service("h", "", sick.URL, fine)
	svc.Health = &config.Health{Path: "/healthz", Interval: dur(20 * time.Millisecond)}
	_, p := newPool(t, svc)

	status.Store(http.StatusInternalServerError)
	eventually(t, "target marked unhealthy", func() bool { return !p.Snapshot()[0].Healthy })
	for i := 0; i < 10; i++ {
		if got := mustPick(t, p, ""); got != p.targets[1] {
			t.Fatal("unhealthy target was picked")
		}
	}
	status.Store(http.StatusNoContent)
	eventually(t, "target healthy again", func() bool { return p.Snapshot()[0].Healthy })
	counts := countPicks(t, p, 10, noKey)
	if counts[sick.URL] != 5 {
		t.Errorf("recovered target not back in rotation: %v", counts)
	}
}

func TestActiveHealthThresholdsAndExpectStatus(t *testing.T) {
	srv, status, checks := flakyBackend(t)
	svc := service("h", "", srv.URL)
	svc.Health = &config.Health{Path: "/healthz", Interval: dur(15 * time.Millisecond),
		UnhealthyThreshold: 3, HealthyThreshold: 1, ExpectStatus: []int{418}}
	_, p := newPool(t, svc)
	// 200 is not in expect_status: fails, but only after 3 checks.
	eventually(t, "unhealthy", func() bool { return !p.Snapshot()[0].Healthy })
	if n := checks.Load(); n < 3 {
		t.Fatalf("marked unhealthy after %d checks, want >= 3", n)
	}
	if secs := want503(t, p); secs != 1 {
		t.Errorf("Retry-After = %d, want 1 (one 15ms check needed)", secs)
	}
	status.Store(http.StatusTeapot)
	eventually(t, "healthy", func() bool { return p.Snapshot()[0].Healthy })
}

func TestActiveHealthUnreachableTarget(t *testing.T) {
	dead := httptest.NewServer(http.HandlerFunc(ok200))
	dead.Close()
	svc := service("h", "", dead.URL)
	svc.Health = &config.Health{Path: "/healthz", Interval: dur(10 * time.Millisecond)}
	_, p := newPool(t, svc)
	eventually(t, "unreachable target unhealthy", func() bool { return !p.Snapshot()[0].Healthy })
	want503(t, p)
}

func TestPassiveEjectionAndReturn(t *testing.T) {
	svc := service("p", "", fakeTargets(2)...)
	svc.Passive = &config.Passive{ConsecutiveFailures: 3, EjectFor: dur(400 * time.Millisecond)}
	svc.Breaker = &config.Breaker{MinRequests: 1000}
	_, p := newPool(t, svc)
	bad := p.targets[0]

	for _, o := range []Outcome{ConnectFailed, Timeout, OK, Status5xx, Failed} {
		bad.Begin().End(o) // an OK in the middle resets the count
	}
	if !p.Snapshot()[0].EjectedUntil.IsZero() {
		t.Fatal("ejected although failures were not consecutive")
	}
	bad.Begin().End(ConnectFailed) // third in a row
	snap := p.Snapshot()[0]
	if snap.EjectedUntil.IsZero() {
		t.Fatal("not ejected after 3 consecutive failures")
	}
	for i := 0; i < 10; i++ {
		if mustPick(t, p, "") == bad {
			t.Fatal("ejected target picked")
		}
	}
	eventually(t, "ejection to end", func() bool { return time.Now().After(snap.EjectedUntil) })
	if counts := countPicks(t, p, 10, noKey); counts[bad.URL.String()] != 5 {
		t.Fatalf("target not back after eject_for: %v", counts)
	}
	bad.Begin().End(Timeout) // on probation: one failure re-ejects
	if p.Snapshot()[0].EjectedUntil.IsZero() {
		t.Fatal("returning target not re-ejected on its first failure")
	}
	eventually(t, "second ejection to end", func() bool { return p.Snapshot()[0].EjectedUntil.IsZero() })
	bad.Begin().End(OK)
	bad.Begin().End(Timeout) // probation over: needs 3 again
	if !p.Snapshot()[0].EjectedUntil.IsZero() {
		t.Fatal("a success should end probation")
	}
}

func TestPassiveAllEjected503(t *testing.T) {
	svc := service("p", "", fakeTargets(1)...)
	svc.Passive = &config.Passive{ConsecutiveFailures: 1, EjectFor: dur(time.Minute)}
	_, p := newPool(t, svc)
	p.targets[0].Begin().End(ConnectFailed)
	if secs := want503(t, p); secs != 60 {
		t.Errorf("Retry-After = %d, want 60", secs)
	}
}

func TestBreakerOpensHalfOpensAndCloses(t *testing.T) {
	svc := service("b", "", fakeTargets(1)...)
	svc.Passive = &config.Passive{ConsecutiveFailures: 1000}
	svc.Breaker = &config.Breaker{FailureRatio: 0.5, MinRequests: 4, Window: dur(time.Second), OpenFor: dur(300 * time.Millisecond)}
	_, p := newPool(t, svc)
	tg := p.targets[0]
	state := func() string { return p.Snapshot()[0].Breaker }

	for _, o := range []Outcome{OK, Status5xx, OK} {
		mustPick(t, p, "").Begin().End(o)
	}
	if state() != "closed" {
		t.Fatalf("breaker %s below min_requests", state())
	}
	mustPick(t, p, "").Begin().End(Timeout) // 2 of 4 failed = 0.5
	if state() != "open" {
		t.Fatalf("breaker %s, want open at ratio 0.5 over 4 requests", state())
	}
	if secs := want503(t, p); secs != 1 {
		t.Errorf("Retry-After = %d, want 1", secs)
	}

	time.Sleep(310 * time.Millisecond)
	if state() != "half_open" {
		t.Fatalf("breaker %s after open_for, want half_open", state())
	}
	probe := mustPick(t, p, "").Begin()
	want503(t, p) // only one probe at a time
	probe.End(Failed)
	if state() != "open" {
		t.Fatalf("failed probe left breaker %s, want open", state())
	}
	want503(t, p)

	time.Sleep(310 * time.Millisecond)
	probe = mustPick(t, p, "").Begin()
	probe.End(OK)
	if state() != "closed" {
		t.Fatalf("successful probe left breaker %s, want closed", state())
	}
	// closed again with a fresh window: one failure does not re-open it
	tg.Begin().End(Failed)
	for i := 0; i < 3; i++ {
		mustPick(t, p, "")
	}
	if state() != "closed" {
		t.Fatalf("breaker %s after one failure in a fresh window", state())
	}
}

func TestBreakerStaleProbeFreesSlot(t *testing.T) {
	svc := service("b", "", fakeTargets(1)...)
	svc.Breaker = &config.Breaker{MinRequests: 1, OpenFor: dur(200 * time.Millisecond)}
	svc.Timeouts = config.Timeouts{Connect: dur(100 * time.Millisecond), Response: dur(100 * time.Millisecond)}
	_, p := newPool(t, svc)
	p.targets[0].Begin().End(Failed)
	time.Sleep(210 * time.Millisecond)
	mustPick(t, p, "") // probe claimed and never reported
	want503(t, p)
	time.Sleep(210 * time.Millisecond) // stale after max(open_for, connect+response)
	mustPick(t, p, "")
}

func TestBreakerWindowSlides(t *testing.T) {
	svc := service("b", "", fakeTargets(1)...)
	svc.Passive = &config.Passive{ConsecutiveFailures: 1000}
	svc.Breaker = &config.Breaker{MinRequests: 2, FailureRatio: 1, Window: dur(300 * time.Millisecond)}
	_, p := newPool(t, svc)
	p.targets[0].Begin().End(Failed)
	time.Sleep(400 * time.Millisecond) // the first failure leaves the window
	p.targets[0].Begin().End(Failed)
	if s := p.Snapshot()[0].Breaker; s != "closed" {
		t.Fatalf("breaker %s: counted a failure from outside the window", s)
	}
	p.targets[0].Begin().End(Failed)
	if s := p.Snapshot()[0].Breaker; s != "open" {
		t.Fatalf("breaker %s after 2 failures in the window", s)
	}
}

// TestConcurrentPickBeginEnd hammers one pool from many goroutines (run it
// with -race): counts must balance and state must stay consistent.
func TestConcurrentPickBeginEnd(t *testing.T) {
	for _, mode := range []string{RoundRobin, Weighted, LeastConn, ConsistentHash} {
		t.Run(mode, func(t *testing.T) {
			svc := service("c", mode, fakeTargets(4)...)
			svc.Passive = &config.Passive{ConsecutiveFailures: 3, EjectFor: dur(time.Millisecond)}
			svc.Breaker = &config.Breaker{MinRequests: 5, OpenFor: dur(time.Millisecond)}
			_, p := newPool(t, svc)
			outcomes := []Outcome{OK, OK, OK, Status5xx, ConnectFailed, Timeout, Failed}
			var wg sync.WaitGroup
			for g := 0; g < 8; g++ {
				wg.Go(func() {
					var tried []*Target
					for i := 0; i < 500; i++ {
						tg, err := p.Pick(strconv.Itoa(i), tried[:min(len(tried), 1)])
						if err != nil {
							continue // everything ejected or open for a moment
						}
						a := tg.Begin()
						o := outcomes[(g+i)%len(outcomes)]
						if p.RetryAllowed(1, "GET", o) {
							tried = append(tried[:0], tg)
						}
						a.End(o)
						a.End(o)
					}
				})
			}
			wg.Wait()
			for _, s := range p.Snapshot() {
				if s.InFlight != 0 {
					t.Errorf("%s: %d in flight after all attempts ended", s.URL, s.InFlight)
				}
			}
		})
	}
}
