package transform

import (
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// handler is a built transform: the request side runs before next, the
// response side after it.
type handler struct {
	req, resp *side
	maxBody   int64
}

type side struct {
	headers *headerOps
	query   *headerOps
	path    *pathTemplate
	json    *jsonOps
	status  map[int]int
}

type namedValue struct {
	name string
	val  value
}

type headerOps struct {
	remove    []string
	rename    [][2]string
	set, add  []namedValue
	templated bool // some set/add value needs the request
}

func (h *handler) Handle(ex policy.Exchange, next policy.Next) error {
	if h.req != nil {
		if err := h.transformRequest(ex); err != nil {
			return err
		}
	}
	if err := next(ex); err != nil {
		return err
	}
	if h.resp != nil {
		if r := ex.Response(); r != nil {
			h.transformResponse(ex, r)
		}
	}
	return nil
}

func (h *handler) transformRequest(ex policy.Exchange) error {
	s := h.req
	if s.path != nil {
		p, err := s.path.expand(ex)
		if err != nil {
			return err
		}
		ex.SetPath(p)
	}
	// Every template is read before any edit, so a value sees the request
	// as it reached this policy whatever it refers to.
	var hbuf, qbuf [8]string
	var hvals, qvals []string
	if s.headers != nil {
		hvals = s.headers.expandAll(ex, hbuf[:0])
	}
	if s.query != nil {
		qvals = s.query.expandAll(ex, qbuf[:0])
	}
	if s.headers != nil {
		s.headers.applyHeaders(ex.Header(), hvals)
	}
	if s.query != nil {
		s.query.applyQuery(ex, qvals)
	}
	if s.json != nil {
		return h.transformRequestBody(ex)
	}
	return nil
}

func (h *handler) transformRequestBody(ex policy.Exchange) error {
	if !editable(ex.Header()) {
		return nil
	}
	tooLarge := problem.TooLarge(fmt.Sprintf("the JSON body is larger than the %d bytes this route can transform", h.maxBody))
	if ex.ContentLength() > h.maxBody {
		return tooLarge // refused before a byte is read
	}
	b, err := ex.Body()
	if err != nil {
		return err
	}
	if int64(len(b)) > h.maxBody {
		return tooLarge
	}
	if len(b) == 0 {
		return nil
	}
	out, err := h.req.json.apply(b)
	if err != nil {
		return problem.BadRequest("the request body is not valid JSON")
	}
	ex.SetBody(out)
	return nil
}

func (h *handler) transformResponse(ex policy.Exchange, r policy.Response) {
	s := h.resp
	if to, ok := s.status[r.Status()]; ok {
		r.SetStatus(to)
	}
	if s.headers != nil {
		var buf [8]string
		s.headers.applyHeaders(r.Header(), s.headers.expandAll(ex, buf[:0]))
	}
	if s.json != nil && editable(r.Header()) {
		// A body over the limit, unreadable or not JSON passes through untouched.
		b, ok, err := r.Body(h.maxBody)
		if err != nil || !ok || len(b) == 0 {
			return
		}
		if out, err := s.json.apply(b); err == nil {
			r.SetBody(out)
		}
	}
}

// expandAll evaluates every set and add value before any edit, so templates
// see the request as it came in. Untemplated ops skip this entirely.
func (o *headerOps) expandAll(ex policy.Exchange, buf []string) []string {
	if !o.templated {
		return nil
	}
	for _, nv := range o.set {
		buf = append(buf, nv.val.expand(ex))
	}
	for _, nv := range o.add {
		buf = append(buf, nv.val.expand(ex))
	}
	return buf
}

// valueAt returns the expanded value i (set values first, then add values).
func (o *headerOps) valueAt(expanded []string, i int) string {
	if expanded != nil {
		return expanded[i]
	}
	if i < len(o.set) {
		return o.set[i].val.literal
	}
	return o.add[i-len(o.set)].val.literal
}

// applyHeaders edits h; expanded is expandAll's result.
func (o *headerOps) applyHeaders(h policy.Header, expanded []string) {
	for _, n := range o.remove {
		h.Del(n)
	}
	for _, r := range o.rename {
		vals := h.Values(r[0])
		if len(vals) == 0 {
			continue
		}
		vals = append([]string(nil), vals...) // Del may reuse the backing array
		h.Del(r[0])
		h.Del(r[1])
		for _, v := range vals {
			h.Add(r[1], v)
		}
	}
	for i, nv := range o.set {
		h.Set(nv.name, o.valueAt(expanded, i))
	}
	for i, nv := range o.add {
		h.Add(nv.name, o.valueAt(expanded, len(o.set)+i))
	}
}

// applyQuery edits the raw query in place, keeping the order of the
// parameters it does not touch (url.Values.Encode would sort them).
func (o *headerOps) applyQuery(ex policy.Exchange, expanded []string) {
	q := splitQuery(ex.RawQuery())
	for _, n := range o.remove {
		q = q.without(n)
	}
	for _, r := range o.rename {
		q.rename(r[0], r[1])
	}
	for i, nv := range o.set {
		q = append(q.without(nv.name), queryPair(nv.name, o.valueAt(expanded, i)))
	}
	for i, nv := range o.add {
		q = append(q, queryPair(nv.name, o.valueAt(expanded, len(o.set)+i)))
	}
	ex.SetRawQuery(q.String())
}

// query is a raw query split into its "key=value" pieces.
type query []string

func splitQuery(raw string) query {
	if raw == "" {
		return nil
	}
	return strings.Split(raw, "&")
}

func queryKey(pair string) string {
	k, _, _ := strings.Cut(pair, "=")
	if dk, err := url.QueryUnescape(k); err == nil {
		return dk
	}
	return k
}

func queryPair(name, val string) string {
	return url.QueryEscape(name) + "=" + url.QueryEscape(val)
}

func (q query) without(name string) query {
	out := q[:0]
	for _, p := range q {
		if p != "" && queryKey(p) != name {
			out = append(out, p)
		}
	}
	return out
}

func (q query) rename(from, to string) {
	for i, p := range q {
		if queryKey(p) == from {
			_, v, hasVal := strings.Cut(p, "=")
			q[i] = url.QueryEscape(to)
			if hasVal {
				q[i] += "=" + v
			}
		}
	}
}

func (q query) String() string { return strings.Join(q, "&") }

// editable reports a JSON body the policy can read: a compressed body
// (Content-Encoding other than identity) passes through untouched.
func editable(h policy.Header) bool {
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	return isJSON(h.Get("Content-Type"))
}

// isJSON accepts application/json and any +json media type.
func isJSON(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// pathTemplate is an upstream path with {param} holes filled from the route's captures.
type pathTemplate struct {
	parts []part // varNone literal or varPath
}

func compilePath(p string) (*pathTemplate, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, errors.New("must start with /")
	}
	t := &pathTemplate{}
	rest := p
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			if strings.IndexByte(rest, '}') >= 0 {
				return nil, errors.New(`"}" without a matching "{"`)
			}
			t.parts = append(t.parts, part{text: rest})
			break
		}
		if open > 0 {
			t.parts = append(t.parts, part{text: rest[:open]})
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, errors.New(`"{" without a closing "}"`)
		}
		name := strings.TrimSuffix(rest[open+1:open+end], "...")
		if name == "" || strings.ContainsAny(name, "{/ ") {
			return nil, fmt.Errorf("bad parameter %q", rest[open:open+end+1])
		}
		t.parts = append(t.parts, part{kind: varPath, text: name})
		rest = rest[open+end+1:]
	}
	return t, nil
}

func (t *pathTemplate) expand(ex policy.Exchange) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.kind == varNone {
			b.WriteString(p.text)
			continue
		}
		v := ex.Param(p.text)
		if hasControl(v) || hasDotSegment(v) {
			return "", problem.BadRequest(fmt.Sprintf("path parameter %q has a value this route cannot forward", p.text))
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// hasDotSegment refuses "." and ".." segments a captured value could use to
// climb out of the rewritten prefix.
func hasDotSegment(v string) bool {
	for _, seg := range strings.Split(v, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
