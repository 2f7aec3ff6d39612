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
	w.callv = func(fd uintptr) bool {
		for {
			var iov [maxVec]syscall.Iovec
			k, total := 0, 0
			for i := range w.vec {
				if b := w.vec[i]; len(b) > 0 {
					l := min(len(b), maxRW)
					iov[k].Base = &b[0]
					iov[k].SetLen(l)
					k++
					total += l
				}
			}
			if k == 0 {
				return true
			}
			n, _, errno := syscall.RawSyscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
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
			if int(n) == total && total == len(w.vec[0])+len(w.vec[1])+len(w.vec[2])+len(w.vec[3]) {
				w.vec = [maxVec][]byte{}
				return true
			}
			for i := range w.vec { // a partial write: drop what went out
				d := min(int(n), len(w.vec[i]))
				w.vec[i] = w.vec[i][d:]
				n -= uintptr(d)
			}
		}
	}
}
