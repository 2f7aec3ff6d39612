package server

import (
	"github.com/valyala/fasthttp"
)

// fastReqHeader adapts fasthttp's request header to policy.Header.
type fastReqHeader struct{ h *fasthttp.RequestHeader }

func (a fastReqHeader) Get(n string) string { return string(a.h.Peek(n)) }
func (a fastReqHeader) Values(n string) []string {
	var out []string
	for _, v := range a.h.PeekAll(n) {
		out = append(out, string(v))
	}
	return out
}
func (a fastReqHeader) Set(n, v string) { a.h.Set(n, v) }
func (a fastReqHeader) Add(n, v string) { a.h.Add(n, v) }
func (a fastReqHeader) Del(n string)    { a.h.Del(n) }
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
