package deadline

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestRawPathInUse: on Linux a wrapped TCP connection reads and writes
// with raw system calls; anywhere else, or on another kind of connection,
// it keeps net.Conn's path.
func TestRawPathInUse(t *testing.T) {
	c, _ := pair(t)
	if want := goruntime.GOOS == "linux"; (c.rr.call != nil) != want || (c.rw.call != nil) != want {
		t.Fatalf("raw path on %s: read %v, write %v; want %v", goruntime.GOOS, c.rr.call != nil, c.rw.call != nil, want)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if p := Wrap(a); p.rr.call != nil || p.rw.call != nil {
		t.Fatal("a pipe took the raw path")
	}
}

// TestRawReadWriteLarge moves 16 MiB each way at once: writes that fill the
// socket buffers wait in the poller (EAGAIN) and resume, and every byte
// arrives once and in order.
func TestRawReadWriteLarge(t *testing.T) {
	c, s := pair(t)
	payload := make([]byte, 16<<20)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var gotByPeer []byte
	var peerErr error
	wg.Add(2)
	go func() { // the peer echoes nothing: it reads all, then sends all
		defer wg.Done()
		gotByPeer, peerErr = io.ReadAll(io.LimitReader(s, int64(len(payload))))
	}()
	go func() {
		defer wg.Done()
		n, err := c.Write(payload)
		if err != nil || n != len(payload) {
			t.Errorf("Write = %d, %v; want %d, nil", n, err, len(payload))
		}
	}()
	wg.Wait()
	if peerErr != nil || !bytes.Equal(gotByPeer, payload) {
		t.Fatalf("peer read %d bytes (%v), want the %d written", len(gotByPeer), peerErr, len(payload))
	}
	go func() {
		_, _ = s.Write(payload)
		s.Close()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes (%v), want the %d sent", len(got), err, len(payload))
	}
	if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after the end = %d, %v; want 0, io.EOF", n, err)
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty Read = %d, %v; want 0, nil", n, err)
	}
}

// errShape is what callers look at in a read or write error.
type errShape struct {
	op                          string
	timeout, closed, reset, eof bool
}

func shapeOf(err error) errShape {
	var s errShape
	var oe *net.OpError
	if errors.As(err, &oe) {
		s.op = oe.Op
		if oe.Source == nil || oe.Addr == nil {
			s.op += " (no addresses)"
		}
	}
	var ne net.Error
	s.timeout = errors.As(err, &ne) && ne.Timeout() && errors.Is(err, os.ErrDeadlineExceeded)
	s.closed = errors.Is(err, net.ErrClosed)
	s.reset = errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
	s.eof = err == io.EOF
	return s
}

// TestRawErrorsMatchNetConn: each failure reads the same through the raw
// path as through a bare net.TCPConn (operation, addresses, and what
// errors.Is and net.Error report), since callers classify upstream and
// client failures by them.
func TestRawErrorsMatchNetConn(t *testing.T) {
	cases := []struct {
		name string
		// run provokes the failure on c (the connection under test; peer is
		// its other end) and returns the error.
		run  func(c net.Conn, peer net.Conn) error
		want errShape
	}{
		{"read deadline", func(c, _ net.Conn) error {
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, err := c.Read(make([]byte, 8))
			return err
		}, errShape{op: "read", timeout: true}},
		{"write deadline in the past", func(c, _ net.Conn) error {
			_ = c.SetWriteDeadline(time.Now().Add(-time.Second))
			_, err := c.Write([]byte("x"))
			return err
		}, errShape{op: "write", timeout: true}},
		{"read after close", func(c, _ net.Conn) error {
			c.Close()
			_, err := c.Read(make([]byte, 8))
			return err
		}, errShape{op: "read", closed: true}},
		{"write after close", func(c, _ net.Conn) error {
			c.Close()
			_, err := c.Write([]byte("x"))
			return err
		}, errShape{op: "write", closed: true}},
		{"peer closed", func(c, peer net.Conn) error {
			peer.Close()
			_, err := c.Read(make([]byte, 8))
			return err
		}, errShape{eof: true}},
		{"peer reset", func(c, peer net.Conn) error {
			_ = peer.(*net.TCPConn).SetLinger(0)
			peer.Close()
			time.Sleep(20 * time.Millisecond)
			n, err := c.Read(make([]byte, 8))
			if n != 0 {
				return fmt.Errorf("a failed Read reported %d bytes", n)
			}
			return err
		}, errShape{op: "read", reset: true}},
		{"write to a reset peer", func(c, peer net.Conn) error {
			_ = peer.(*net.TCPConn).SetLinger(0)
			peer.Close()
			time.Sleep(20 * time.Millisecond)
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				_, err = c.Write([]byte("x"))
			}
			return err
		}, errShape{op: "write", reset: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := pair(t)
			got := shapeOf(tc.run(c, peer))
			bare, barePeer := pair(t)
			std := shapeOf(tc.run(bare.Conn, barePeer))
			if got != tc.want || std != tc.want {
				t.Fatalf("raw path %+v, net.TCPConn %+v; want %+v", got, std, tc.want)
			}
		})
	}
}

