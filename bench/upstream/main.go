// Command upstream is the load benchmark's origin: a minimal fasthttp server
// answering every request with a small JSON body, so the proxy under test,
// not the origin, is what the benchmark measures.
package main

import (
	"flag"
	"log"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9101", "listen address")
	flag.Parse()
	body := []byte(`{"id":42,"name":"widget","price":9.99,"tags":["a","b"]}`)
	h := func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("application/json")
		ctx.SetBody(body)
	}
	log.Fatal((&fasthttp.Server{Handler: h, NoDefaultServerHeader: true}).ListenAndServe(*addr))
}
