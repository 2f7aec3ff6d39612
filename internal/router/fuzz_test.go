package router

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{
		"/", "/v1/orders", "//a//b/", "/%41%2e%2E", "/a/%2e%2e/b", "/a%2Fb", "/a\\b", "/a%00", "/ü/%c3%bc",
		"/a?b#c", "/%25", "/%252F", "/.", "/..", "/...", "/a/./b", "/%", "/%zz", "/a b", "/\x7f", "relative", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		out, err := Canonicalize(raw)
		if err != nil {
			return
		}
		if again, err := Canonicalize(out); err != nil || again != out {
			t.Fatalf("not a fixed point: %q -> %q -> %q, %v", raw, out, again, err)
		}
		if out == "" || out[0] != '/' {
			t.Fatalf("%q -> %q: not absolute", raw, out)
		}
		for _, bad := range []string{"//", "/../", "/./", "%2F", "%2f", "\\", "%5C", "%00"} {
			if strings.Contains(out, bad) {
				t.Fatalf("%q -> %q contains %q", raw, out, bad)
			}
		}
		if strings.HasSuffix(out, "/..") || strings.HasSuffix(out, "/.") {
			t.Fatalf("%q -> %q ends in a dot segment", raw, out)
		}
		checkEscapesUpper(t, out)
		// Canonicalising never changes what the path means, only how it is spelt.
		want, err1 := url.PathUnescape(raw)
		got, err2 := url.PathUnescape(out)
		if err1 != nil || err2 != nil {
			t.Fatalf("%q -> %q: unescape errors %v, %v", raw, out, err1, err2)
		}
		if collapseSlashes(want) != got {
			t.Fatalf("%q -> %q changes the decoded path: %q vs %q", raw, out, want, got)
		}
	})
}

func checkEscapesUpper(t *testing.T, out string) {
	for i := 0; i < len(out); i++ {
		c := out[i]
		if c < 0x21 || c >= 0x7f {
			t.Fatalf("%q has raw byte %#x", out, c)
		}
		if c == '%' && (i+2 >= len(out) || strings.ContainsAny(out[i+1:i+3], "abcdef")) {
			t.Fatalf("%q has a short or lower-case escape at %d", out, i)
		}
	}
}

func collapseSlashes(s string) string {
	for strings.Contains(s, "//") {
		s = strings.ReplaceAll(s, "//", "/")
	}
	return s
}

// genRoutes turns fuzz bytes into routes over a tiny alphabet of hosts,
// methods and path segments, so random requests hit them often. Each route
// gets its own host+shape (duplicates would only be rejected as ties).
func genRoutes(data []byte) []Route {
	var routes []Route
	seen := map[string]bool{}
	for len(data) > 2 && len(routes) < 12 {
		n, host, methods := int(data[0]%4)+1, fuzzHosts[data[1]%4], fuzzMethods[data[2]%4]
		data = data[3:]
		var b strings.Builder
		for i := 0; i < n && len(data) > 0; i++ {
			last := i == n-1 || len(data) == 1
			b.WriteString(genSegment(data[0], i, last))
			data = data[1:]
		}
		p := "/" + strings.TrimPrefix(b.String(), "/")
		pat, err := parsePattern(p)
		if err != nil || seen[host+pat.shape()] {
			continue
		}
		seen[host+pat.shape()] = true
		rt := Route{ID: len(routes), Paths: []string{p}, Methods: methods}
		if host != "" {
			rt.Hosts = []string{host}
		}
		routes = append(routes, rt)
	}
	return routes
}

var (
	fuzzHosts      = []string{"", "a.com", "*.com", "*.a.com"}
	fuzzMethods    = [][]string{nil, {"GET"}, {"POST"}, {"GET", "POST"}}
	fuzzReqHosts   = []string{"a.com", "x.a.com", "b.com", "other"}
	fuzzReqMethods = []string{"GET", "HEAD", "POST", "PUT"}
)

func genSegment(b byte, i int, last bool) string {
	sep := "/"
	if i == 0 {
		sep = ""
	}
	switch b % 7 {
	case 0:
		return sep + "a"
	case 1:
		return sep + "b"
	case 2, 3:
		return sep + "{p" + strconv.Itoa(i) + "}"
	case 4:
		if last {
			return sep + "{rest...}"
		}
	case 5:
		if last {
			return sep + "{$}"
		}
	case 6:
		if last {
			return sep // subtree
		}
	}
	return sep + "c"
}

