package runtime

import "testing"

// Exchanges are pooled: Reset keeps the value map's memory but never a
// value from the previous request.
func TestResetForgetsValuesButKeepsTheMap(t *testing.T) {
	type claim struct{}
	var b Base
	b.SetValue(claim{}, true)
	b.AddResponseHeader("RateLimit", "x")
	b.Reset()
	if v := b.Value(claim{}); v != nil {
		t.Fatalf("value from the previous request survived Reset: %v", v)
	}
	if len(b.Extra) != 0 {
		t.Fatalf("response headers survived Reset: %v", b.Extra)
	}
	if n := testing.AllocsPerRun(100, func() {
		b.SetValue(claim{}, true)
		b.Reset()
	}); n != 0 {
		t.Fatalf("SetValue after Reset allocates %v times: the map is not reused", n)
	}
}
