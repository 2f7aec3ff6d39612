// Command fastbaseline is the floor tollgate's HTTP/1.1 path is measured
// against: a bare fasthttp server that forwards every request with a
// fasthttp HostClient, with none of a gateway's work (no routing, edge
// checks, observers or X-Forwarded-*). With -timeouts it sets the same kind
// of read, idle and write deadlines tollgate must set (SPEC §8).
//
//	GOMAXPROCS=1 taskset -c 0 go run ./bench/fastbaseline -addr 127.0.0.1:9110 -timeouts
//	taskset -c 1 wrk -t2 -c64 -d10s http://127.0.0.1:9110/
//
// Not part of the product and not run by bench/run.sh; see docs/performance.md.
package main

import (
	"flag"
	"log"
	"math"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9110", "listen address")
	up := flag.String("upstream", "127.0.0.1:9101", "upstream host:port")
	stream := flag.Bool("stream", true, "stream response bodies (as tollgate does)")
	timeouts := flag.Bool("timeouts", false, "set read/idle/write deadlines")
	flag.Parse()
	hc := &fasthttp.HostClient{Addr: *up, MaxConns: 512, StreamResponseBody: *stream, ReadBufferSize: 16 << 10}
	s := &fasthttp.Server{
		ReadBufferSize:    4 << 10,
		StreamRequestBody: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Request.Header.Set("X-Forwarded-For", ctx.RemoteIP().String())
			if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.Error("bad gateway", fasthttp.StatusBadGateway)
			}
		},
	}
	if *timeouts {
		s.ReadTimeout, s.IdleTimeout, s.WriteTimeout = 10*time.Second, 60*time.Second, 60*time.Second
		s.HeaderReceived = func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: 60 * time.Second, MaxRequestBodySize: min(1<<40, math.MaxInt)}
		}
		hc.WriteTimeout = 60 * time.Second
	}
	log.Fatal(s.ListenAndServe(*addr))
}
