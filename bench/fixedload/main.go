// Command fixedload sends exactly -n GET requests over -c keep-alive
// connections and exits: a fixed amount of work, so a proxy's instruction
// count per request can be read off a profiler that counts instructions
// (bench/instructions.sh), which wall-clock load tools cannot give.
//
//	go run ./bench/fixedload -addr 127.0.0.1:9103 -n 40000 -path /items/1
//
// A connection closed by the server (nginx's keepalive_requests) is
// re-dialled; any status other than 200 is counted and fails the run.
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
	"sync/atomic"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9103", "host:port to load")
	n := flag.Int64("n", 10000, "requests to send")
	c := flag.Int("c", 16, "connections")
	path := flag.String("path", "/items/1", "request path")
	header := flag.String("H", "", `extra request header, "Name: value"`)
	flag.Parse()
	extra := ""
	if *header != "" {
		extra = *header + "\r\n"
	}
	req := []byte("GET " + *path + " HTTP/1.1\r\nHost: " + *addr + "\r\n" + extra + "\r\n")
	var left, bad atomic.Int64
	left.Store(*n)
	var wg sync.WaitGroup
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var conn net.Conn
			var br *bufio.Reader
			for left.Add(-1) >= 0 {
				for attempt := 0; ; attempt++ {
					if conn == nil {
						var err error
						if conn, err = net.Dial("tcp", *addr); err != nil {
							fail(err)
						}
						br = bufio.NewReader(conn)
					}
					status, closed, err := roundTrip(conn, br, req)
					if err == nil {
						if status != http.StatusOK {
							bad.Add(1)
						}
						if closed {
							conn.Close()
							conn = nil
						}
						break
					}
					conn.Close()
					conn = nil
					if attempt == 3 {
						fail(err)
					}
				}
			}
			if conn != nil {
				conn.Close()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("%d requests, %d not 200\n", *n, bad.Load())
	if bad.Load() > 0 {
		os.Exit(1)
	}
}

// roundTrip sends one request and reads its response; closed reports that
// the server ends the connection after it.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) (status int, closed bool, err error) {
	if _, err := conn.Write(req); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Close, err
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "fixedload:", err)
	os.Exit(1)
}
