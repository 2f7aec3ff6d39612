package server

import (
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// fastReqHeader adapts fasthttp's request header to policy.Header. With
// names set, a lookup of a name whose bit is clear answers "absent" without
// asking fasthttp, whose Peek copies and case-normalises the name on every
// call; most lookups on the request path (tracing, auth, CORS, limits) are
// of headers the request does not carry.
//
// With id set, the gateway's identity headers (X-Consumer-ID, -Name, -Plan,
// X-Anonymous-Consumer) live in id, not in fasthttp's header: the edge has
// removed any the client sent, authentication sets them, a later policy may
// read, change or remove them, and the upstream request carries them as
// lines written with its head (upstream.HeadLines), which costs a fraction
// of fasthttp's Set.
type fastReqHeader struct {
	h     *fasthttp.RequestHeader
	names *headerNames     // nil: no summary, always ask fasthttp
	id    *identityHeaders // nil: identity headers are fasthttp's too
}

func (a fastReqHeader) absent(n string) bool { return a.names != nil && !a.names.mayHave(n) }

// peek, and so Get and Lend, and Del look names up in their cached
// canonical form (canonicalName), so fasthttp does not copy and
// case-normalise the name on each call (~200 instructions for X-API-Key).
func (a fastReqHeader) peek(n string) []byte {
	if a.id != nil {
		if i := identitySlot(n); i >= 0 {
			return s2b(a.id.v[i])
		}
	}
	if a.absent(n) {
		return nil
	}
	return a.h.PeekCanonical(canonicalName(n))
}

func (a fastReqHeader) Get(n string) string { return string(a.peek(n)) } // a copy: the caller may keep it

// Lend is Get without the copy: the string views fasthttp's storage and
// stays valid only until the header is next changed (policy.Lend).
func (a fastReqHeader) Lend(n string) string {
	return b2s(a.peek(n))
}
func (a fastReqHeader) Values(n string) []string {
	if a.id != nil {
		if i := identitySlot(n); i >= 0 {
			if a.id.v[i] == "" {
				return nil
			}
			return []string{a.id.v[i]}
		}
	}
	if a.absent(n) {
		return nil
	}
	var out []string
	for _, v := range a.h.PeekAll(n) {
		out = append(out, string(v))
	}
	return out
}
func (a fastReqHeader) Set(n, v string) {
	if a.id != nil {
		if i := identitySlot(n); i >= 0 {
			a.id.set(i, v)
			return
		}
	}
	a.names.add(n)
	a.h.SetCanonical(canonicalName(n), s2b(v))
}
func (a fastReqHeader) Add(n, v string) {
	if a.id != nil {
		if i := identitySlot(n); i >= 0 {
			if old := a.id.v[i]; old != "" {
				v = old + ", " + v // one field line, as a list
			}
			a.id.set(i, v)
			return
		}
	}
	a.names.add(n)
	a.h.Add(n, v)
}
func (a fastReqHeader) Del(n string) {
	if a.id != nil {
		if i := identitySlot(n); i >= 0 {
			a.id.v[i] = ""
			return
		}
	}
	if a.absent(n) {
		return
	}
	// DelBytes with normalising off takes the name as given; the flag is
	// the header's own and is restored at once.
	was := a.h.DisableNormalizing()
	a.h.DelBytes(canonicalName(n))
	if !was {
		a.h.EnableNormalizing()
	}
}
func (a fastReqHeader) Range(f func(n, v string) bool) {
	for k, v := range a.h.All() {
		if !f(string(k), string(v)) {
			return
		}
	}
	if a.id != nil {
		for i, v := range a.id.v {
			if v != "" && !f(identityNames[i], v) {
				return
			}
		}
	}
}

// identityHeaders are the gateway's identity headers of one request
// (fastReqHeader); "" is absent (an empty value is never sent).
type identityHeaders struct {
	v   [len(identityNames)]string
	buf []byte // copies of the values, kept across requests
}

// identityNames are the names as the upstream sees them: fasthttp's normal
// form, which is what these headers were sent as before they moved here.
var identityNames = [...]string{"X-Consumer-Id", "X-Consumer-Name", "X-Consumer-Plan", "X-Anonymous-Consumer"}

// identitySlot is the index of name in identityNames (any case), or -1.
// It runs on every header lookup, so length and first bytes decide first.
func identitySlot(n string) int {
	if len(n) < len("X-Consumer-Id") || n[1] != '-' || n[0]|0x20 != 'x' || (n[2]|0x20 != 'c' && n[2]|0x20 != 'a') {
		return -1
	}
	switch len(n) {
	case len("X-Consumer-Id"):
		if strings.EqualFold(n, identityNames[0]) {
			return 0
		}
	case len("X-Consumer-Name"):
		if strings.EqualFold(n, identityNames[1]) {
			return 1
		}
		if strings.EqualFold(n, identityNames[2]) {
			return 2
		}
	case len("X-Anonymous-Consumer"):
		if strings.EqualFold(n, identityNames[3]) {
			return 3
		}
	}
	return -1
}

// set keeps a copy of v: a policy may pass a string that views memory it
// reuses (policy.Lend). The copies go in one buffer kept across requests;
// a value set again takes new room, so a view handed out before stays.
func (id *identityHeaders) set(i int, v string) {
	if v == "" {
		id.v[i] = ""
		return
	}
	if cap(id.buf)-len(id.buf) < len(v) {
		// A new buffer: the old one may still be viewed by values set
		// earlier in this request.
		id.buf = make([]byte, 0, max(256, 2*len(v)))
	}
	at := len(id.buf)
	id.buf = append(id.buf, v...)
	id.v[i] = b2s(id.buf[at:])
}

// reset forgets the values, keeping the buffer when no value of the
// request that ends can still be viewed: the exchange goes back to its pool
// and nothing keeps a view of a header past its request (policy.Lend).
func (id *identityHeaders) reset() {
	id.v = [len(identityNames)]string{}
	if cap(id.buf) > 4<<10 {
		id.buf = nil
	}
	id.buf = id.buf[:0]
}

// render adds the identity headers that are set to lines.
func (id *identityHeaders) render(lines *upstream.HeadLines) {
	for i, v := range id.v {
		if v != "" {
			upstream.Add(lines, identityNames[i], v)
		}
	}
}

// SetIdentity is runtime.SetIdentityHeaders without the name lookups and
// copies: a consumer's fields never change (the credentials cache replaces
// a changed consumer), so the slots view them.
func (x *fastExchange) SetIdentity(c *policy.Consumer) {
	id := &x.ident
	id.v[0], id.v[1], id.v[2], id.v[3] = c.ID, c.Name, c.Plan, ""
	if c.Anonymous {
		id.v[3] = "true"
	}
}

// fastRespHeader adapts fasthttp's response header to policy.Header.
type fastRespHeader struct{ h *fasthttp.ResponseHeader }

func (a fastRespHeader) Get(n string) string { return string(a.h.Peek(n)) }
func (a fastRespHeader) Values(n string) []string {
	var out []string
	for _, v := range a.h.PeekAll(n) {
		out = append(out, string(v))
	}
	return out
}
func (a fastRespHeader) Set(n, v string) { a.h.Set(n, v) }
func (a fastRespHeader) Add(n, v string) { a.h.Add(n, v) }
func (a fastRespHeader) Del(n string)    { a.h.Del(n) }
func (a fastRespHeader) Range(f func(n, v string) bool) {
	for k, v := range a.h.All() {
		if !f(string(k), string(v)) {
			return
		}
	}
}

// headerNames summarises a request's header names in 64 bits (a one-hash
// Bloom filter): a name whose bit is clear is certainly absent. Bits are
// only ever set while a request is served (a deleted header keeps its bit,
// which just means one real lookup), and every path that adds a request
// header sets its bit: the edge's scan, fastReqHeader.Set/Add and the
// edge's own SetCanonical calls. Headers fasthttp keeps outside its header
// list, and may set by itself (Host, Content-Length...), are always "maybe".
type headerNames uint64

const allHeaderNames = ^headerNames(0)

var specialHeaderNames = func() headerNames {
	var n headerNames
	for _, k := range []string{"Host", "Content-Type", "Content-Length", "User-Agent", "Cookie",
		"Connection", "Transfer-Encoding", "Trailer"} {
		n |= headerBit(k)
	}
	return n
}()

// headerBit hashes a name case-insensitively (length, first, last and
// next-to-last byte). The constants give each of ~25 common response names
// (the RateLimit and X-Quota fields, X-Request-ID, Content-*, Date...) and
// each of ~25 common request names its own bit (TestHeaderBitsApart),
// so a header the gateway adds is rarely taken for one already there.
func headerBit[T string | []byte](name T) headerNames {
	n := len(name)
	if n == 0 {
		return 1
	}
	h := uint(n)*11 + uint(name[0]|0x20)*3 + uint(name[n-1]|0x20)*13 + uint(name[max(n-2, 0)]|0x20)*23
	return 1 << (h & 63)
}

func (s *headerNames) mayHave(name string) bool { return *s&headerBit(name) != 0 }

func (s *headerNames) add(name string) {
	if s != nil {
		*s |= headerBit(name)
	}
}

// canonicalNames caches fasthttp's normal form of the request header names
// policies use (X-Consumer-ID, X-API-Key, transform's headers...), so Get,
// Set and Del skip fasthttp's per-call copy and case normalisation of the
// name.
var canonicalNames nameCache[[]byte]

// canonicalName is the name as fasthttp's RequestHeader.Set would store it.
func canonicalName(n string) []byte {
	return canonicalNames.get(n, normalizedName)
}

func normalizedName(n string) []byte { return fasthttp.AppendNormalizedHeaderKey(nil, n) }
