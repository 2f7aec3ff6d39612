package clientkey

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
)

func TestParseAndKey(t *testing.T) {
	ex := policytest.New("GET", "/")
	ex.IP = netip.MustParseAddr("2001:db8::1")
	ex.ReqHeader.Set("X-Tenant", strings.Repeat("t", 100))
	for _, tc := range []struct{ by, key string }{
		{"", "ip:2001:db8::1"},
		{"route", "r"},
		{"plan", "ip:2001:db8::1"},
		{"header:x-tenant", "h:#"},
		{"header:X-Other", "ip:2001:db8::1"},
	} {
		b, err := Parse(tc.by)
		if err != nil {
			t.Fatal(err)
		}
		if got := b.Key(ex); !strings.HasPrefix(got, tc.key) || len(got) > 80 {
			t.Errorf("%q: key %q, want prefix %q (bounded)", tc.by, got, tc.key)
		}
	}
	ex.Cons = &policy.Consumer{ID: "c1", Plan: "gold"}
	for by, want := range map[string]string{"consumer": "c:c1", "plan": "p:gold", "ip": "ip:2001:db8::1"} {
		b, _ := Parse(by)
		if got := b.Key(ex); got != want {
			t.Errorf("%s: %q, want %q", by, got, want)
		}
	}
	for _, bad := range []string{"user", "header:", "header:a b", "header:é"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q must be rejected", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"consumer", "header:X-Key", "header:", "plan", "ip"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := Parse(s)
		if err != nil {
			return
		}
		if b2, err := Parse(b.String()); err != nil || b2 != b {
			t.Fatalf("%q does not round-trip: %v", s, err)
		}
	})
}

// AppendKey builds the limiter's counter key in the caller's buffer: for a
// consumer, the route or the client IP it allocates nothing.
func TestAppendKeyAllocatesNothing(t *testing.T) {
	ex := policytest.New("GET", "/")
	ex.IP = netip.MustParseAddr("192.0.2.7")
	ex.Cons = &policy.Consumer{ID: "c_0123456789abcdefghij"}
	for _, by := range []string{"consumer", "route", "ip"} {
		b, _ := Parse(by)
		var buf [64]byte
		if got, want := string(b.AppendKey(buf[:0], ex)), b.Key(ex); got != want {
			t.Fatalf("%s: AppendKey %q, Key %q", by, got, want)
		}
		if n := testing.AllocsPerRun(100, func() { _ = b.AppendKey(buf[:0], ex) }); n != 0 {
			t.Errorf("%s: %v allocations", by, n)
		}
	}
}
