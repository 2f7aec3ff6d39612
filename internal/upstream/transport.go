package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// transport is the HTTP/1.1 exchange of every HostClient (HostClient's
// Transport hook): fasthttp's own transport, reordered so that a request in
// flight holds no read buffer while the target works on it.
//
// fasthttp's transport takes a read buffer (16 KiB, readBufferSize) from
// its pool as soon as the request is written and holds it until the
// response has been read and, when the body streams, written on. At 1,000
// requests in flight that is 16 MiB of buffers waiting on upstreams. Here
// the connection first waits until the response starts to arrive
// (deadline.Conn.WaitReadable peeks; no bytes are read), and only then takes
// a buffer. On top of that, a body that is already in the buffer with the
// head (a Content-Length response that came in one read, the usual API
// answer) is copied out at once, so the buffer and the connection go back
// to their pools before the response is written to the client, however
// slow that client is. Other bodies (chunked, longer, until close) stream
// as before.
//
// Framing, parsing and the pool are fasthttp's: the head and body are read
// by fasthttp.Response, connections come from and go back to the
// HostClient. What fasthttp's transport does for options we never set
// (ReadTimeout, MaxConnDuration, per-request timeouts) is left out, and so
// are the response's network addresses (nothing reads them); the client's
// settings are in newHostClient.
type transport struct{}

// maxInterim bounds the 1xx responses read before the final one, as
// fasthttp does.
const maxInterim = 100

// readiness is a connection that can wait for its peer's answer without a
// buffer (idleConn, deadline.Conn); a TLS connection cannot (it may hold
// decrypted bytes) and reads at once.
type readiness interface{ WaitReadable() error }

func (transport) RoundTrip(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response) (bool, error) {
	return sendRequest(hc, req, resp, nil)
}

func sendRequest(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, lines *HeadLines) (bool, error) {
	cc, err := hc.AcquireConn(0, req.ConnectionClose())
	if err != nil {
		return false, err
	}
	conn := cc.Conn()
	if hc.WriteTimeout > 0 {
		if err := conn.SetWriteDeadline(time.Now().Add(hc.WriteTimeout)); err != nil {
			hc.CloseConn(cc)
			return true, err
		}
	}
	w := conn
	if lines != nil {
		// Without a body, fasthttp writes the head alone first (Request.Write).
		w = lines.Wrap(conn, !req.IsBodyStream() && len(req.Body()) == 0)
	}
	bw := hc.AcquireWriter(w)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	hc.ReleaseWriter(bw)
	if err != nil {
		hc.CloseConn(cc)
		if te, ok := err.(interface{ Timeout() bool }); ok && te.Timeout() {
			err = fasthttp.ErrTimeout
		}
		return true, err
	}
	if w, ok := conn.(readiness); ok {
		if err := w.WaitReadable(); err != nil {
			hc.CloseConn(cc)
			return true, err
		}
	}

	br := hc.AcquireReader(conn)
	if hc.DisableHeaderNamesNormalizing {
		resp.Header.DisableNormalizing()
	}
	if err := readHead(&resp.Header, br); err != nil {
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		return true, err
	}
	code := resp.StatusCode()
	cl := resp.Header.ContentLength()
	// The connection can serve another request only when neither side asked
	// to close and the response ends where the next one starts: it has no
	// body, or one framed by a length or chunks (not one that runs until
	// the upstream closes).
	reuse := !req.ConnectionClose() && !resp.ConnectionClose() && code != fasthttp.StatusSwitchingProtocols

	if resp.SkipBody || req.Header.IsHead() || code < 200 || code == fasthttp.StatusNoContent || code == fasthttp.StatusNotModified {
		resp.SkipBody = true
		hc.ReleaseReader(br)
		release(hc, cc, reuse)
		return false, nil
	}
	reuse = reuse && cl != -2
	if cl >= 0 && cl <= br.Buffered() {
		resp.StreamBody = false
		err := resp.ReadBody(br, 0)
		hc.ReleaseReader(br)
		if err != nil {
			hc.CloseConn(cc)
			return true, err
		}
		release(hc, cc, reuse)
		return false, nil
	}

	// The body streams: fasthttp's body reader (lengths, chunks, trailers)
	// runs on a scratch response whose header carries only the framing, and
	// the stream handed to resp gives the buffer and the connection back
	// when it is closed.
	scratch := fasthttp.AcquireResponse()
	scratch.StreamBody = true
	scratch.Header.SetContentLength(cl)
	if err := scratch.ReadBody(br, 0); err != nil {
		fasthttp.ReleaseResponse(scratch)
		hc.ReleaseReader(br)
		hc.CloseConn(cc)
		return true, err
	}
	body := &upstreamBody{}
	body.hc, body.cc, body.conn, body.br, body.scratch, body.reuse = hc, cc, conn, br, scratch, reuse
	body.stream = scratch.BodyStream()
	if cl == -1 {
		body.trailerTo = &resp.Header
	}
	resp.SetBodyStream(body, cl)
	return false, nil
}

