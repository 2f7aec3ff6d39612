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
// With own set, the fields the gateway itself puts on the request (the
// identity headers X-Consumer-ID, -Name, -Plan, X-Anonymous-Consumer, and
// a request id it generated) live in own, not in fasthttp's header, and go
// to the upstream as lines written with the request head
// (upstream.HeadLines), at a fraction of what fasthttp's Set costs. Through
// the view they read, change and disappear like any header: a name's value
// in own wins, an empty one falls back to fasthttp's header (which holds a
// client's sane X-Request-ID; the edge has removed client-sent identity
// headers), and setting one removes the name from fasthttp's header.
type fastReqHeader struct {
	h     *fasthttp.RequestHeader
	names *headerNames // nil: no summary, always ask fasthttp
	own   *ownHeaders  // nil: every name is fasthttp's
}

func (a fastReqHeader) absent(n string) bool { return a.names != nil && !a.names.mayHave(n) }

// slot is n's index in own, or -1.
func (a fastReqHeader) slot(n string) int {
	if a.own == nil {
		return -1
	}
	return ownSlot(n)
}

// peek, and so Get and Lend, and Del look names up in their cached
// canonical form (canonicalName), so fasthttp does not copy and
// case-normalise the name on each call (~200 instructions for X-API-Key).
func (a fastReqHeader) peek(n string) []byte {
	if i := a.slot(n); i >= 0 && a.own.v[i] != "" {
		return s2b(a.own.v[i])
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
	if i := a.slot(n); i >= 0 && a.own.v[i] != "" {
		return []string{a.own.v[i]}
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
	if i := a.slot(n); i >= 0 {
		a.delFast(n)
		a.own.set(i, v)
		return
	}
	a.names.add(n)
	a.h.SetCanonical(canonicalName(n), s2b(v))
}
func (a fastReqHeader) Add(n, v string) {
	if i := a.slot(n); i >= 0 {
		if old := a.Values(n); len(old) > 0 {
			v = strings.Join(append(old, v), ", ") // one field line, as a list
		}
		a.Set(n, v)
		return
	}
	a.names.add(n)
	a.h.Add(n, v)
}
func (a fastReqHeader) Del(n string) {
	if i := a.slot(n); i >= 0 {
		a.own.v[i] = ""
	}
	a.delFast(n)
}

// delFast removes n from fasthttp's header.
func (a fastReqHeader) delFast(n string) {
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
	if a.own != nil {
		for i, v := range a.own.v {
			if v != "" && !f(ownNames[i], v) {
				return
			}
		}
	}
}

// ownHeaders are the fields the gateway sets on one request
// (fastReqHeader); "" is unset (an empty value is never sent).
type ownHeaders struct {
	v   [len(ownNames)]string
	buf []byte // copies of values set through the view, kept across requests
}

// ownNames are the names as the upstream sees them: fasthttp's normal form,
// which is what these fields were sent as before they moved here.
var ownNames = [...]string{"X-Consumer-Id", "X-Consumer-Name", "X-Consumer-Plan", "X-Anonymous-Consumer", "X-Request-Id"}

// The slots of ownNames.
const (
	slotConsumerID = iota
	slotConsumerName
	slotConsumerPlan
	slotAnonymous
	slotRequestID
)

// ownSlot is the index of name in ownNames (any case), or -1. It runs on
// every header lookup, so length and first bytes decide first.
func ownSlot(n string) int {
	if len(n) < len("X-Request-Id") || n[1] != '-' || n[0]|0x20 != 'x' {
		return -1
	}
	switch n[2] | 0x20 {
	case 'c':
		switch len(n) {
		case len("X-Consumer-Id"):
			if strings.EqualFold(n, ownNames[slotConsumerID]) {
				return slotConsumerID
			}
		case len("X-Consumer-Name"):
			if strings.EqualFold(n, ownNames[slotConsumerName]) {
				return slotConsumerName
			}
			if strings.EqualFold(n, ownNames[slotConsumerPlan]) {
				return slotConsumerPlan
			}
		}
	case 'a':
		if strings.EqualFold(n, ownNames[slotAnonymous]) {
			return slotAnonymous
		}
	case 'r':
		if strings.EqualFold(n, ownNames[slotRequestID]) {
			return slotRequestID
		}
	}
	return -1
}

// set keeps a copy of v: a policy may pass a string that views memory it
// reuses (policy.Lend). The copies go in one buffer kept across requests;
// a value set again takes new room, so a view handed out before stays.
func (o *ownHeaders) set(i int, v string) {
	if v == "" {
		o.v[i] = ""
		return
	}
	if cap(o.buf)-len(o.buf) < len(v) {
		// A new buffer: the old one may still be viewed by values set
		// earlier in this request.
		o.buf = make([]byte, 0, max(256, 2*len(v)))
	}
	at := len(o.buf)
	o.buf = append(o.buf, v...)
	o.v[i] = b2s(o.buf[at:])
}

// reset forgets the values, keeping the buffer: the exchange goes back to
// its pool, and nothing keeps a view of a header past its request
// (policy.Lend).
func (o *ownHeaders) reset() {
	o.v = [len(ownNames)]string{}
	if cap(o.buf) > 4<<10 {
		o.buf = nil
	}
	o.buf = o.buf[:0]
}

// render adds the fields that are set to lines.
func (o *ownHeaders) render(lines *upstream.HeadLines) {
	for i, v := range o.v {
		if v != "" {
			upstream.Add(lines, ownNames[i], v)
		}
	}
}

// SetIdentity is runtime.SetIdentityHeaders without the name lookups and
// copies: a consumer's fields never change (the credentials cache replaces
// a changed consumer), so the slots view them. fasthttp's header holds no
// identity header (the edge removed the client's).
func (x *fastExchange) SetIdentity(c *policy.Consumer) {
	o := &x.own
	o.v[slotConsumerID], o.v[slotConsumerName], o.v[slotConsumerPlan], o.v[slotAnonymous] = c.ID, c.Name, c.Plan, ""
	if c.Anonymous {
		o.v[slotAnonymous] = "true"
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
