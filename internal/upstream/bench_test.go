package upstream

import (
	"strconv"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
)

func benchPool(b testing.TB, mode string) *Pool {
	svc := service("bench", mode, fakeTargets(8)...)
	for i := range svc.Targets {
		svc.Targets[i].Weight = 1 + i%3
	}
	r := NewRegistry(nil)
	b.Cleanup(r.Close)
	pools, err := r.Update([]config.Service{svc})
	if err != nil {
		b.Fatal(err)
	}
	return pools["bench"]
}

func benchPick(b *testing.B, mode string) {
	p := benchPool(b, mode)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "10.0.0." + strconv.Itoa(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := p.Pick(keys[i%len(keys)], nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPickRoundRobin(b *testing.B)     { benchPick(b, RoundRobin) }
func BenchmarkPickWeighted(b *testing.B)       { benchPick(b, Weighted) }
func BenchmarkPickLeastConn(b *testing.B)      { benchPick(b, LeastConn) }
func BenchmarkPickConsistentHash(b *testing.B) { benchPick(b, ConsistentHash) }

func BenchmarkPickRoundRobinParallel(b *testing.B) {
	p := benchPool(b, RoundRobin)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Pick("", nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAttempt is the per-request bookkeeping around a pick.
func BenchmarkAttempt(b *testing.B) {
	p := benchPool(b, LeastConn)
	b.ReportAllocs()
	for b.Loop() {
		t, _ := p.Pick("", nil)
		t.Begin().End(OK)
	}
}

func TestPickDoesNotAllocate(t *testing.T) {
	for _, mode := range []string{RoundRobin, Weighted, LeastConn, ConsistentHash} {
		p := benchPool(t, mode)
		if n := testing.AllocsPerRun(200, func() { _, _ = p.Pick("10.1.2.3", nil) }); n != 0 {
			t.Errorf("%s: Pick allocates %v times per call", mode, n)
		}
	}
	p := benchPool(t, RoundRobin)
	exclude := []*Target{p.targets[0]}
	if n := testing.AllocsPerRun(200, func() { _, _ = p.Pick("", exclude) }); n != 0 {
		t.Errorf("retry Pick allocates %v times per call", n)
	}
}
