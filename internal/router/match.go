package router

import (
	"slices"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// matcher carries one request through the trie search.
type matcher struct {
	method string
	header Header
	params []policy.Param
	rest   string // what a subtree entry matched
	// collect turns the search into the 405 pass: visit every leaf and gather
	// the methods of entries whose headers match.
	collect bool
	allow   []string
}

// Header reads request headers: Get(name) returns a value ("" if absent),
// names asked in canonical MIME form. An interface, not a func, so passing a
// request's header allocates no closure. Header may be nil.
type Header interface{ Get(name string) string }

// HeaderFunc adapts a function to Header.
type HeaderFunc func(name string) string

func (f HeaderFunc) Get(name string) string { return f(name) }

// Match finds the route for a request; see the package doc for the order.
// params is a caller-owned buffer, reset to params[:0] and appended to: with
// enough capacity Match does not allocate.
// Param values are substrings of path, still percent-encoded as in the
// canonical form. Returns id>=0 and status 0 on a match; id -1 and 404 when
// nothing matches; id -1, 405 and the sorted allowed methods when the path
// (and headers) matched but the method did not.
func (r *Router) Match(host, method, path string, header Header, params []policy.Param) (id int, pattern string, outParams []policy.Param, status int, allow []string) {
	m := matcher{method: method, header: header, params: params[:0]}
	if path == "" || path[0] != '/' {
		return -1, "", m.params, 404, nil
	}
	var buf [maxHost]byte
	var h []byte
	if len(r.exact)+len(r.wild) > 0 {
		h = lowerHost(host, &buf)
	}
	if e := r.search(&m, h, path); e != nil {
		return e.id, e.pat.raw, m.bind(e), 0, nil
	}
	m.collect, m.params = true, m.params[:0]
	r.search(&m, h, path)
	if len(m.allow) == 0 {
		return -1, "", m.params[:0], 404, nil
	}
	return -1, "", m.params[:0], 405, allowList(m.allow)
}

// UsesHost reports whether any route matches on the host: when none does,
// Match ignores its host argument and callers need not compute it.
func (r *Router) UsesHost() bool { return len(r.exact)+len(r.wild) > 0 }

// search tries the host levels from most to least specific: exact host,
// wildcard suffixes longest first, then any-host routes.
func (r *Router) search(m *matcher, host []byte, path string) *entry {
	if host != nil {
		if n := r.exact[string(host)]; n != nil {
			if e := n.lookup(m, path[1:], false); e != nil {
				return e
			}
		}
		for i := 1; i < len(host); i++ {
			if host[i] != '.' {
				continue
			}
			if n := r.wild[string(host[i:])]; n != nil {
				if e := n.lookup(m, path[1:], false); e != nil {
					return e
				}
			}
		}
	}
	if r.any != nil {
		return r.any.lookup(m, path[1:], false)
	}
	return nil
}

// lookup matches rest (the path after the last consumed '/') below n. end
// means the whole path was consumed. Children are tried literal, then
// {param}, then subtree, so the first hit is the most specific pattern.
func (n *node) lookup(m *matcher, rest string, end bool) *entry {
	if end {
		return m.pick(n.exact)
	}
	seg, next, more := strings.Cut(rest, "/")
	if c := n.static[seg]; c != nil {
		if e := c.lookup(m, next, !more); e != nil {
			return e
		}
	}
	if n.param != nil && seg != "" {
		k := len(m.params)
		m.params = append(m.params, policy.Param{Value: seg})
		if e := n.param.lookup(m, next, !more); e != nil {
			return e
		}
		m.params = m.params[:k]
	}
	if e := m.pick(n.subtree); e != nil {
		m.rest = rest
		return e
	}
	return nil
}

// pick returns the best entry of a leaf for the request: entries are sorted
// by header-matcher count, so the first header group with a method match
// wins; within it an explicit method beats GET-serving-HEAD beats any-method.
func (m *matcher) pick(leaf []*entry) *entry {
	var best *entry
	bestRank := 0
	for _, e := range leaf {
		if best != nil && len(e.headers) < len(best.headers) {
			break
		}
		if !headersMatch(e.headers, m.header) {
			continue
		}
		if m.collect {
			m.allow = append(m.allow, e.methods...)
			continue
		}
		if rank := methodRank(e.methods, m.method); rank > bestRank {
			best, bestRank = e, rank
		}
	}
	return best
}

// methodRank: 3 explicit match, 2 GET route serving HEAD, 1 any method, 0 no match.
func methodRank(methods []string, method string) int {
	if methods == nil {
		return 1
	}
	for _, x := range methods {
		if x == method {
			return 3
		}
	}
	if method == "HEAD" && slices.Contains(methods, "GET") {
		return 2
	}
	return 0
}

func headersMatch(hs []headerMatch, header Header) bool {
	if len(hs) > 0 && header == nil {
		return false
	}
	for _, h := range hs {
		v := header.Get(h.name)
		if v == "" || h.value != "*" && v != h.value {
			return false
		}
	}
	return true
}

// bind names the captured values after the winning entry's pattern.
func (m *matcher) bind(e *entry) []policy.Param {
	ps := m.params
	for i, name := range e.pat.params {
		ps[i].Name = name
	}
	if e.pat.rest != "" {
		ps = append(ps, policy.Param{Name: e.pat.rest, Value: m.rest})
	}
	return ps
}

func allowList(methods []string) []string {
	if slices.Contains(methods, "GET") {
		methods = append(methods, "HEAD")
	}
	slices.Sort(methods)
	return slices.Compact(methods)
}
