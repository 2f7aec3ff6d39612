package app_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Request heads larger than the HTTP/1.1 front end's small per-connection
// buffer (2 KiB) move their connection up to the middle front end (8 KiB),
// and from there to the large one (internal/server spill.go). Whatever the
// size up to max_header_bytes (64 KiB), the request must arrive intact,
// keep-alive and pipelining must keep working across each move, TLS must
// stay TLS, and past the limit the answer is 431.
func TestLargeRequestHeads(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.URL.Path+" big="+strconv.Itoa(len(r.Header.Get("X-Big")))+
			" proto="+r.Header.Get("X-Forwarded-Proto")+" body="+string(body))
	})
	g := startTLSGateway(t, up)
	plainAddr := strings.TrimPrefix(g.url, "http://")
	big := func(n int) string { return "X-Big: " + strings.Repeat("b", n) + "\r\n" }
	get := func(path, extra string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: a\r\n" + extra + "\r\n"
	}
	post := func(path, extra, body string) string {
		return "POST " + path + " HTTP/1.1\r\nHost: a\r\n" + extra + "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	type exchange struct{ send, want string } // want: status code, or status code + " " + body
	cases := []struct {
		name  string
		steps [][]exchange // each inner list is written in one go (pipelined)
	}{
		{"head just over the small buffer", [][]exchange{{{get("/a", big(2100)), "200 /a big=2100 proto=%s body="}}}},
		{"head within the middle buffer", [][]exchange{{{get("/a", big(5000)), "200 /a big=5000 proto=%s body="}}}},
		{"head just over the middle buffer", [][]exchange{{{get("/a", big(8200)), "200 /a big=8200 proto=%s body="}}}},
		{"head near the limit", [][]exchange{{{get("/a", big(60000)), "200 /a big=60000 proto=%s body="}}}},
		{"head over the limit", [][]exchange{{{get("/a", big(70000)), "431"}}}},
		{"keep-alive: small, large, small", [][]exchange{
			{{get("/1", ""), "200 /1 big=0 proto=%s body="}},
			{{get("/2", big(20000)), "200 /2 big=20000 proto=%s body="}},
			{{get("/3", ""), "200 /3 big=0 proto=%s body="}},
		}},
		{"keep-alive: small, middling, small, large, small", [][]exchange{
			{{get("/1", ""), "200 /1 big=0 proto=%s body="}},
			{{get("/2", big(3000)), "200 /2 big=3000 proto=%s body="}},
			{{get("/3", ""), "200 /3 big=0 proto=%s body="}},
			{{get("/4", big(30000)), "200 /4 big=30000 proto=%s body="}},
			{{get("/5", ""), "200 /5 big=0 proto=%s body="}},
		}},
		{"pipelined: small, middling, large, small", [][]exchange{{
			{get("/1", ""), "200 /1 big=0 proto=%s body="},
			{get("/2", big(3000)), "200 /2 big=3000 proto=%s body="},
			{get("/3", big(40000)), "200 /3 big=40000 proto=%s body="},
			{get("/4", ""), "200 /4 big=0 proto=%s body="},
		}}},
		{"middling head with a body, then over the limit", [][]exchange{
			{{post("/p", big(4000), "mid body"), "200 /p big=4000 proto=%s body=mid body"}},
			{{get("/q", big(70000)), "431"}},
		}},
		{"pipelined: small then large then small", [][]exchange{{
			{get("/1", ""), "200 /1 big=0 proto=%s body="},
			{get("/2", big(9000)), "200 /2 big=9000 proto=%s body="},
			{get("/3", ""), "200 /3 big=0 proto=%s body="},
		}}},
		{"large head with a body", [][]exchange{{{post("/p", big(12000), "hello body"), "200 /p big=12000 proto=%s body=hello body"}}}},
	}
	for _, transport := range []string{"http", "https"} {
		for _, tc := range cases {
			t.Run(transport+"/"+tc.name, func(t *testing.T) {
				var c net.Conn
				var err error
				if transport == "http" {
					c, err = net.Dial("tcp", plainAddr)
				} else {
					c, err = tls.Dial("tcp", tlsAddr(t, g), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
				}
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				for _, batch := range tc.steps {
					var all string
					for _, ex := range batch {
						all += ex.send
					}
					if _, err := io.WriteString(c, all); err != nil {
						t.Fatal(err)
					}
					for _, ex := range batch {
						resp, err := http.ReadResponse(br, nil)
						if err != nil {
							t.Fatalf("reading the response: %v", err)
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						got := strconv.Itoa(resp.StatusCode)
						want := ex.want
						if strings.Contains(want, " ") {
							got += " " + string(b)
							want = strings.Replace(want, "%s", transport, 1)
						}
						if got != want {
							t.Fatalf("got %.200q, want %.200q", got, want)
						}
					}
				}
			})
		}
	}
}
