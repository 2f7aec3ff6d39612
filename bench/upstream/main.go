// Command upstream is the load benchmark's origin: a minimal fasthttp server
// answering every request with a small JSON body, so the proxy under test,
// not the origin, is what the benchmark measures.
package main

import (
	"bytes"
	"flag"
	"log"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address")
	slow := flag.Duration("slow", 5*time.Millisecond, "latency of paths ending in /slow")
	flag.Parse()
	body := []byte(`{"id":42,"name":"widget","price":9.99,"tags":["a","b"]}`)
	h := func(ctx *fasthttp.RequestCtx) {
		if bytes.HasSuffix(ctx.Path(), []byte("/slow")) {
			time.Sleep(*slow) // a service that does some work: what a cache saves
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}
	log.Fatal((&fasthttp.Server{Handler: h, NoDefaultServerHeader: true}).ListenAndServe(*addr))
}
