// Command holdconns opens N keep-alive connections to an HTTP/1.1 address,
// sends one GET on each and reads the answer, then holds them all open
// (idle) for -hold, so the benchmark can read the gateway's memory with N
// idle client connections. It prints "ready" once every connection is up.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9103", "gateway address")
	n := flag.Int("n", 1000, "connections")
	path := flag.String("path", "/", "request path")
	hold := flag.Duration("hold", 5*time.Second, "how long to hold the connections open")
	flag.Parse()

	conns := make([]net.Conn, *n)
	var wg sync.WaitGroup
	errs := make(chan error, *n)
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := net.Dial("tcp", *addr)
			if err != nil {
				errs <- err
				return
			}
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", *path)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				errs <- err
				c.Close()
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			conns[i] = c
		}(i)
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed == 0 {
			fmt.Fprintln(os.Stderr, "holdconns:", err)
		}
		failed++
	}
	fmt.Printf("ready %d connections (%d failed)\n", *n-failed, failed)
	time.Sleep(*hold)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