// readHead reads the final response head into h, skipping interim (1xx)
// responses other than 101.
func readHead(h *fasthttp.ResponseHeader, br *bufio.Reader) error {
	for n := 0; ; n++ {
		if err := h.Read(br); err != nil {
			return err
		}
		if c := h.StatusCode(); c >= 200 || c < 100 || c == fasthttp.StatusSwitchingProtocols {
			return nil
		}
		if n == maxInterim {
			return errTooManyInterim
		}
	}
}

var errTooManyInterim = errors.New("upstream sent too many interim (1xx) responses")

// fasthttp does not export the type of a HostClient's connections; these
// method expressions carry it, and asConn gets an upstreamBody's connection
// back to it.
var (
	releaseConn = (*fasthttp.HostClient).ReleaseConn
	closeConn   = (*fasthttp.HostClient).CloseConn
)

func asConn[C any](_ func(*fasthttp.HostClient, C), cc any) C { return cc.(C) }

func release[C any](hc *fasthttp.HostClient, cc C, reuse bool) {
	if reuse {
		releaseConn(hc, asConn(releaseConn, cc))
	} else {
		closeConn(hc, asConn(closeConn, cc))
	}
}

// upstreamBody is a response body streaming from an upstream connection.
// Closing it (the server does when the response is written, or a policy
// that replaces the body) gives the read buffer back and the connection
// too: to the pool when the body was read to its end, closed otherwise.
// A Close while a Read is blocked (another goroutine) closes the connection
// first, which ends that Read.
type upstreamBody struct {
	mu      sync.Mutex // held by Read; Close waits for it
	closed  atomic.Bool
	eof     bool
	reuse   bool
	hc      *fasthttp.HostClient
	cc      any // the HostClient's connection (see asConn)
	conn    net.Conn
	br      *bufio.Reader
	scratch *fasthttp.Response
	stream  io.Reader
	unread  []byte // bytes handed back by Unread, read before the stream
	// trailerTo receives a chunked body's trailer fields, which fasthttp's
	// body reader parses into the scratch response's header, when the body
	// ends: the server writes them after the last chunk, as it did when
	// the body was read into the response itself.
	trailerTo *fasthttp.ResponseHeader
}

func (b *upstreamBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return 0, io.ErrClosedPipe
	}
	if len(b.unread) > 0 {
		n := copy(p, b.unread)
		b.unread = b.unread[n:]
		return n, nil
	}
	n, err := b.stream.Read(p)
	if err == io.EOF && !b.eof {
		b.eof = true
		if b.trailerTo != nil {
			if tr := b.scratch.Header.TrailerHeader(); len(tr) > 2 { // more than the closing CRLF
				if terr := b.trailerTo.ReadTrailer(bufio.NewReaderSize(bytes.NewReader(tr), len(tr))); terr != nil {
					return n, terr
				}
			}
		}
	}
	return n, err
}

// CloseWithError is what fasthttp calls when it is done with the body (err
// is why it stopped writing, if it did). There is no Close: fasthttp would
// call both. Later calls do nothing.
func (b *upstreamBody) CloseWithError(err error) error {
	if b.closed.Swap(true) {
		return nil
	}
	if !b.mu.TryLock() {
		_ = b.conn.Close() // a Read is blocked on the connection: end it
		b.mu.Lock()
	}
	reuse := b.reuse && b.eof && err == nil
	hc, cc, br, scratch := b.hc, b.cc, b.br, b.scratch
	_ = scratch.CloseBodyStream()
	fasthttp.ReleaseResponse(scratch)
	hc.ReleaseReader(br)
	release(hc, cc, reuse)
	b.hc, b.cc, b.conn, b.br, b.scratch, b.stream, b.unread, b.trailerTo = nil, nil, nil, nil, nil, nil, nil, nil
	b.mu.Unlock()
	return nil
}

// Unread puts p, bytes read from the body, back in front of the rest: a
// policy that read the start of a body to decide whether to keep it can let
// the whole body stream on. (Replacing the response's stream instead would
// close this one.)
func (b *upstreamBody) Unread(p []byte) {
	b.mu.Lock()
	b.unread = append(p[:len(p):len(p)], b.unread...)
	b.mu.Unlock()
}
