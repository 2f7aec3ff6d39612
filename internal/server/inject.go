package server

import (
	"bytes"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/runtime"
)

// Headers policies add (RateLimit*, X-Quota-*, X-Cache...) go to the wire
// without passing through fasthttp's header store.
//
// fasthttp stores an added header by copying its value twice, scanning it
// for CR and LF, matching the name against its special headers and the
// headers present, and then writes it out field by field: about 650
// instructions a header, 3,400 of a rate-limited request's five. Instead,
// when the response is finished, each header that fasthttp would only have
// appended (a name it does not manage, absent from the response, value
// free of control bytes) is rendered once as a "Name: value\r\n" line on
// the connection, and the connection puts those lines after the status
// line of the next response head it writes, in the same system call
// (writev: the response itself is not copied).
//
// That head is the response being finished: the front end runs with
// ReduceMemoryUsage, so fasthttp writes and flushes each response before
// it reads the next request (no pipelined batching), and nothing else is
// written between the handler's end and that response (interim 100
// responses go out before the handler reads the body). Only plain TCP
// connections inject; over TLS the headers take fasthttp's path.
//
// What a client receives is what fasthttp's Add would have sent, but for
// where the lines sit in the head; HTTP gives no meaning to the order of
// fields of different names, and a field whose name the response may
// already carry takes fasthttp's path, so fields of one name keep their
// order (TestInjectedHeadMatchesAdd).

// injector returns the connection that can carry injected lines for this
// response, or nil: only a plain TCP connection (edgeConn.raw) can.
func (x *fastExchange) injector() *edgeConn {
	if ec := asEdgeConn(x.ctx.Conn()); ec != nil && ec.raw != nil && !ec.detached.Load() {
		return ec
	}
	return nil
}

// injectName returns what the injection needs to know of a name (its bit
// in the header-name summary, its line prefix), or nil when the name takes
// fasthttp's path: fasthttp's Add stores only a token name it does not
// manage as given and only appends it. (A value is injected only without
// control bytes: Add turns CR and LF into spaces; tabs and other control
// bytes take Add's path too, which is rare and only costs time.) The names
// policies pass are constants or strings compiled from config, so the
// answer is cached (nameCache): a name is checked once, not on every
// response.
func injectName(name string) *injectEntry {
	if len(name) == 0 {
		return nil
	}
	return injectNames.get(name, newInjectEntry)
}

// injectNames caches injectName's answers (nil: not injected).
var injectNames nameCache[*injectEntry]

func newInjectEntry(name string) *injectEntry {
	if !runtime.ValidHeaderName(s2b(name), true) || fastSpecial(name) {
		return nil
	}
	n := strings.Clone(name)
	return &injectEntry{bit: headerBit(n), prefix: append([]byte(n), ": "...)}
}

type injectEntry struct {
	bit    headerNames
	prefix []byte // "Name: "
}

// fastSpecial reports the response header names fasthttp's Add does not
// simply append (it replaces, ignores or files them elsewhere). It runs
// once per name (injectName caches the answer).
func fastSpecial(name string) bool {
	for _, n := range fastSpecialNames {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

var fastSpecialNames = []string{"Date", "Server", "Trailer", "Connection", "Set-Cookie",
	"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding"}

// addsTrailer reports a policy header announcing trailer fields: fasthttp
// then moves fields of the names it announces, added before it or after,
// out of the head (found by FuzzInjectedHead).
func addsTrailer(extra [][2]string) bool {
	for _, kv := range extra {
		if len(kv[0]) == len("Trailer") && strings.EqualFold(kv[0], "Trailer") {
			return true
		}
	}
	return false
}

// maxInjectBuf bounds the line buffer a connection keeps between responses.
const maxInjectBuf = 2 << 10

// setInject hands the rendered lines to the connection for the next
// response head; the buffer stays with the connection for its next
// response.
func (c *edgeConn) setInject(lines []byte) {
	c.injectBuf = lines[:0]
	c.inject = lines
}

// writeInjected writes p, the start of a response head, with the pending
// lines after its status line. It reports the bytes of p written.
func (c *edgeConn) writeInjected(p []byte) (int, error) {
	lines := c.inject
	c.inject = nil
	i := bytes.IndexByte(p, '\n')
	if i < 0 || !bytes.HasPrefix(p, []byte("HTTP/1.")) || c.raw == nil {
		// Not a response head (it always is: see the top of this file).
		// Writing the lines anywhere else would corrupt the stream.
		return c.Conn.Write(p)
	}
	n, err := c.raw.WriteInserting(p, i+1, lines)
	if cap(lines) > maxInjectBuf {
		c.injectBuf = nil // a rare large header: do not keep its buffer
	}
	return n, err
}

// stampInjected is stampResponse for a response whose policy headers may
// go to the wire through ec (injector).
func stampInjected(rh *fasthttp.ResponseHeader, id string, extra [][2]string, lines []runtime.Lines, ec *edgeConn) {
	if ec != nil {
		ec.inject = nil // never left over, but never for another response
	}
	if ec == nil || len(rh.PeekTrailerKeys()) > 0 || addsTrailer(extra) {
		stampResponse(rh, id, extra, lines)
		return
	}
	// X-Request-ID goes first, as fasthttp's Set would have put it before
	// any policy header: injected when the response lacks one (the id is
	// SaneRequestID's or the gateway's own: no control bytes), replaced
	// through fasthttp when the upstream sent its own.
	names := responseNames(rh)
	buf := ec.injectBuf[:0]
	if names&responseIDBit != 0 {
		rh.Set(responseIDName, id)
	} else {
		buf = append(buf, responseIDName+": "...)
		buf = append(buf, id...)
		buf = append(buf, '\r', '\n')
		names |= responseIDBit
	}
	runtime.EachPolicyHeader(extra, lines, func(kv *[2]string) {
		if e := injectName(kv[0]); e != nil && names&e.bit == 0 && noControlBytes(kv[1]) {
			buf = append(buf, e.prefix...)
			buf = append(buf, kv[1]...)
			buf = append(buf, '\r', '\n')
			// A later header of this name follows it in fasthttp's store,
			// below these lines: same order as Add.
			names |= e.bit
			return
		}
		addResponseHeader(rh, &names, kv[0], kv[1])
	}, func(l *runtime.Lines) {
		// Rendered lines (AddResponseLines) go whole when none of their
		// names is there yet.
		var bits headerNames
		for _, n := range l.Names {
			bits |= headerBit(n)
		}
		if names&bits == 0 {
			buf = append(buf, l.Text...)
			names |= bits
			return
		}
		policy.EachLine(l.Text, func(n, v string) { addResponseHeader(rh, &names, n, v) })
	})
	if len(buf) > 0 {
		ec.setInject(buf)
	}
}
