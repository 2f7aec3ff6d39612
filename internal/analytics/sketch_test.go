package analytics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile uses the same rank definition as Sketch.Quantile.
func exactQuantile(sorted []float64, q float64) float64 {
	return sorted[int(q*float64(len(sorted)-1))]
}

func withinAccuracy(t *testing.T, name string, got, want float64) {
	t.Helper()
	if want < MinIndexableMs {
		if got != 0 {
			t.Errorf("%s: got %v, want 0 for a value below the minimum", name, got)
		}
		return
	}
	if rel := math.Abs(got-want) / want; rel > RelativeAccuracy+1e-9 {
		t.Errorf("%s: got %.4f want %.4f (relative error %.4f > %.2f)", name, got, want, rel, RelativeAccuracy)
	}
}

func TestSketchQuantilesWithinRelativeAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() float64{
		"lognormal": func() float64 { return math.Exp(rng.NormFloat64()*1.5 + 3) },
		"uniform":   func() float64 { return rng.Float64() * 1000 },
		"bimodal": func() float64 {
			if rng.IntN(10) == 0 {
				return 2000 + rng.Float64()*500
			}
			return 1 + rng.Float64()*4
		},
		"constant": func() float64 { return 42 },
		"tiny":     func() float64 { return rng.Float64() * 0.002 },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			s := NewSketch()
			vals := make([]float64, 20000)
			for i := range vals {
				vals[i] = gen()
				s.Add(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
				withinAccuracy(t, name, s.Quantile(q), exactQuantile(vals, q))
			}
			if s.Count() != uint64(len(vals)) {
				t.Fatalf("count %d", s.Count())
			}
		})
	}
}

func TestSketchMergeEqualsWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	whole, a, b := NewSketch(), NewSketch(), NewSketch()
	for i := range 5000 {
		v := math.Exp(rng.NormFloat64()*2 + 2)
		whole.Add(v)
		if i%3 == 0 {
			a.Add(v)
		} else {
			b.Add(v)
		}
	}
	a.Merge(b)
	wa, _ := whole.MarshalBinary()
	ma, _ := a.MarshalBinary()
	if string(wa) != string(ma) {
		t.Fatal("merged sketch differs from the sketch of all values")
	}
	if a.Count() != whole.Count() {
		t.Fatalf("count %d vs %d", a.Count(), whole.Count())
	}
}

func TestSketchBinaryRoundTrip(t *testing.T) {
	s := NewSketch()
	for _, v := range []float64{0, 0.0005, 1, 2, 3, 1000, 99999} {
		s.Add(v)
	}
	enc, _ := s.MarshalBinary()
	var d Sketch
	if err := d.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	if d.Count() != s.Count() || d.Quantile(0.5) != s.Quantile(0.5) || d.Quantile(1) != s.Quantile(1) {
		t.Fatalf("round trip changed the sketch")
	}
	j, _ := s.MarshalJSON()
	var dj Sketch
	if err := dj.UnmarshalJSON(j); err != nil || dj.Count() != s.Count() {
		t.Fatalf("json round trip: %v", err)
	}
	if err := d.UnmarshalBinary([]byte{1, 0}); err == nil {
		t.Fatal("truncated encoding accepted")
	}
}

func TestSketchBoundedBins(t *testing.T) {
	s := NewSketch()
	for v := 0.001; v < 1e30; v *= 1.01 {
		s.Add(v)
	}
	s.Add(1e-3)
	if len(s.counts) > maxBins {
		t.Fatalf("%d bins", len(s.counts))
	}
	// the top quantile stays accurate even after collapsing the low end
	withinAccuracy(t, "max", s.Quantile(1), 1e30/1.01)
}

func FuzzSketchUnmarshal(f *testing.F) {
	s := NewSketch()
	s.Add(1)
	s.Add(100)
	enc, _ := s.MarshalBinary()
	f.Add(enc)
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Sketch
		if d.UnmarshalBinary(b) != nil {
			return
		}
		_ = d.Quantile(0.99)
		re, _ := d.MarshalBinary()
		var e Sketch
		if err := e.UnmarshalBinary(re); err != nil || e.Count() != d.Count() {
			t.Fatalf("re-encoding failed: %v", err)
		}
		d.Merge(&e)
	})
}
