package deadline

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
)

// rawSide is one direction's state for reads and writes made with raw
// system calls through the socket's RawConn (rawio_linux.go).
//
// A net.TCPConn's Read and Write go through syscall.Syscall, which tells
// the scheduler a goroutine may block in the kernel (entersyscall and
// exitsyscall, with their atomic status changes): about a fifth of the
// runtime's work per proxied request, six system calls per request. A
// socket here is non-blocking, so its read or write never blocks: it
// returns EAGAIN and the runtime's poller does the waiting, exactly as
// net.Conn does. So the raw call is safe, and the deadline, close and
// poller handling stay the runtime's own (RawConn.Read and Write).
//
// The callback is made once per connection; the call's buffer and result
// sit here, guarded by mu (a second concurrent Read or Write, which
// net.Conn allows but nothing here does, takes the ordinary path).
type rawSide struct {
	mu   sync.Mutex
	p    []byte
	n    int
	err  error // what the system call reported (wrapped as net.Conn does)
	call func(fd uintptr) bool

	// Writev's buffers still to write, and its callback (writes only).
	vec   [maxVec][]byte
	callv func(fd uintptr) bool
}

// maxVec is how many buffers one Writev takes.
const maxVec = 4

// rawRead reads through the raw path; ok is false when it cannot be used
// (not a TCP socket, a concurrent read, or an empty buffer) and the caller
// must read as usual.
func (c *Conn) rawRead(p []byte) (n int, ok bool, err error) {
	n, ok, err = c.rawCall(&c.rr, p, false)
	if ok && err == nil && n == 0 {
		return 0, true, io.EOF
	}
	return n, ok, err
}

// rawWrite writes all of p through the raw path (like net.Conn's Write, it
// returns only when p is written or on an error); ok as for rawRead.
func (c *Conn) rawWrite(p []byte) (n int, ok bool, err error) {
	return c.rawCall(&c.rw, p, true)
}

// rawCall runs side s's callback on p through RawConn.Read or Write.
func (c *Conn) rawCall(s *rawSide, p []byte, write bool) (n int, ok bool, err error) {
	if s.call == nil || len(p) == 0 || !s.mu.TryLock() {
		return 0, false, nil
	}
	s.p, s.n, s.err = p, 0, nil
	op := "read"
	if write {
		op = "write"
		err = c.raw.Write(s.call)
	} else {
		err = c.raw.Read(s.call)
	}
	n = s.n
	if err == nil {
		err = s.err
	}
	s.p, s.err = nil, nil
	s.mu.Unlock()
	if err != nil {
		return n, true, c.opError(op, err)
	}
	return n, true, nil
}

// Writev writes the buffers in order, as one Write of their concatenation
// would (on Linux, with writev: one system call for all of them, no copy).
// Like Write it returns only when all are written or on an error; n counts
// the bytes written. It takes at most four buffers.
func (c *Conn) Writev(bufs ...[]byte) (n int, err error) {
	if len(bufs) > maxVec {
		panic("deadline: Writev takes at most four buffers")
	}
	s := &c.rw
	if s.callv == nil || !s.mu.TryLock() {
		for _, b := range bufs {
			k, err := c.Write(b)
			n += k
			if err != nil {
				return n, err
			}
		}
		return n, nil
	}
	copy(s.vec[:], bufs)
	defer func() {
		s.vec = [maxVec][]byte{}
		s.mu.Unlock()
	}()
	for {
		s.n, s.err = 0, nil
		rerr := c.raw.Write(s.callv)
		n += s.n
		err = s.err
		if rerr != nil {
			err = rerr
		}
		if err == nil {
			return n, nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || !c.wr.extend(c.Conn.SetWriteDeadline) {
			return n, c.opError("write", err)
		}
	}
}

// WriteInserting writes p with ins inserted at offset at, in one Writev
// (the proxy adds header lines to a head fasthttp rendered). n counts the
// bytes of p written, never those of ins, as a Write of p reports.
func (c *Conn) WriteInserting(p []byte, at int, ins []byte) (n int, err error) {
	n, err = c.Writev(p[:at], ins, p[at:])
	if n > at {
		n -= min(len(ins), n-at)
	}
	return n, err
}

// opError shapes err as net.TCPConn's Read and Write report theirs: a
// *net.OpError naming the operation and both addresses, around an
// *os.SyscallError for a system call's errno, or around what the poller
// said (os.ErrDeadlineExceeded, net.ErrClosed) for RawConn's own errors,
// which arrive wrapped as "raw-read" or "raw-write".
func (c *Conn) opError(op string, err error) error {
	switch e := err.(type) {
	case *net.OpError:
		e.Op = op
		return e
	case syscall.Errno:
		err = os.NewSyscallError(op, e)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.Conn.LocalAddr(), Addr: c.Conn.RemoteAddr(), Err: err}
}
