//go:build linux && !386

package deadline

import (
	"syscall"
	"unsafe"
)

// peekReady reports whether the socket fd has something to read (or an
// error to report) without consuming it: recv with MSG_PEEK|MSG_DONTWAIT.
// The system call is made directly, free of allocations (syscall.Recvfrom
// returns the peer's address), and raw: it cannot block (rawio.go).
func peekReady(fd uintptr) bool {
	var b [1]byte
	_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno != syscall.EAGAIN && errno != syscall.EWOULDBLOCK
}
