package router

import (
	"cmp"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"strings"
)

// Route is one compiled route's matchers. ID is the caller's index of the route.
type Route struct {
	ID      int
	Hosts   []string          // exact "api.example.com" or wildcard "*.example.com"; empty = any host
	Paths   []string          // Go net/http pattern syntax; empty = "/" subtree
	Methods []string          // empty = any method
	Headers map[string]string // header name -> exact value, "*" = must be present
}

// Router is an immutable routing table: one segment trie per host level.
// It is safe for concurrent use.
type Router struct {
	exact map[string]*node // "api.example.com"
	wild  map[string]*node // "*.example.com" stored as ".example.com"
	any   *node            // routes without hosts
}

// entry is one route's matchers at one trie position.
type entry struct {
	id      int
	order   int // position in New's input: the last, deterministic tie-break
	pat     *pattern
	methods []string // sorted, upper case; nil = any method
	headers []headerMatch
}

type headerMatch struct{ name, value string }

// node is one position in a host's segment trie.
type node struct {
	static  map[string]*node
	param   *node
	exact   []*entry // patterns ending here
	subtree []*entry // patterns matching the rest of the path from here
}

// New builds an immutable router. All errors come back at once, joined, each
// naming the route IDs involved: invalid hosts, patterns, methods or header
// matchers, and ambiguous routes (same host spec, same pattern shape,
// overlapping methods, same header matchers).
func New(routes []Route) (*Router, error) {
	b := &builder{r: &Router{exact: map[string]*node{}, wild: map[string]*node{}}}
	for i := range routes {
		b.add(i, &routes[i])
	}
	if len(b.errs) > 0 {
		return nil, errors.Join(b.errs...)
	}
	b.r.walk(sortLeaves)
	return b.r, nil
}

type builder struct {
	r    *Router
	errs []error
}

func (b *builder) fail(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf(format, args...))
}

// add validates one route and inserts it under each of its hosts and patterns.
func (b *builder) add(order int, rt *Route) {
	methods, err := normalizeMethods(rt.Methods)
	if err != nil {
		b.fail("route %d: %v", rt.ID, err)
	}
	headers, err := normalizeHeaders(rt.Headers)
	if err != nil {
		b.fail("route %d: %v", rt.ID, err)
	}
	pats := b.patterns(rt)
	hosts := rt.Hosts
	if len(hosts) == 0 {
		hosts = []string{""}
	}
	for _, h := range hosts {
		root, err := b.r.hostRoot(h)
		if err != nil {
			b.fail("route %d: host %q: %v", rt.ID, h, err)
			continue
		}
		for _, p := range pats {
			e := &entry{id: rt.ID, order: order, pat: p, methods: methods, headers: headers}
			b.insert(root, h, e)
		}
	}
}

func (b *builder) patterns(rt *Route) []*pattern {
	paths := rt.Paths
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	var pats []*pattern
	for _, raw := range paths {
		p, err := parsePattern(raw)
		if err != nil {
			b.fail("route %d: path %q: %v", rt.ID, raw, err)
			continue
		}
		pats = append(pats, p)
	}
	return pats
}

// insert walks (creating) the trie for e's pattern and adds e to the leaf,
// rejecting ties with entries already there.
func (b *builder) insert(root *node, host string, e *entry) {
	leaf := root.leafFor(e.pat)
	for _, o := range *leaf {
		if o.order == e.order {
			return // same route twice (duplicate host or equivalent pattern): harmless
		}
		if tied(o, e) {
			b.fail("routes %d and %d: ambiguous routes: host %q, paths %q and %q, overlapping methods and the same header matchers",
				o.id, e.id, host, o.pat.raw, e.pat.raw)
		}
	}
	*leaf = append(*leaf, e)
}

func (n *node) leafFor(p *pattern) *[]*entry {
	for _, s := range p.segs {
		switch s.kind {
		case segLiteral:
			if n.static == nil {
				n.static = map[string]*node{}
			}
			c := n.static[s.text]
			if c == nil {
				c = &node{}
				n.static[s.text] = c
			}
			n = c
		case segParam:
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		case segRest:
			return &n.subtree
		}
	}
	return &n.exact
}

// tied reports two entries at the same leaf that would match exactly the same
// requests with the same priority.
func tied(a, b *entry) bool {
	if !slices.Equal(a.headers, b.headers) {
		return false
	}
	if a.methods == nil || b.methods == nil {
		return a.methods == nil && b.methods == nil
	}
	for _, m := range a.methods {
		if _, ok := slices.BinarySearch(b.methods, m); ok {
			return true
		}
	}
	return false
}

// sortLeaves orders a leaf by priority: more header matchers first, then
// explicit method lists before any-method, then input order.
func sortLeaves(n *node) {
	for _, l := range [][]*entry{n.exact, n.subtree} {
		slices.SortStableFunc(l, func(a, b *entry) int {
			if c := cmp.Compare(len(b.headers), len(a.headers)); c != 0 {
				return c
			}
			if c := cmp.Compare(anyMethodRank(a), anyMethodRank(b)); c != 0 {
				return c
			}
			return cmp.Compare(a.order, b.order)
		})
	}
}

func (r *Router) walk(f func(*node)) {
	for _, n := range r.exact {
		n.walk(f)
	}
	for _, n := range r.wild {
		n.walk(f)
	}
	if r.any != nil {
		r.any.walk(f)
	}
}

func (n *node) walk(f func(*node)) {
	f(n)
	for _, c := range n.static {
		c.walk(f)
	}
	if n.param != nil {
		n.param.walk(f)
	}
}

// anyMethodRank sorts explicit method lists (0) before any-method (1).
func anyMethodRank(e *entry) int {
	if e.methods == nil {
		return 1
	}
	return 0
}

func normalizeMethods(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	for _, m := range in {
		if !isToken(m) {
			return nil, fmt.Errorf("method %q is not an HTTP token", m)
		}
		out = append(out, strings.ToUpper(m))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func normalizeHeaders(in map[string]string) ([]headerMatch, error) {
	out := make([]headerMatch, 0, len(in))
	for name, v := range in {
		if !isToken(name) {
			return nil, fmt.Errorf("header name %q is not an HTTP token", name)
		}
		if v == "" {
			return nil, fmt.Errorf("header %q: empty value (use \"*\" for must be present)", name)
		}
		out = append(out, headerMatch{textproto.CanonicalMIMEHeaderKey(name), v})
	}
	slices.SortFunc(out, func(a, b headerMatch) int { return cmp.Compare(a.name, b.name) })
	for i := 1; i < len(out); i++ {
		if out[i].name == out[i-1].name {
			return nil, fmt.Errorf("header %q matched twice", out[i].name)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// isToken reports an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
