//go:build unix && (!linux || 386)

package deadline

import "syscall"

// peekReady reports whether the socket fd has something to read (or an
// error to report) without consuming it.
func peekReady(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN && err != syscall.EWOULDBLOCK
}
