package upstream

import (
	"bytes"
	"errors"
	"io"
	"net"

	"github.com/valyala/fasthttp"
)

// HeadLines are header fields the gateway adds to an upstream request
// (X-Forwarded-*, X-Consumer-*, a generated X-Request-ID) written into the request head on its way to
// the connection, instead of stored in fasthttp's request header first.
//
// fasthttp stores a set header by scanning the request's fields for the
// name, copying the value while it replaces CR and LF, and then writes it
// out again with the rest of the head: about 450 instructions a field, a
// fifth of what an authenticated request costs the gateway over a plain
// one. Here each field is rendered once as a "Name: value\r\n" line, and
// the connection writes the lines after the last field of the head that
// fasthttp renders, in the same system call (writev; a TLS connection
// copies them into one buffer instead).
//
// What the upstream receives is what Set would have sent but for where the
// fields sit in the head, which has no meaning in HTTP for fields of
// different names; the caller never adds a line for a name the request
// header still holds.
type HeadLines struct {
	lines []byte
	w     headWriter
}

// Reset drops the lines, keeping the buffers (Wrap readies the writer).
func (h *HeadLines) Reset() { h.lines = h.lines[:0] }

// Len is the length of the rendered lines.
func (h *HeadLines) Len() int { return len(h.lines) }

// Add renders the field. name must be a header token as the caller spells
// it on the wire (a constant). When value holds a CR or LF, its control
// bytes (but tab) become spaces, as fasthttp's setters do with CR and LF,
// so a value cannot end its line early.
func Add[T string | []byte](h *HeadLines, name string, value T) {
	at := len(h.lines) + len(name) + len(": ")
	AddGenerated(h, name, value)
	if v := h.lines[at : len(h.lines)-2]; bytes.IndexByte(v, '\n') >= 0 || bytes.IndexByte(v, '\r') >= 0 {
		for i, c := range v {
			if c < 0x20 && c != '\t' || c == 0x7f {
				v[i] = ' '
			}
		}
	}
}

// AddGenerated is Add for a value the gateway produced itself (an address,
// a scheme): it holds no control bytes, and is not checked.
func AddGenerated[T string | []byte](h *HeadLines, name string, value T) {
	b := append(h.lines, name...)
	b = append(b, ':', ' ')
	b = append(b, value...)
	h.lines = append(b, '\r', '\n')
}

// Wrap returns conn, wrapped when lines are pending so that the first
// request head written through it carries them. headOnly promises that the
// first write is the head and nothing else (a request without a body), so
// its end need not be searched for. The wrapper lives in h: one request at
// a time.
func (h *HeadLines) Wrap(conn net.Conn, headOnly bool) net.Conn {
	if len(h.lines) == 0 {
		return conn
	}
	h.w = headWriter{Conn: conn, lines: h.lines, scratch: h.w.scratch[:0], headOnly: headOnly}
	return &h.w
}

// headWriter is a connection whose first Write, which always starts with a
// whole request head (fasthttp renders the head into one slice and writes
// it first to a fresh bufio.Writer: buffered, it is flushed from the
// buffer's start; larger than the buffer, it is written straight through),
// gets the lines inserted before the blank line that ends the head.
type headWriter struct {
	net.Conn
	lines    []byte
	scratch  []byte
	headOnly bool
	done     bool
}

// inserter is deadline.Conn's WriteInserting: p with lines inserted, in one
// system call (writev).
type inserter interface {
	WriteInserting(p []byte, at int, ins []byte) (int, error)
}

var (
	headEnd        = []byte("\r\n\r\n")
	errHeadNotHere = errors.New("upstream: request head not at the start of the first write")
)

func (w *headWriter) Write(p []byte) (int, error) {
	if w.done {
		return w.Conn.Write(p)
	}
	// A head ends with the first blank line; searching a 300-byte head
	// for it costs ~250 instructions (a '\r' ends every line), so a write
	// known to hold the head alone is only checked.
	i := len(p) - len(headEnd)
	if !w.headOnly || !bytes.HasSuffix(p, headEnd) {
		i = bytes.Index(p, headEnd)
	}
	if i < 0 {
		// Cannot happen (above); sending the head without the gateway's
		// fields (identity, forwarding) would be worse than failing.
		return 0, errHeadNotHere
	}
	w.done = true
	i += 2 // after the last field's CRLF, before the blank line
	var n int
	var err error
	if v, ok := w.Conn.(inserter); ok {
		n, err = v.WriteInserting(p, i, w.lines)
	} else {
		w.scratch = append(append(append(w.scratch[:0], p[:i]...), w.lines...), p[i:]...)
		n, err = w.Conn.Write(w.scratch)
		if cap(w.scratch) > maxKeptScratch {
			w.scratch = nil
		}
		// n counts the lines too; the caller asked about p.
		if n > i {
			n -= min(len(w.lines), n-i)
		}
	}
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// maxKeptScratch bounds the copy buffer an exchange keeps between requests.
const maxKeptScratch = 8 << 10

// Do sends req to the target's HTTP/1.1 client and reads the response head
// into resp, the body left streaming, with lines added to the request head
// (nil: none). It is hc.Do for the gateway's clients (newHostClient: one
// attempt, streamed responses, no User-Agent of its own), minus what only
// fasthttp's Client needs (its use counters), plus the lines.
func Do(hc *fasthttp.HostClient, req *fasthttp.Request, resp *fasthttp.Response, lines *HeadLines) error {
	skip := resp.SkipBody
	resp.Reset()
	resp.SkipBody = skip
	resp.StreamBody = true
	// A proxied response without Content-Type must stay without one.
	resp.Header.SetNoDefaultContentType(true)
	req.URI().DisablePathNormalizing = true
	_, err := sendRequest(hc, req, resp, lines)
	if err == io.EOF {
		err = fasthttp.ErrConnectionClosed
	}
	return err
}
