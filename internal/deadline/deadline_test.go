package deadline

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns a wrapped client connection and the server end, over a real
// loopback TCP connection.
func pair(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return Wrap(c), s
}

func TestReadDeadlines(t *testing.T) {
	cases := []struct {
		name string
		// set moves the deadline; it returns the deadline that must hold.
		set       func(c *Conn) time.Time
		sendAfter time.Duration // 0: the peer sends nothing
		wantData  bool
	}{
		{
			name: "moved later: the first one armed does not cut the read",
			set: func(c *Conn) time.Time {
				_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				d := time.Now().Add(400 * time.Millisecond)
				_ = c.SetReadDeadline(d)
				return d
			},
			sendAfter: 200 * time.Millisecond, wantData: true,
		},
		{
			name: "moved later: times out at the last one, not the first",
			set: func(c *Conn) time.Time {
				_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				d := time.Now().Add(250 * time.Millisecond)
				_ = c.SetReadDeadline(d)
				return d
			},
		},
		{
			name: "moved earlier: applies at once",
			set: func(c *Conn) time.Time {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
				d := time.Now().Add(100 * time.Millisecond)
				_ = c.SetReadDeadline(d)
				return d
			},
		},
		{
			name: "cleared: the armed one does not cut the read",
			set: func(c *Conn) time.Time {
				_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
				_ = c.SetReadDeadline(time.Time{})
				return time.Time{}
			},
			sendAfter: 250 * time.Millisecond, wantData: true,
		},
		{
			name: "SetDeadline moves the read deadline too",
			set: func(c *Conn) time.Time {
				_ = c.SetDeadline(time.Now().Add(50 * time.Millisecond))
				d := time.Now().Add(250 * time.Millisecond)
				_ = c.SetDeadline(d)
				return d
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, peer := pair(t)
			d := tc.set(c)
			if tc.sendAfter > 0 {
				time.AfterFunc(tc.sendAfter, func() { _, _ = peer.Write([]byte("x")) })
			}
			buf := make([]byte, 8)
			n, err := c.Read(buf)
			if tc.wantData {
				if err != nil || n != 1 {
					t.Fatalf("read = %d, %v; want the peer's byte", n, err)
				}
				return
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read error = %v, want a deadline error", err)
			}
			if now := time.Now(); now.Before(d) {
				t.Fatalf("read timed out %v before its deadline", d.Sub(now))
			}
			if late := time.Since(d); late > 150*time.Millisecond {
				t.Fatalf("read timed out %v after its deadline", late)
			}
		})
	}
}

func TestDeadlineInThePastWakesABlockedRead(t *testing.T) {
	c, _ := pair(t)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	_ = c.SetReadDeadline(time.Now())
	select {
	case err := <-done:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read error = %v, want a deadline error", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a deadline in the past did not wake the read")
	}
}

func TestWriteDeadlineMovedLater(t *testing.T) {
	c, peer := pair(t)
	// The peer reads nothing until 300 ms, so a large write blocks on a
	// full socket buffer; the first deadline (50 ms) must not cut it.
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	const size = 32 << 20
	got := make(chan int64, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		var n int64
		buf := make([]byte, 64<<10)
		for n < size {
			k, err := peer.Read(buf)
			n += int64(k)
			if err != nil {
				break
			}
		}
		got <- n
	}()
	n, err := c.Write(make([]byte, size))
	if err != nil || n != size {
		t.Fatalf("write = %d, %v; want all %d bytes", n, err, size)
	}
	if r := <-got; r != size {
		t.Fatalf("peer read %d bytes, want %d", r, size)
	}
}

func TestWriteTimesOutAtItsDeadline(t *testing.T) {
	c, _ := pair(t)
	_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	d := time.Now().Add(300 * time.Millisecond)
	_ = c.SetWriteDeadline(d)
	n, err := c.Write(make([]byte, 64<<20)) // far more than the socket buffers hold
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write error = %v, want a deadline error", err)
	}
	if time.Now().Before(d) {
		t.Fatal("write timed out before its deadline")
	}
	if n <= 0 || n >= 64<<20 {
		t.Fatalf("write reported %d bytes; want the part the socket took", n)
	}
}

func TestListenerWraps(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wl := Listener(ln)
	defer wl.Close()
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
			time.Sleep(100 * time.Millisecond)
		}
	}()
	c, err := wl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*Conn); !ok {
		t.Fatalf("accepted %T, want *deadline.Conn", c)
	}
}

// BenchmarkSetReadDeadline: moving a deadline later, as fasthttp does per
// request, against the plain connection.
func BenchmarkSetReadDeadline(b *testing.B) {
	for _, wrapped := range []bool{false, true} {
		name := "net.Conn"
		if wrapped {
			name = "deadline.Conn"
		}
		b.Run(name, func(b *testing.B) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			defer ln.Close()
			go func() {
				if c, err := ln.Accept(); err == nil {
					defer c.Close()
					time.Sleep(time.Minute)
				}
			}()
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer raw.Close()
			var c net.Conn = raw
			if wrapped {
				c = Wrap(raw)
			}
			for b.Loop() {
				_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			}
		})
	}
}

// TestWaitReadable: the wait ends when bytes arrive (and leaves them to be
// read), when they were already there, at end of stream, and at the read
// deadline, including one moved later while waiting.
func TestWaitReadable(t *testing.T) {
	t.Run("bytes arrive later", func(t *testing.T) {
		c, s := pair(t)
		go func() { time.Sleep(50 * time.Millisecond); _, _ = s.Write([]byte("hi")) }()
		start := time.Now()
		if err := c.WaitReadable(); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) < 30*time.Millisecond {
			t.Fatal("returned before the bytes were sent")
		}
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi" {
			t.Fatalf("read %q, %v after the wait; the wait must not consume", buf, err)
		}
	})
	t.Run("bytes already there, twice", func(t *testing.T) {
		c, s := pair(t)
		_, _ = s.Write([]byte("x"))
		time.Sleep(20 * time.Millisecond)
		for range 2 {
			done := make(chan error, 1)
			go func() { done <- c.WaitReadable() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("waited although a byte was there")
			}
		}
	})
	t.Run("end of stream", func(t *testing.T) {
		c, s := pair(t)
		s.Close()
		if err := c.WaitReadable(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("read after the wait: %v, want EOF", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		c, _ := pair(t)
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		start := time.Now()
		if err := c.WaitReadable(); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("got %v, want a deadline error", err)
		}
		if d := time.Since(start); d < 40*time.Millisecond || d > time.Second {
			t.Fatalf("deadline fired after %v", d)
		}
	})
	t.Run("deadline moved later", func(t *testing.T) {
		c, s := pair(t)
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond)) // lazily applied
		go func() { time.Sleep(150 * time.Millisecond); _, _ = s.Write([]byte("y")) }()
		if err := c.WaitReadable(); err != nil {
			t.Fatalf("the wait ended at the earlier deadline: %v", err)
		}
	})
}
