package deadline

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// maxRW caps one system call's length, as internal/poll does.
const maxRW = 1 << 30

// initRaw readies the raw read and write path on a TCP socket.
func (c *Conn) initRaw() {
	tc, ok := c.Conn.(*net.TCPConn)
	if !ok {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	c.raw = raw
	r, w := &c.rr, &c.rw
	r.call = func(fd uintptr) bool {
		p := r.p
		if len(p) > maxRW {
			p = p[:maxRW]
		}
		for {
			n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch errno {
			case 0:
				r.n = int(n)
				return true
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false // the poller waits, then calls again
			}
			r.err = errno
			return true
		}
	}
	w.call = func(fd uintptr) bool {
		for len(w.p) > 0 {
			p := w.p
			if len(p) > maxRW {
				p = p[:maxRW]
			}
			n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			switch {
			case errno == syscall.EINTR:
				continue
			case errno == syscall.EAGAIN:
				return false
			case errno != 0:
				w.err = errno
				return true
			case n == 0:
				w.err = io.ErrUnexpectedEOF
				return true
			}
			w.n += int(n)
			w.p = w.p[n:]
		}
		return true
	}
}
