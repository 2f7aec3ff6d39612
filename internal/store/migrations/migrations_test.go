package migrations

import (
	"slices"
	"testing"
)

// Both dialects must describe one logical schema: the same versions, in order.
func TestDialectsHaveSameVersions(t *testing.T) {
	versions := func(d string) []string {
		ms, err := List(d)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Version)
		}
		return out
	}
	lite, pg := versions("sqlite"), versions("postgres")
	if !slices.Equal(lite, pg) || !slices.IsSorted(lite) || lite[0] != "0001_init" {
		t.Fatalf("sqlite %v, postgres %v", lite, pg)
	}
	if _, err := List("oracle"); err == nil {
		t.Fatal("unknown dialect accepted")
	}
}
