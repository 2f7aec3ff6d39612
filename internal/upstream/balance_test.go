package upstream

import (
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
)

func countPicks(t *testing.T, p *Pool, n int, key func(i int) string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		counts[mustPick(t, p, key(i)).URL.String()]++
	}
	return counts
}

func noKey(int) string { return "" }

func TestRoundRobinIsEven(t *testing.T) {
	urls := fakeTargets(3)
	_, p := newPool(t, service("rr", "", urls...))
	counts := countPicks(t, p, 300, noKey)
	for _, u := range urls {
		if counts[u] != 100 {
			t.Errorf("%s got %d picks, want 100 (%v)", u, counts[u], counts)
		}
	}
}

func TestWeightedIsProportionalAndSmooth(t *testing.T) {
	urls := fakeTargets(3)
	svc := service("w", Weighted, urls...)
	for i, w := range []int{1, 2, 5} {
		svc.Targets[i].Weight = w
	}
	_, p := newPool(t, svc)
	counts := countPicks(t, p, 800, noKey)
	for i, want := range []int{100, 200, 500} {
		if counts[urls[i]] != want {
			t.Errorf("%s: %d picks, want %d", urls[i], counts[urls[i]], want)
		}
	}
	// Smooth: the heavy target never runs more than twice in a row with 5 of 8 turns.
	run, maxRun := 0, 0
	for i := 0; i < 80; i++ {
		if mustPick(t, p, "").URL.String() == urls[2] {
			run++
			maxRun = max(maxRun, run)
		} else {
			run = 0
		}
	}
	if maxRun > 2 {
		t.Errorf("weighted order is bursty: %d picks of the heavy target in a row", maxRun)
	}
}

func TestWeightedSkipsUnavailableKeepingProportions(t *testing.T) {
	urls := fakeTargets(3)
	svc := service("w", Weighted, urls...)
	for i, w := range []int{1, 3, 10} {
		svc.Targets[i].Weight = w
	}
	_, p := newPool(t, svc)
	p.targets[2].eject(time.Now().UnixNano())
	counts := countPicks(t, p, 1400, noKey)
	if counts[urls[2]] != 0 {
		t.Fatalf("ejected target picked %d times", counts[urls[2]])
	}
	ratio := float64(counts[urls[1]]) / float64(counts[urls[0]])
	if ratio < 2 || ratio > 4.5 {
		t.Errorf("remaining targets split %v, want about 1:3", counts)
	}
}

func TestWeightedLargeWeightsAreScaled(t *testing.T) {
	urls := fakeTargets(2)
	svc := service("w", Weighted, urls...)
	svc.Targets[0].Weight, svc.Targets[1].Weight = 1_000_000, 3_000_001
	_, p := newPool(t, svc)
	if len(p.seq) > maxSeq+2 {
		t.Fatalf("sequence has %d entries, want <= %d", len(p.seq), maxSeq)
	}
	counts := countPicks(t, p, 4000, noKey)
	if r := float64(counts[urls[1]]) / float64(counts[urls[0]]); r < 2.9 || r > 3.1 {
		t.Errorf("split %v, want 1:3", counts)
	}
}

func TestLeastConnPrefersIdle(t *testing.T) {
	_, p := newPool(t, service("lc", LeastConn, fakeTargets(3)...))
	a := []*Attempt{p.targets[0].Begin(), p.targets[0].Begin(), p.targets[1].Begin()}
	for i := 0; i < 10; i++ {
		if got := mustPick(t, p, ""); got != p.targets[2] {
			t.Fatalf("picked %s, want the idle target", got.URL)
		}
	}
	a[0].End(OK)
	a[0].End(OK) // idempotent: must not drop the count twice
	if got := p.targets[0].st.inFlight.Load(); got != 1 {
		t.Fatalf("in flight = %d after one End, want 1", got)
	}
	third := p.targets[2].Begin()
	third2 := p.targets[2].Begin()
	// now loads are 1,1,2: ties between 0 and 1 go round robin
	counts := countPicks(t, p, 100, noKey)
	if counts[p.targets[0].URL.String()] != 50 || counts[p.targets[1].URL.String()] != 50 {
		t.Errorf("ties not round robin: %v", counts)
	}
	for _, x := range []*Attempt{a[1], a[2], third, third2} {
		x.End(OK)
	}
	counts = countPicks(t, p, 99, noKey)
	for u, c := range counts {
		if c != 33 {
			t.Errorf("idle pool not even: %s=%d (%v)", u, c, counts)
		}
	}
}

