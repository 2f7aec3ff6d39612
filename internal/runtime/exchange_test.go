package runtime

import (
	"strings"
	"testing"
)

// Exchanges are pooled: Reset keeps the values' memory but never a value
// from the previous request.
func TestResetForgetsValuesButKeepsTheMemory(t *testing.T) {
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
		t.Fatalf("SetValue after Reset allocates %v times: the memory is not reused", n)
	}
}

// Value and SetValue behave as a map keyed by comparable values: the key's
// type counts, a second SetValue replaces, a missing key reads nil.
func TestValuesActLikeAMap(t *testing.T) {
	type a struct{}
	type b struct{}
	type named string
	var x Base
	if v := x.Value(a{}); v != nil {
		t.Fatalf("empty exchange: Value = %v", v)
	}
	x.SetValue(a{}, 1)
	x.SetValue(b{}, 2)
	x.SetValue("k", 3)
	x.SetValue(named("k"), 4)
	x.SetValue(a{}, 5)
	for _, c := range []struct {
		key  any
		want any
	}{{a{}, 5}, {b{}, 2}, {"k", 3}, {named("k"), 4}, {"other", nil}, {0, nil}} {
		if got := x.Value(c.key); got != c.want {
			t.Errorf("Value(%#v) = %v, want %v", c.key, got, c.want)
		}
	}
	if len(x.vals) != 4 {
		t.Errorf("%d entries for 4 keys", len(x.vals))
	}
}

// Scratch hands out disjoint room within a request, reuses its block from
// request to request (no allocation once the block is big enough) and
// grows for a request that needs more.
func TestScratch(t *testing.T) {
	var b Base
	x := append(b.Scratch(10), "0123456789"...)
	y := append(b.Scratch(5), "abcde"...)
	if string(x) != "0123456789" || string(y) != "abcde" {
		t.Fatalf("one request's scratch slices overlap: %q %q", x, y)
	}
	if cap(x) != 10 || cap(y) != 5 {
		t.Fatalf("capacities %d, %d; want exactly what was asked (an append past it must move, not overwrite)", cap(x), cap(y))
	}
	big := b.Scratch(4 * scratchBlock)
	if cap(big) != 4*scratchBlock || string(y) != "abcde" {
		t.Fatalf("a larger request: cap %d, earlier slice now %q", cap(big), y)
	}
	b.Reset()
	if n := testing.AllocsPerRun(100, func() {
		_ = append(b.Scratch(100), "v"...)
		_ = b.Scratch(200)
		b.Reset()
	}); n != 0 {
		t.Fatalf("Scratch after Reset allocates %v times: the block is not reused", n)
	}
}

// A request id lives in the exchange's memory (a generated one in its id
// array, a client's in its scratch memory): it costs nothing once the
// memory is reused, survives the request's other Scratch use, and the next
// request gets another id in the same memory (so the previous one is only
// valid until Reset, as Scratch's bytes are).
func TestRequestIDInScratch(t *testing.T) {
	var b Base
	b.NewRequestID()
	first := strings.Clone(b.ID)
	if len(first) != RequestIDLen || !SaneRequestID(first) {
		t.Fatalf("generated id %q", first)
	}
	x := append(b.Scratch(8), "xxxxxxxx"...)
	if b.ID != first || string(x) != "xxxxxxxx" {
		t.Fatalf("scratch use after the id changed it: id %q, slice %q", b.ID, x)
	}
	b.Reset()
	b.NewRequestID()
	if b.ID == first {
		t.Fatalf("two requests got the same id %q", first)
	}
	b.Reset()
	supplied := []byte("client-id-1")
	b.SetRequestID(supplied)
	supplied[0] = 'X' // the caller's buffer (fasthttp's header) may change
	if b.ID != "client-id-1" {
		t.Fatalf("supplied id %q, want a copy of client-id-1", b.ID)
	}
	if n := testing.AllocsPerRun(100, func() {
		b.Reset()
		b.NewRequestID()
		b.SetRequestID(supplied)
	}); n != 0 {
		t.Fatalf("request ids allocate %v times per request", n)
	}
}
