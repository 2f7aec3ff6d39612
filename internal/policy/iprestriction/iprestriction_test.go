package iprestriction

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

func TestHandle(t *testing.T) {
	cfg := Config{
		Allow: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"},
		Deny:  []string{"10.66.0.0/16", "2001:db8:dead::/48"},
	}
	denyOnly := Config{Deny: []string{"203.0.113.0/24"}}
	tests := []struct {
		name string
		cfg  Config
		ip   string
		want int
	}{
		{"in allowed CIDR", cfg, "10.1.2.3", 200},
		{"allowed single address", cfg, "192.0.2.7", 200},
		{"next to the allowed single address", cfg, "192.0.2.8", 403},
		{"outside allow list", cfg, "172.16.0.1", 403},
		{"denied inside allowed CIDR (deny wins)", cfg, "10.66.1.1", 403},
		{"first address of denied CIDR", cfg, "10.66.0.0", 403},
		{"last address of denied CIDR", cfg, "10.66.255.255", 403},
		{"just after denied CIDR", cfg, "10.67.0.0", 200},
		{"allowed IPv6", cfg, "2001:db8:1::1", 200},
		{"denied IPv6", cfg, "2001:db8:dead::1", 403},
		{"IPv4-mapped IPv6 of an allowed IPv4", cfg, "::ffff:10.1.2.3", 200},
		{"deny only: other address passes", denyOnly, "198.51.100.1", 200},
		{"deny only: denied", denyOnly, "203.0.113.9", 403},
		{"unresolved client IP fails closed", denyOnly, "", 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tt.cfg.Build(policy.BuildEnv{})
			if err != nil {
				t.Fatal(err)
			}
			ex := policytest.New("GET", "/")
			ex.IP = netip.Addr{}
			if tt.ip != "" {
				ex.IP = netip.MustParseAddr(tt.ip)
			}
			err = h.(policy.Handler).Handle(ex, policytest.Upstream(200, nil, "ok", nil))
			if tt.want == 200 {
				if err != nil || ex.Resp == nil {
					t.Fatalf("err = %v, want pass", err)
				}
				return
			}
			var pe *problem.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want 403 problem", err)
			}
			want := `{"type":"about:blank","title":"Forbidden","status":403,"detail":"requests from your IP address are not allowed on this route","request_id":"r"}`
			if pe.Status != 403 || string(pe.Body("r")) != want {
				t.Errorf("got %d %s", pe.Status, pe.Body("r"))
			}
			if ex.Resp != nil {
				t.Error("upstream reached")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	c := Config{Allow: []string{"10.0.0.0/33", "nope", "1.2.3.4"}, Deny: []string{"", "fe80::1%eth0"}}
	errs := c.Validate()
	if len(errs) != 4 {
		t.Fatalf("got %d errors %v, want 4", len(errs), errs)
	}
	if got := errs[0].Error(); got != `ip_restriction: allow[0]: not an IP address or CIDR: "10.0.0.0/33"` {
		t.Errorf("first error = %q", got)
	}
	if errs := (&Config{}).Validate(); len(errs) != 1 {
		t.Errorf("empty config: %v", errs)
	}
}

// TestSetAgainstLinearScan checks the merged binary-search set against the
// obvious per-prefix scan on random data.
func TestSetAgainstLinearScan(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var entries []string
	var prefixes []netip.Prefix
	for i := 0; i < 300; i++ {
		var p netip.Prefix
		if i%3 == 0 {
			var b [16]byte
			b[0], b[1], b[2] = 0x20, 0x01, byte(r.IntN(4))
			p = netip.PrefixFrom(netip.AddrFrom16(b), 16+r.IntN(112)).Masked()
		} else {
			a := netip.AddrFrom4([4]byte{byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
			p = netip.PrefixFrom(a, 6+r.IntN(27)).Masked()
		}
		entries = append(entries, p.String())
		prefixes = append(prefixes, p)
	}
	s, err := NewSet(entries)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20000; i++ {
		var ip netip.Addr
		if i%3 == 0 {
			var b [16]byte
			b[0], b[1], b[2], b[3], b[15] = 0x20, 0x01, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))
			ip = netip.AddrFrom16(b)
		} else {
			ip = netip.AddrFrom4([4]byte{byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		}
		want := false
		for _, p := range prefixes {
			if p.Contains(ip) {
				want = true
				break
			}
		}
		if got := s.Contains(ip); got != want {
			t.Fatalf("Contains(%s) = %v, want %v", ip, got, want)
		}
	}
}

func TestSetEdges(t *testing.T) {
	s, _ := NewSet([]string{"0.0.0.0/0", "::/0"})
	for _, ip := range []string{"0.0.0.0", "255.255.255.255", "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		if !s.Contains(netip.MustParseAddr(ip)) {
			t.Errorf("%s not in everything", ip)
		}
	}
	adj, _ := NewSet([]string{"10.0.0.0/25", "10.0.0.128/25", "10.0.1.0/24"})
	if adj.Len() != 1 {
		t.Errorf("adjacent prefixes not merged: %d spans", adj.Len())
	}
}

func TestReadmeExample(t *testing.T) { policytest.CheckREADME(t, Definition) }

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "::1", "2001:db8::/32", "1.2.3.4/33", "", "fe80::1%eth0", "::ffff:1.2.3.4/120"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseEntry(s)
		if err != nil {
			return
		}
		set, err := NewSet([]string{s})
		if err != nil {
			t.Fatalf("ParseEntry ok but NewSet failed: %v", err)
		}
		if !set.Contains(p.Addr()) {
			t.Fatalf("set from %q does not contain its own first address %s", s, p.Addr())
		}
	})
}

// BenchmarkHandle1000 measures a lookup against 1,000 allow prefixes and 1,000 deny prefixes.
func BenchmarkHandle1000(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	cfg := Config{}
	for i := 0; i < 1000; i++ {
		cfg.Allow = append(cfg.Allow, fmt.Sprintf("%d.%d.%d.0/24", 1+r.IntN(200), r.IntN(256), r.IntN(256)))
		cfg.Deny = append(cfg.Deny, fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(200), r.IntN(256), r.IntN(256), r.IntN(256)))
	}
	h, err := cfg.Build(policy.BuildEnv{})
	if err != nil {
		b.Fatal(err)
	}
	handler := h.(policy.Handler)
	ex := policytest.New("GET", "/")
	ex.IP = netip.MustParseAddr("100.64.1.1")
	next := func(policy.Exchange) error { return nil }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = handler.Handle(ex, next)
	}
}
