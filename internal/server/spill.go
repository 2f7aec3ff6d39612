package server

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/tollgate-dev/tollgate/internal/deadline"
)

// Per-connection memory on the HTTP/1.1 front end.
//
// fasthttp needs a request's whole head inside one read buffer, and keeps
// that buffer for the life of the connection (request bodies stream, so it
// cannot hand it back between requests). Sizing it to max_header_bytes
// (64 KiB by default, SPEC §8) costs 64 MiB at 1,000 connections for heads
// that are almost always under 2 KiB.
//
// So connections start on a front end with a small buffer
// (smallReadBuffer). When a head does not fit, fasthttp's buffer is full of
// exactly that head's first bytes, unconsumed; the connection is then
// detached from its front end and re-served, from the start of that head,
// by the next front end up, whose buffer is larger: midReadBuffer, then
// max_header_bytes (bufferTiers). All run the same handler, so nothing else
// differs; only a connection with a large head pays for a large buffer, and
// one with a middling head (a long token, a few cookies) for a middling one.
// nginx works alike: 1 KiB per connection for the head, 8 KiB buffers when
// it does not fit (client_header_buffer_size, large_client_header_buffers).
//
// The head's first bytes are read back from fasthttp's own buffer, which
// is never copied on the way: bufio hands Read its whole buffer whenever the
// buffer is empty (so edgeConn learns where it is), and the read that fills
// it to the brim is the last one before fasthttp gives up on the head.
const (
	smallReadBuffer = 2 << 10
	midReadBuffer   = 8 << 10
)

// bufferTiers returns the front ends' read buffer sizes, smallest first,
// for request heads of up to max bytes.
func bufferTiers(max int) []int {
	var sizes []int
	for _, n := range []int{smallReadBuffer, midReadBuffer} {
		if n < max {
			sizes = append(sizes, n)
		}
	}
	return append(sizes, max)
}

// edgeConn is an accepted HTTP/1.1 connection as fasthttp sees it.
type edgeConn struct {
	net.Conn
	r io.Reader // the bytes read while sniffing, then the connection

	bufSize int    // fasthttp's read buffer size (0: no spill)
	buf     []byte // the last whole bufSize buffer Read was handed, less pre
	pre     []byte // the byte before buf in fasthttp's buffer, if any (below)
	last    []byte // what the last Read filled
	lone    byte   // the byte of the last Read when it was a one-byte read
	hadLone bool

	// detached: the connection now belongs to the next front end up; the
	// one below's remaining writes, deadlines and Close are ignored.
	detached atomic.Bool

	// The peer's address and its text (X-Forwarded-For), worked out on the
	// connection's first request instead of on every request.
	peer     netip.Addr
	peerText []byte

	// Header lines for the next response head (inject.go), and the plain
	// TCP connection that writes them (nil over TLS: no injection).
	inject    []byte
	injectBuf []byte
	raw       *deadline.Conn
}

// peerAddr is the connection's peer address, parsed once.
func (c *edgeConn) peerAddr() (netip.Addr, []byte) {
	if c.peerText == nil {
		c.peer = addrOf(c.RemoteAddr())
		c.peerText = c.peer.AppendTo(make([]byte, 0, 16))
	}
	return c.peer, c.peerText
}

// tlsEdgeConn is an edgeConn over TLS; fasthttp recognises TLS by these
// methods (IsTLS, TLSConnectionState).
type tlsEdgeConn struct {
	*edgeConn
	tc *tls.Conn
}

func (c tlsEdgeConn) Handshake() error                     { return c.tc.Handshake() }
func (c tlsEdgeConn) ConnectionState() tls.ConnectionState { return c.tc.ConnectionState() }

// newEdgeConn wraps c for fasthttp; r (optional) replays sniffed bytes and
// bufSize > 0 (fasthttp's read buffer size) enables the spill to the large
// front end.
func newEdgeConn(c net.Conn, r io.Reader, bufSize int) net.Conn {
	if r == nil {
		r = c
	}
	ec := &edgeConn{Conn: c, r: r, bufSize: bufSize}
	ec.raw, _ = c.(*deadline.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		return tlsEdgeConn{edgeConn: ec, tc: tc}
	}
	return ec
}

func asEdgeConn(c net.Conn) *edgeConn {
	switch ec := c.(type) {
	case *edgeConn:
		return ec
	case tlsEdgeConn:
		return ec.edgeConn
	}
	return nil
}

func (c *edgeConn) Read(p []byte) (int, error) {
	if c.detached.Load() {
		return 0, io.EOF
	}
	n, err := c.r.Read(p)
	if n > 0 && c.bufSize > 0 {
		switch {
		case cap(p) == c.bufSize:
			c.buf, c.pre = p[:cap(p)], nil
		case cap(p) == c.bufSize-1 && c.hadLone:
			// With ReduceMemoryUsage fasthttp reads a connection's first
			// byte on its own (one-byte read), puts it at the start of its
			// buffer and reads the rest behind it.
			c.buf, c.pre = p[:cap(p)], []byte{c.lone}
		}
		c.lone, c.hadLone = p[0], cap(p) == 1
		c.last = p[:n]
	}
	return n, err
}

// head returns a copy of fasthttp's read buffer when the last Read filled
// it to its end (the buffer then holds a head that did not fit); nil
// otherwise.
func (c *edgeConn) head() []byte {
	if len(c.buf) == 0 || len(c.last) == 0 || &c.last[len(c.last)-1] != &c.buf[len(c.buf)-1] {
		return nil
	}
	return append(bytes.Clone(c.pre), c.buf...)
}

// spill detaches the connection after fasthttp's buffer filled up with an
// unfinished head, and returns it, replaying that head, for the next front
// end up, whose read buffer is bufSize bytes when it may spill again (0: it
// may not). It returns nil when the connection cannot spill.
func (c *edgeConn) spill(bufSize int) net.Conn {
	if c.detached.Load() {
		return nil
	}
	head := c.head()
	if head == nil {
		return nil
	}
	c.detached.Store(true)
	r := io.MultiReader(bytes.NewReader(head), c.r)
	return newEdgeConn(c.Conn, r, bufSize)
}

func (c *edgeConn) Write(p []byte) (int, error) {
	if c.detached.Load() {
		return len(p), nil
	}
	if len(c.inject) > 0 {
		return c.writeInjected(p)
	}
	return c.Conn.Write(p)
}

func (c *edgeConn) Close() error {
	if c.detached.Load() {
		return nil
	}
	return c.Conn.Close()
}

func (c *edgeConn) SetDeadline(t time.Time) error {
	if c.detached.Load() {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

func (c *edgeConn) SetReadDeadline(t time.Time) error {
	if c.detached.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *edgeConn) SetWriteDeadline(t time.Time) error {
	if c.detached.Load() {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}
