package server

import (
	"bufio"
	"io"
	"slices"
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

// With ReduceMemoryUsage fasthttp reads a new connection's first byte on
// its own, then fills its buffer behind that byte (firstByteReader): the
// head replayed must still start with that byte.
func TestEdgeConnFindsTheHeadAfterAFirstByteRead(t *testing.T) {
	const size = 64
	big := "GET /big HTTP/1.1\r\nX: " + strings.Repeat("y", 3*size) + "\r\n\r\n"
	for _, chunk := range []int{1 << 10, 1, 7} {
		ec := &edgeConn{r: &chunked{r: strings.NewReader(big), n: chunk}, bufSize: size}
		var one [1]byte
		if n, err := ec.Read(one[:]); n != 1 || err != nil {
			t.Fatalf("first byte: %d %v", n, err)
		}
		br := bufio.NewReaderSize(&firstByte{c: ec, b: one[0]}, size)
		if _, err := br.Peek(size + 1); err != bufio.ErrBufferFull {
			t.Fatalf("peek error %v, want ErrBufferFull", err)
		}
		if got, want := string(ec.head()), big[:size]; got != want {
			t.Fatalf("chunk %d: head = %q\nwant   %q", chunk, got, want)
		}
	}
}

// firstByte is fasthttp's firstByteReader: the byte read on its own, then
// the connection, into the rest of the caller's slice.
type firstByte struct {
	c    io.Reader
	b    byte
	done bool
}

func (f *firstByte) Read(p []byte) (int, error) {
	if f.done || len(p) == 0 {
		return f.c.Read(p)
	}
	p[0], f.done = f.b, true
	n, err := f.c.Read(p[1:])
	return n + 1, err
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
	if ec.spill(0) != nil {
		t.Fatal("spill succeeded without a full head in the buffer")
	}
}

// A connection may move up twice (small, middle, large buffer): each front
// end replays the head the one below could not hold, and after the moves
// the last reader sees the whole stream, exactly once, in order.
func TestEdgeConnSpillsTwice(t *testing.T) {
	const small, mid = 64, 256
	wire := "GET /a HTTP/1.1\r\n\r\n" + "GET /big HTTP/1.1\r\nX: " + strings.Repeat("y", 1000) + "\r\n\r\nGET /after HTTP/1.1\r\n\r\n"
	first := len("GET /a HTTP/1.1\r\n\r\n")
	for _, chunk := range []int{1 << 12, 1, 13} {
		ec := &edgeConn{r: &chunked{r: strings.NewReader(wire), n: chunk}, bufSize: small}
		br := bufio.NewReaderSize(ec, small)
		if _, err := br.Discard(first); err != nil { // the first request, served on the small buffer
			t.Fatal(err)
		}
		if _, err := br.Peek(small + 1); err != bufio.ErrBufferFull {
			t.Fatalf("small peek error %v, want ErrBufferFull", err)
		}
		c := ec.spill(mid)
		if c == nil {
			t.Fatal("no spill from the small buffer")
		}
		if n, err := ec.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Fatalf("the detached connection read %d, %v; want 0, EOF", n, err)
		}
		br = bufio.NewReaderSize(c, mid)
		if _, err := br.Peek(mid + 1); err != bufio.ErrBufferFull {
			t.Fatalf("middle peek error %v, want ErrBufferFull", err)
		}
		last := asEdgeConn(c).spill(0)
		if last == nil {
			t.Fatal("no spill from the middle buffer")
		}
		if again := asEdgeConn(last).spill(0); again != nil {
			t.Fatal("the last front end's connection spilled")
		}
		rest, err := io.ReadAll(bufio.NewReaderSize(last, 2048))
		if err != nil {
			t.Fatal(err)
		}
		if want := wire[first:]; string(rest) != want {
			t.Fatalf("chunk %d: the last front end read %q\nwant %q", chunk, rest, want)
		}
	}
}

func TestBufferTiers(t *testing.T) {
	for _, tc := range []struct {
		max  int
		want []int
	}{
		{64 << 10, []int{smallReadBuffer, midReadBuffer, 64 << 10}},
		{midReadBuffer, []int{smallReadBuffer, midReadBuffer}},
		{4 << 10, []int{smallReadBuffer, 4 << 10}},
		{smallReadBuffer, []int{smallReadBuffer}},
		{1 << 10, []int{1 << 10}},
	} {
		if got := bufferTiers(tc.max); !slices.Equal(got, tc.want) {
			t.Errorf("bufferTiers(%d) = %v, want %v", tc.max, got, tc.want)
		}
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
