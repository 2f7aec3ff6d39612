package server

import (
	"bufio"
	"io"
	"strings"
	"testing"
)

// edgeConn finds a head that overflowed fasthttp's buffer in that buffer,
// whatever the read sizes and wherever the head started in it (after
// earlier requests on the connection, or pipelined behind one).
func TestEdgeConnFindsTheOverflowingHead(t *testing.T) {
	const size = 64 // the buffer fasthttp would have (smallReadBuffer in production)
	big := "GET /big HTTP/1.1\r\nX: " + strings.Repeat("y", 3*size) + "\r\n\r\n"
	small := "GET /s HTTP/1.1\r\n\r\n"
	for _, tc := range []struct {
		name   string
		before string // requests fully consumed before the large head
		chunk  int    // bytes the peer delivers per read
	}{
		{"first request, one read", "", 1 << 10},
		{"first request, byte by byte", "", 1},
		{"after a request, small reads", small, 5},
		{"pipelined behind a request", small, 1 << 10},
		{"after two requests, odd reads", small + small, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wire := tc.before + big
			ec := &edgeConn{r: &chunked{r: strings.NewReader(wire), n: tc.chunk}, bufSize: size}
			br := bufio.NewReaderSize(ec, size)
			// Consume the earlier requests the way a parser would.
			if _, err := br.Discard(len(tc.before)); err != nil {
				t.Fatal(err)
			}
			// Peek past the buffer, as fasthttp does for a head that does not fit.
			if _, err := br.Peek(size + 1); err != bufio.ErrBufferFull {
				t.Fatalf("peek error %v, want ErrBufferFull", err)
			}
			got := ec.head()
			if want := big[:size]; string(got) != want {
				t.Fatalf("head = %q\nwant   %q", got, want)
			}
		})
	}
}

// When the last read did not fill the buffer (it went elsewhere, e.g. a
// body copied into the caller's slice), there is nothing to replay.
func TestEdgeConnNoHeadWhenTheBufferIsNotFull(t *testing.T) {
	ec := &edgeConn{r: strings.NewReader(strings.Repeat("z", 200)), bufSize: 64}
	br := bufio.NewReaderSize(ec, 64)
	if _, err := br.Peek(10); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(br, make([]byte, 150)); err != nil {
		t.Fatal(err)
	}
	if h := ec.head(); h != nil {
		t.Fatalf("head = %q, want none", h)
	}
	if ec.spill() != nil {
		t.Fatal("spill succeeded without a full head in the buffer")
	}
}

// chunked delivers at most n bytes per Read, like a slow network.
type chunked struct {
	r io.Reader
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}
