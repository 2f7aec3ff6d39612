package upstream

import (
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
)

func TestRetryRules(t *testing.T) {
	two := 2
	zero := 0
	tests := []struct {
		name    string
		retries *int
		anyPost bool
		attempt int
		method  string
		outcome Outcome
		want    bool
	}{
		{"GET timeout", nil, false, 1, "GET", Timeout, true},
		{"GET 5xx", nil, false, 1, "GET", Status5xx, true},
		{"PUT failed", nil, false, 1, "PUT", Failed, true},
		{"DELETE failed", nil, false, 1, "DELETE", Failed, true},
		{"HEAD/OPTIONS/TRACE", nil, false, 1, "OPTIONS", Timeout, true},
		{"POST after send", nil, false, 1, "POST", Timeout, false},
		{"POST 5xx", nil, false, 1, "POST", Status5xx, false},
		{"PATCH after send", nil, false, 1, "PATCH", Failed, false},
		{"POST connect failure", nil, false, 1, "POST", ConnectFailed, true},
		{"PATCH connect failure", nil, false, 1, "PATCH", ConnectFailed, true},
		{"POST with retry_non_idempotent", nil, true, 1, "POST", Timeout, true},
		{"success is never retried", nil, false, 1, "GET", OK, false},
		{"default is one retry", nil, false, 2, "GET", Timeout, false},
		{"retries: 2 allows a second", &two, false, 2, "GET", Timeout, true},
		{"retries: 2 stops at the third", &two, false, 3, "GET", Timeout, false},
		{"retries: 0 disables", &zero, false, 1, "GET", ConnectFailed, false},
		{"attempt 0 is nonsense", nil, false, 0, "GET", Timeout, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := service("r", "", fakeTargets(2)...)
			svc.Retries, svc.RetryNonIdempotent = tc.retries, tc.anyPost
			_, p := newPool(t, svc)
			if got := p.RetryAllowed(tc.attempt, tc.method, tc.outcome); got != tc.want {
				t.Errorf("RetryAllowed(%d, %s, %s) = %v, want %v", tc.attempt, tc.method, tc.outcome, got, tc.want)
			}
		})
	}
}

func TestRetryBudget(t *testing.T) {
	svc := service("b", "", fakeTargets(2)...)
	_, p := newPool(t, svc)
	allowed := func(n int) int {
		got := 0
		for i := 0; i < n; i++ {
			if p.RetryAllowed(1, "GET", Timeout) {
				got++
			}
		}
		return got
	}
	// No traffic yet: the floor still lets a few retries through.
	if got := allowed(10); got != budgetFloor {
		t.Fatalf("idle service allowed %d retries, want the floor %d", got, budgetFloor)
	}
	for i := 0; i < 100; i++ {
		mustPick(t, p, "")
	}
	// 100 requests: 20% = 20 more (3 already spent of 3+20).
	if got := allowed(100); got != 20 {
		t.Fatalf("allowed %d retries after 100 requests, want 20", got)
	}
	// Picks made for retries (with exclude) are not new requests.
	first := p.targets[0]
	for i := 0; i < 100; i++ {
		mustPick(t, p, "", first)
	}
	if got := allowed(10); got != 0 {
		t.Fatalf("retry picks grew the budget: %d more retries allowed", got)
	}
}

func TestRetryBudgetSurvivesReload(t *testing.T) {
	r, p := newPool(t, service("b", "", fakeTargets(1)...))
	for i := 0; i < budgetFloor; i++ {
		p.RetryAllowed(1, "GET", ConnectFailed)
	}
	pools, err := r.Update([]config.Service{service("b", "", fakeTargets(1)...)})
	if err != nil {
		t.Fatal(err)
	}
	if pools["b"].RetryAllowed(1, "GET", ConnectFailed) {
		t.Fatal("a reload reset the retry budget")
	}
}
