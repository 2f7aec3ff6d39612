package iprestriction

import (
	"errors"
	"net/netip"
	"sort"
	"strings"
)

// u128 is an address as a 128-bit number; IPv4 uses its IPv4-mapped IPv6
// form, so one sorted list holds both families.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) next() (u128, bool) {
	if a.lo != ^uint64(0) {
		return u128{a.hi, a.lo + 1}, true
	}
	if a.hi != ^uint64(0) {
		return u128{a.hi + 1, 0}, true
	}
	return a, false
}

func toU128(ip netip.Addr) u128 {
	b := ip.As16()
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[i+8])
	}
	return u128{hi, lo}
}

// span is an inclusive address range.
type span struct{ first, last u128 }

// Set is an immutable set of address ranges, sorted and merged so that a
// lookup is one binary search whatever the number of entries.
type Set struct{ spans []span }

// ParseEntry reads "10.0.0.0/8", "2001:db8::/32" or a single address.
// Host bits after the prefix length are ignored ("10.1.2.3/8" is 10.0.0.0/8).
func ParseEntry(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, errors.New("empty entry")
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, errors.New("address zones are not allowed: " + quote(s))
	}
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an IP address or CIDR: " + quote(s))
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an IP address or CIDR: " + quote(s))
	}
	return p.Masked(), nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return `"` + s + `"`
}

// NewSet parses entries (see ParseEntry) into a Set.
func NewSet(entries []string) (*Set, error) {
	spans := make([]span, 0, len(entries))
	for _, e := range entries {
		p, err := ParseEntry(e)
		if err != nil {
			return nil, err
		}
		spans = append(spans, prefixSpan(p))
	}
	return &Set{spans: merge(spans)}, nil
}

// prefixSpan maps a prefix to its first and last address, IPv4 in its mapped form.
func prefixSpan(p netip.Prefix) span {
	bits := p.Bits()
	if p.Addr().Is4() {
		bits += 96
	}
	first := toU128(p.Addr())
	last := first
	host := 128 - bits
	switch {
	case host >= 64:
		last.lo = ^uint64(0)
		last.hi |= lowMask(host - 64)
	default:
		last.lo |= lowMask(host)
	}
	return span{first, last}
}

func lowMask(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return 1<<uint(n) - 1
}

// merge sorts spans and joins overlapping or adjacent ones.
func merge(spans []span) []span {
	sort.Slice(spans, func(i, j int) bool { return spans[i].first.less(spans[j].first) })
	out := spans[:0]
	for _, s := range spans {
		if n := len(out); n > 0 {
			after, ok := out[n-1].last.next()
			if !ok || !after.less(s.first) { // s starts inside or right after the previous span
				if out[n-1].last.less(s.last) {
					out[n-1].last = s.last
				}
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// Contains reports whether ip is in the set.
func (s *Set) Contains(ip netip.Addr) bool {
	if !ip.IsValid() || len(s.spans) == 0 {
		return false
	}
	a := toU128(ip.WithZone(""))
	// find the first span whose last address is >= a (sort.Search, inlined:
	// this runs on every request)
	lo, hi := 0, len(s.spans)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.spans[mid].last.less(a) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo < len(s.spans) && !a.less(s.spans[lo].first)
}

// Len is the number of merged ranges.
func (s *Set) Len() int { return len(s.spans) }