// TestRawConcurrentReaders: two goroutines reading one connection (which
// net.Conn allows) share the bytes between them, each byte once.
func TestRawConcurrentReaders(t *testing.T) {
	c, s := pair(t)
	const total = 1 << 20
	go func() {
		_, _ = s.Write(bytes.Repeat([]byte{'a'}, total))
		s.Close()
	}()
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1000)
			for {
				k, err := c.Read(buf)
				mu.Lock()
				n += k
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if n != total {
		t.Fatalf("readers got %d bytes, want %d", n, total)
	}
}

// TestWritev: buffers written in order as one stream, 16 MiB across three
// buffers so writes go out in parts between waits in the poller; empty
// buffers are skipped; a pipe (no raw path) writes them one by one.
func TestWritev(t *testing.T) {
	c, s := pair(t)
	a := bytes.Repeat([]byte{'a'}, 5<<20)
	b := bytes.Repeat([]byte{'b'}, 6<<20)
	z := bytes.Repeat([]byte{'z'}, 5<<20)
	want := append(append(append([]byte(nil), a...), b...), z...)
	got := make(chan []byte, 1)
	go func() {
		buf, _ := io.ReadAll(io.LimitReader(s, int64(len(want))))
		got <- buf
	}()
	n, err := c.Writev(a, nil, b, z)
	if err != nil || n != len(want) {
		t.Fatalf("Writev = %d, %v; want %d, nil", n, err, len(want))
	}
	if g := <-got; !bytes.Equal(g, want) {
		t.Fatalf("peer read %d bytes, not the %d written in order", len(g), len(want))
	}
	if n, err := c.Writev(); n != 0 || err != nil {
		t.Fatalf("Writev() = %d, %v", n, err)
	}
	s.Close()
	c.Close()
	if _, err := c.Writev([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Writev on a closed connection: %v", err)
	}

	p1, p2 := net.Pipe()
	defer p1.Close()
	go func() {
		buf, _ := io.ReadAll(io.LimitReader(p2, 6))
		got <- buf
	}()
	if n, err := Wrap(p1).Writev([]byte("ab"), []byte("cd"), []byte("ef")); n != 6 || err != nil {
		t.Fatalf("Writev over a pipe = %d, %v", n, err)
	}
	if g := <-got; string(g) != "abcdef" {
		t.Fatalf("pipe got %q", g)
	}
}

// TestWriteInserting: p goes out with ins at its offset, and n counts the
// bytes of p only; a closed connection reports no more than was written.
func TestWriteInserting(t *testing.T) {
	c, s := pair(t)
	got := make(chan []byte, 1)
	go func() {
		buf, _ := io.ReadAll(io.LimitReader(s, 18))
		got <- buf
	}()
	p := []byte("HEAD\r\n\r\nbody")
	if n, err := c.WriteInserting(p, 6, []byte("X: 1\r\n")); n != len(p) || err != nil {
		t.Fatalf("WriteInserting = %d, %v; want %d, nil", n, err, len(p))
	}
	if g := string(<-got); g != "HEAD\r\nX: 1\r\n\r\nbody" {
		t.Fatalf("peer read %q", g)
	}
	c.Close()
	if n, err := c.WriteInserting(p, 6, []byte("X: 1\r\n")); n != 0 || err == nil {
		t.Fatalf("on a closed connection: %d, %v", n, err)
	}
}
