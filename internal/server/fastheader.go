package server

import (
	"github.com/valyala/fasthttp"
)

// fastReqHeader adapts fasthttp's request header to policy.Header. With
// names set, a lookup of a name whose bit is clear answers "absent" without
// asking fasthttp, whose Peek copies and case-normalises the name on every
// call; most lookups on the request path (tracing, auth, CORS, limits) are
// of headers the request does not carry.
type fastReqHeader struct {
	h     *fasthttp.RequestHeader
	names *headerNames // nil: no summary, always ask fasthttp
}

func (a fastReqHeader) absent(n string) bool { return a.names != nil && !a.names.mayHave(n) }

// peek, and so Get and Lend, and Del look names up in their cached
// canonical form (canonicalName), so fasthttp does not copy and
// case-normalise the name on each call (~200 instructions for X-API-Key).
func (a fastReqHeader) peek(n string) []byte {
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
	a.names.add(n)
	a.h.SetCanonical(canonicalName(n), s2b(v))
}
func (a fastReqHeader) Add(n, v string) { a.names.add(n); a.h.Add(n, v) }
func (a fastReqHeader) Del(n string) {
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
