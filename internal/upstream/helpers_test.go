package upstream

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

func ok200(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }

// backends starts n test servers answering 200.
func backends(t *testing.T, n int) []string {
	t.Helper()
	urls := make([]string, n)
	for i := range urls {
		srv := httptest.NewServer(http.HandlerFunc(ok200))
		t.Cleanup(srv.Close)
		urls[i] = srv.URL
	}
	return urls
}

// fakeTargets are addresses nothing listens on; fine for balancing tests that never dial.
func fakeTargets(n int) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = "http://127.0.0.1:" + strconv.Itoa(1+i)
	}
	return urls
}

func service(name, balance string, urls ...string) config.Service {
	s := config.Service{Name: name, Balance: balance}
	for _, u := range urls {
		s.Targets = append(s.Targets, config.Target{URL: u, Weight: 1})
	}
	return s
}

func newPool(t *testing.T, svc config.Service) (*Registry, *Pool) {
	t.Helper()
	r := NewRegistry(nil)
	t.Cleanup(r.Close)
	pools, err := r.Update([]config.Service{svc})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	return r, pools[svc.Name]
}

func mustPick(t *testing.T, p *Pool, key string, exclude ...*Target) *Target {
	t.Helper()
	tg, err := p.Pick(key, exclude)
	if err != nil {
		t.Fatalf("Pick: %v", err)
	}
	return tg
}

// want503 asserts Pick refuses with 503 and returns its Retry-After seconds.
func want503(t *testing.T, p *Pool) int {
	t.Helper()
	tg, err := p.Pick("", nil)
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Status != http.StatusServiceUnavailable {
		t.Fatalf("Pick = %v, %v; want a 503 problem", tg, err)
	}
	for _, h := range pe.Headers {
		if h[0] == "Retry-After" {
			secs, err := strconv.Atoi(h[1])
			if err != nil || secs < 1 {
				t.Fatalf("Retry-After %q, want whole seconds >= 1", h[1])
			}
			return secs
		}
	}
	t.Fatalf("503 without Retry-After: %+v", pe.Headers)
	return 0
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dur(d time.Duration) config.Duration { return config.Duration(d) }
