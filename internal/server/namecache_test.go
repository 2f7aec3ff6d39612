package server

import (
	"fmt"
	"testing"
	"unsafe"
)

// nameCache works a name's answer out once, however many names share
// table slots, and a cached name costs no allocation; an entry answers only
// for the bytes it was made for.
func TestNameCache(t *testing.T) {
	var c nameCache[int]
	calls := map[string]int{}
	answer := func(n string) int { calls[n]++; return len(n) }
	names := make([]string, 3*nameSlots) // more names than slots: pairs collide
	for i := range names {
		names[i] = fmt.Sprintf("X-Name-%d", i)
	}
	for range 3 {
		for _, n := range names {
			if got := c.get(n, answer); got != len(n) {
				t.Fatalf("get(%q) = %d", n, got)
			}
		}
	}
	for _, n := range names {
		if calls[n] != 1 {
			t.Fatalf("%q worked out %d times, want once", n, calls[n])
		}
	}
	if a := testing.AllocsPerRun(10, func() {
		for _, n := range names {
			c.get(n, answer)
		}
	}); a != 0 {
		t.Fatalf("cached names allocate %v times per pass", a)
	}
	buf := []byte("X-Name-1")
	n := unsafe.String(&buf[0], len(buf))
	c.get(n, answer)
	copy(buf, "X-Other!") // same address, other bytes
	if got := c.get(n, func(string) int { return -1 }); got != -1 {
		t.Fatalf("the cache answered %d for bytes it was not made for", got)
	}
}
