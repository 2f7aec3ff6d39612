// Package deadline makes connection deadlines cheap to move.
//
// fasthttp re-arms a connection's read and write deadlines several times per
// request (idle wait, header read, body read, response write). Each re-arm
// is a runtime timer update under a lock, a measurable share of a proxied
// request's CPU. Almost every re-arm moves a deadline later, and a deadline
// that is later than the one armed on the socket does not need to reach the
// socket at once: the armed one fires first, and only then does the
// connection look at the deadline it was last asked for, re-arm to it and
// retry the read or write. A deadline moved earlier is applied at once.
//
// So what a caller sees is exactly net.Conn's deadline behaviour: a read or
// write fails with os.ErrDeadlineExceeded when, and only when, the deadline
// it set has passed. The cost moves from every request to one timer firing
// per armed period (seconds) per busy connection.
//
// Wrap raw TCP connections, below TLS: a TLS write that timed out leaves
// the TLS stream unusable, so the retry must happen under it.
package deadline

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// Conn is a net.Conn whose deadlines are applied lazily (see the package doc).
type Conn struct {
	net.Conn
	rd, wr side

	// The socket (nil: not a TCP socket, or not yet needed), and the raw
	// read and write path on it (rawio.go).
	raw    syscall.RawConn
	rr, rw rawSide

	// WaitReadable's state: the poll callback (made once, so a wait
	// allocates nothing) and whether that callback has polled already.
	poll   func(fd uintptr) bool
	polled bool
}

// Wrap returns c with lazily applied deadlines.
func Wrap(c net.Conn) *Conn {
	dc := &Conn{Conn: c}
	dc.initRaw()
	return dc
}

// side is one direction's deadline state.
type side struct {
	mu    sync.Mutex
	want  time.Time // the deadline last asked for (zero: none)
	armed time.Time // the deadline set on the socket (zero: none)
}

// set records t and applies it when it is earlier than the armed deadline
// (or none is armed), under the lock so concurrent setters reach the
// socket in the order they were recorded. No defer and no method value:
// this runs several times per request.
func (s *side) set(t time.Time, c net.Conn, write bool) error {
	s.mu.Lock()
	s.want = t
	if t.IsZero() || (!s.armed.IsZero() && !t.Before(s.armed)) {
		s.mu.Unlock()
		return nil // the armed deadline fires first; extend re-arms then
	}
	s.armed = t
	var err error
	if write {
		err = c.SetWriteDeadline(t)
	} else {
		err = c.SetReadDeadline(t)
	}
	s.mu.Unlock()
	return err
}

// extend runs after the armed deadline fired: it re-arms to the wanted
// deadline and reports true when that one has not passed yet.
func (s *side) extend(apply func(time.Time) error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.armed.IsZero() || s.want.Equal(s.armed) {
		return false // the deadline that fired is the one asked for
	}
	if !s.want.IsZero() && !time.Now().Before(s.want) {
		return false
	}
	s.armed = s.want
	return apply(s.want) == nil
}

func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *Conn) SetReadDeadline(t time.Time) error { return c.rd.set(t, c.Conn, false) }

func (c *Conn) SetWriteDeadline(t time.Time) error { return c.wr.set(t, c.Conn, true) }

func (c *Conn) Read(p []byte) (int, error) {
	for {
		n, ok, err := c.rawRead(p)
		if !ok {
			n, err = c.Conn.Read(p)
		}
		if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) || !c.rd.extend(c.Conn.SetReadDeadline) {
			return n, err
		}
	}
}

func (c *Conn) Write(p []byte) (int, error) {
	written := 0
	for {
		n, ok, err := c.rawWrite(p)
		if !ok {
			n, err = c.Conn.Write(p)
		}
		written += n
		p = p[n:]
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || !c.wr.extend(c.Conn.SetWriteDeadline) {
			return written, err
		}
		if len(p) == 0 {
			return written, nil
		}
	}
}

// Listener wraps every connection ln accepts.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return Wrap(c), nil
}

// WaitReadable blocks until the connection has something to read (bytes,
// end of stream or an error) without reading it, so a caller can wait for a
// peer's answer without holding a read buffer. The read deadline applies as
// it does to Read. On a connection that is not a socket it returns at once.
//
// It asks the socket once (a peek, see peekReady); only when nothing is
// there does it park in the runtime's poller, and a wake-up is taken as
// readiness without asking again. A spurious wake-up costs nothing but the
// caller's buffer: its Read then waits as usual.
func (c *Conn) WaitReadable() error {
	if c.poll == nil {
		if c.raw == nil {
			sc, ok := c.Conn.(syscall.Conn)
			if !ok {
				return nil
			}
			raw, err := sc.SyscallConn()
			if err != nil {
				return nil
			}
			c.raw = raw
		}
		c.poll = func(fd uintptr) bool {
			if c.polled {
				return true
			}
			c.polled = true
			return peekReady(fd)
		}
	}
	for {
		c.polled = false
		err := c.raw.Read(c.poll)
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) || !c.rd.extend(c.Conn.SetReadDeadline) {
			return err
		}
	}
}
