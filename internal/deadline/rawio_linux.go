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
		n, errno := sysIO(syscall.SYS_READ, fd, unsafe.Pointer(&r.p[0]), min(len(r.p), maxRW))
		if errno == syscall.EAGAIN {
			return false // the poller waits, then calls again
		}
		if errno != 0 {
			r.err = errno // n is -1 then
		} else {
			r.n = n
		}
		return true
	}
	w.call = func(fd uintptr) bool {
		for len(w.p) > 0 {
			n, errno := sysIO(syscall.SYS_WRITE, fd, unsafe.Pointer(&w.p[0]), min(len(w.p), maxRW))
			if wait, done := w.wrote(n, errno); wait || done {
				return !wait
			}
			w.p = w.p[n:]
		}
		return true
	}
	w.callv = func(fd uintptr) bool {
		for {
			var iov [maxVec]syscall.Iovec
			k, left := 0, 0
			for i := range w.vec {
				if b := w.vec[i]; len(b) > 0 {
					iov[k].Base = &b[0]
					iov[k].SetLen(min(len(b), maxRW))
					k++
					left += len(b)
				}
			}
			if k == 0 {
				return true
			}
			n, errno := sysIO(syscall.SYS_WRITEV, fd, unsafe.Pointer(&iov[0]), k)
			if wait, done := w.wrote(n, errno); wait || done {
				return !wait
			}
			if n == left {
				w.vec = [maxVec][]byte{}
				return true
			}
			for i := range w.vec { // a partial write: drop what went out
				d := min(n, len(w.vec[i]))
				w.vec[i] = w.vec[i][d:]
				n -= d
			}
		}
	}
}

// sysIO makes a read, write or writev system call on fd with a raw call
// (it cannot block: the socket is non-blocking), again after EINTR.
func sysIO(trap, fd uintptr, buf unsafe.Pointer, n int) (int, syscall.Errno) {
	for {
		r, _, errno := syscall.RawSyscall(trap, fd, uintptr(buf), uintptr(n))
		if errno != syscall.EINTR {
			return int(r), errno
		}
	}
}

// wrote records a write system call's result: wait when the socket is
// full (the poller waits, then the callback runs again), done when the
// write failed; otherwise the n bytes count as written.
func (s *rawSide) wrote(n int, errno syscall.Errno) (wait, done bool) {
	switch {
	case errno == syscall.EAGAIN:
		return true, false
	case errno != 0:
		s.err = errno
		return false, true
	case n == 0:
		s.err = io.ErrUnexpectedEOF
		return false, true
	}
	s.n += n
	return false, false
}
