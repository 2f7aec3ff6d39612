package config

import (
	"fmt"
	"strings"
)

// conflicts reports routes that would tie for the same request: the same
// path pattern (parameter names aside) on overlapping hosts and methods with
// the same header matchers. SPEC §3: ties are a config error, not a coin toss.
// Subtler overlaps between different patterns are left to the router, as are
// documents so large that the check would exceed maxMatchKeys.
func (v *validator) conflicts() {
	first := map[string]string{} // match key -> path of the pattern that claimed it
	budget := maxMatchKeys
	for i, r := range v.c.Routes {
		n := max(len(r.Match.Paths), 1) * max(len(r.Match.Hosts), 1) * max(len(r.Match.Methods), 1)
		if budget -= n; budget < 0 {
			return
		}
		paths := r.Match.Paths
		if len(paths) == 0 {
			paths = []string{"*"}
		}
		reported := map[string]bool{}
		for j, p := range paths {
			at := fmt.Sprintf("routes[%d].match.paths[%d]", i, j)
			if len(r.Match.Paths) == 0 {
				at = fmt.Sprintf("routes[%d].match", i)
			}
			for _, key := range matchKeys(r.Match, p) {
				prev, dup := first[key]
				if !dup {
					first[key] = at
					continue
				}
				if !reported[at] {
					reported[at] = true
					v.p.at(at, "matches the same requests as "+prev, "make the patterns, hosts, methods or headers differ")
				}
			}
		}
	}
}

// maxMatchKeys bounds the tie check's work (hosts x methods x paths).
const maxMatchKeys = 1 << 16

// matchKeys lists one key per (host, method) the route answers for pattern p.
func matchKeys(m Match, p string) []string {
	hosts, methods := m.Hosts, m.Methods
	if len(hosts) == 0 {
		hosts = []string{"*any*"}
	}
	if len(methods) == 0 {
		methods = []string{"*any*"}
	}
	headers := make([]string, 0, len(m.Headers))
	for _, k := range sortedKeys(m.Headers) {
		headers = append(headers, strings.ToLower(k)+"="+m.Headers[k])
	}
	norm := normalizePattern(p)
	var keys []string
	for _, h := range hosts {
		for _, meth := range methods {
			keys = append(keys, strings.ToLower(h)+" "+meth+" "+norm+" "+strings.Join(headers, "&"))
		}
	}
	return keys
}

// normalizePattern drops parameter names: /a/{id} and /a/{x} are one pattern.
func normalizePattern(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case s == "{$}":
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "...}"):
			segs[i] = "{...}"
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}