func FuzzMatch(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 2, 1, 0, 2, 1, 2, 3, 2, 3, 0, 3, 4}, byte(0), "/a/b/c")
	f.Add([]byte{0, 1, 1, 6, 1, 2, 2, 0, 5, 2, 3, 0, 2, 2, 4}, byte(5), "/a/")
	f.Add([]byte{3, 0, 2, 2, 2, 2, 4, 1, 3, 3, 0, 3}, byte(2), "/x/y/z/w")
	f.Add([]byte{2, 2, 1, 1, 6, 0, 1, 0, 0}, byte(7), "/b/a")
	f.Fuzz(func(t *testing.T, routeBytes []byte, reqByte byte, rawPath string) {
		routes := genRoutes(routeBytes)
		r, err := New(routes)
		if err != nil {
			t.Fatalf("New(%v): %v", routes, err)
		}
		host, method := fuzzReqHosts[reqByte%4], fuzzReqMethods[reqByte/4%4]
		path, err := Canonicalize(rawPath)
		if err != nil {
			path = rawPath // Match must survive non-canonical input too
		}
		id, pat, params, status, allow := r.Match(host, method, path, nil, nil)
		if err != nil {
			return // the reference model only speaks canonical paths
		}
		wantID, wantStatus, wantAllow := refMatch(routes, host, method, path)
		if id != wantID || status != wantStatus || !slices.Equal(allow, wantAllow) {
			t.Fatalf("routes %v, %s %s%s: got id %d (%q) status %d allow %v; reference: %d %d %v",
				routes, method, host, path, id, pat, status, allow, wantID, wantStatus, wantAllow)
		}
		if id < 0 {
			return
		}
		p, _ := parsePattern(pat)
		for _, ps := range params {
			if ps.Name != p.rest && (strings.Contains(ps.Value, "/") || ps.Value == "") {
				t.Fatalf("param %s=%q of %q is empty or contains '/'", ps.Name, ps.Value, pat)
			}
		}
	})
}

// refMatch is the reference model: a linear scan, level by level.
func refMatch(routes []Route, host, method, path string) (id, status int, allow []string) {
	for _, level := range refHostLevels(host) {
		best, bestPat := -1, (*pattern)(nil)
		for _, rt := range routes {
			p, _ := parsePattern(rt.Paths[0])
			if refHost(rt) != level || !refMatches(p, path) {
				continue
			}
			if methodRank(rt.Methods, method) == 0 {
				allow = append(allow, rt.Methods...)
				continue
			}
			if bestPat == nil || moreSpecific(p, bestPat) {
				best, bestPat = rt.ID, p
			}
		}
		if best >= 0 {
			return best, 0, nil
		}
	}
	if allow == nil {
		return -1, 404, nil
	}
	return -1, 405, allowList(allow)
}

func refHost(rt Route) string {
	if len(rt.Hosts) == 0 {
		return ""
	}
	return rt.Hosts[0]
}

// refHostLevels lists the host specs that apply to host, most specific first.
func refHostLevels(host string) []string {
	levels := []string{host}
	labels := strings.Split(host, ".")
	for i := 1; i < len(labels); i++ {
		levels = append(levels, "*."+strings.Join(labels[i:], "."))
	}
	return append(levels, "")
}
func refMatches(p *pattern, path string) bool {
	if path == "" || path[0] != '/' {
		return false
	}
	segs := strings.Split(path[1:], "/")
	for i, s := range p.segs {
		if s.kind == segRest {
			return i < len(segs)
		}
		if i >= len(segs) || s.kind == segLiteral && segs[i] != s.text || s.kind == segParam && segs[i] == "" {
			return false
		}
	}
	return len(segs) == len(p.segs)
}

// moreSpecific compares two patterns matching the same path segment by
// segment: literal < {param} < rest.
func moreSpecific(a, b *pattern) bool {
	for i := 0; i < len(a.segs) && i < len(b.segs); i++ {
		if a.segs[i].kind != b.segs[i].kind {
			return a.segs[i].kind < b.segs[i].kind
		}
	}
	return false
}