func hashOwners(t *testing.T, p *Pool, keys int) map[string]string {
	t.Helper()
	owners := make(map[string]string, keys)
	for i := 0; i < keys; i++ {
		k := fmt.Sprintf("client-%d", i)
		owners[k] = mustPick(t, p, k).URL.String()
	}
	return owners
}

func TestConsistentHashStablePerKey(t *testing.T) {
	urls := fakeTargets(5)
	r, p := newPool(t, service("ch", ConsistentHash, urls...))
	if p.HashBy() != "client_ip" {
		t.Errorf("HashBy = %q, want client_ip by default", p.HashBy())
	}
	before := hashOwners(t, p, 2000)
	again := hashOwners(t, p, 2000)
	perTarget := map[string]int{}
	for k, u := range before {
		if again[k] != u {
			t.Fatalf("key %s moved from %s to %s without any change", k, u, again[k])
		}
		perTarget[u]++
	}
	for _, u := range urls {
		if perTarget[u] < 200 || perTarget[u] > 650 {
			t.Errorf("uneven ring: %v", perTarget)
		}
	}

	// Remove one target: only its keys move.
	pools, err := r.Update([]config.Service{service("ch", ConsistentHash, urls[:4]...)})
	if err != nil {
		t.Fatal(err)
	}
	after := hashOwners(t, pools["ch"], 2000)
	moved := 0
	for k, u := range before {
		if u != urls[4] && after[k] != u {
			moved++
		}
	}
	if moved != 0 {
		t.Errorf("%d keys of remaining targets moved after removing one", moved)
	}

	// An unavailable target's keys spill over; the others stay put.
	p4 := pools["ch"]
	p4.targets[0].eject(time.Now().UnixNano())
	during := hashOwners(t, p4, 2000)
	for k, u := range after {
		if u == urls[0] && during[k] == urls[0] {
			t.Fatalf("key %s still goes to the ejected target", k)
		}
		if u != urls[0] && during[k] != u {
			t.Fatalf("key %s moved from %s to %s though its target is up", k, u, during[k])
		}
	}
}

func TestConsistentHashEmptyKeyFallsBackToRoundRobin(t *testing.T) {
	_, p := newPool(t, service("ch", ConsistentHash, fakeTargets(2)...))
	counts := countPicks(t, p, 10, noKey)
	if len(counts) != 2 {
		t.Errorf("empty key should spread: %v", counts)
	}
}

func TestPickAvoidsExcludedUnlessNothingElse(t *testing.T) {
	for _, mode := range []string{RoundRobin, Weighted, LeastConn, ConsistentHash} {
		t.Run(mode, func(t *testing.T) {
			_, p := newPool(t, service("x", mode, fakeTargets(3)...))
			first := mustPick(t, p, "k")
			for i := 0; i < 20; i++ {
				if got := mustPick(t, p, "k", first); got == first {
					t.Fatal("retry went to the excluded target while others were up")
				}
			}
			now := time.Now().UnixNano()
			for _, tg := range p.targets {
				if tg != first {
					tg.eject(now)
				}
			}
			if got := mustPick(t, p, "k", first); got != first {
				t.Fatalf("with every other target down, want the excluded one back, got %s", got.URL)
			}
		})
	}
}

func TestPickAllDown503(t *testing.T) {
	svc := service("down", "", fakeTargets(2)...)
	svc.Passive = &config.Passive{EjectFor: dur(2500 * time.Millisecond)}
	_, p := newPool(t, svc)
	now := time.Now().UnixNano()
	for _, tg := range p.targets {
		tg.eject(now)
	}
	if secs := want503(t, p); secs != 3 {
		t.Errorf("Retry-After = %d, want 3 (2.5s rounded up)", secs)
	}
}
