package router

import (
	"strings"

	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Errors returned by Canonicalize. Each is a 400 problem the edge can render
// as is; compare with errors.Is. They are shared values so rejecting a path
// does not allocate.
var (
	ErrNotAbsolute  = problem.BadRequest("the request path must start with '/'")
	ErrBadEscape    = problem.BadRequest("the request path contains a malformed percent-encoding")
	ErrEncodedSlash = problem.BadRequest("the request path contains an encoded slash (%2F)")
	ErrBackslash    = problem.BadRequest("the request path contains a backslash")
	ErrNUL          = problem.BadRequest("the request path contains a NUL byte")
	ErrControl      = problem.BadRequest("the request path contains a control character")
	ErrEncodedDot   = problem.BadRequest("the request path contains an encoded dot segment (%2E)")
	ErrDotSegment   = problem.BadRequest("the request path contains a '.' or '..' segment")
)

// byteClass says how Canonicalize treats one raw byte of a path.
type byteClass uint8

const (
	classEncode  byteClass = iota // legal on the wire only percent-encoded: encode it
	classKeep                     // pchar or '/': kept as is
	classControl                  // control character: reject
)

var pathClass = func() (t [256]byte) {
	for c := 0; c < 256; c++ {
		switch {
		case c < 0x20 || c == 0x7f:
			t[c] = byte(classControl)
		case isUnreserved(byte(c)) || strings.IndexByte("!$&'()*+,;=:@/", byte(c)) >= 0:
			t[c] = byte(classKeep)
		default:
			t[c] = byte(classEncode)
		}
	}
	return t
}()

// isUnreserved reports RFC 3986 unreserved characters: the only ones whose
// percent-encoding is equivalent to the character itself.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// Canonicalize turns a raw request path (as sent on the wire, still
// percent-encoded, without the query) into the one form used for routing,
// auth and forwarding:
//
//   - it must start with '/';
//   - encoded slash (%2F), backslash (raw or %5C), NUL (raw or %00) and any
//     other control character (raw or encoded) are rejected;
//   - dot segments ("." and "..") are rejected, not resolved: no legitimate
//     client sends them (browsers and HTTP libraries resolve them first), and
//     resolving them is how path-based access rules get bypassed. A dot
//     segment spelt with %2E gets its own error;
//   - percent-encoded unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded;
//     every other escape is kept with upper-case hex (%3f becomes %3F);
//   - bytes not allowed raw in a path (space, '"', '<', '>', '?', '#', '[',
//     ']', '^', '`', '{', '|', '}', and every non-ASCII byte) are encoded;
//   - runs of '/' collapse to one.
//
// The result is a fixed point: Canonicalize(out) == out. A path that is
// already canonical is returned as is, without allocating.
func Canonicalize(raw string) (string, error) {
	if raw == "" || raw[0] != '/' {
		return "", ErrNotAbsolute
	}
	if isPlain(raw) {
		return raw, checkDotSegments(raw)
	}
	return canonicalizeSlow(raw)
}

// isPlain reports whether raw needs no rewriting: only bytes kept as is, no
// escapes, no "//". Dot segments are checked separately.
func isPlain(raw string) bool {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if byteClass(pathClass[c]) != classKeep || c == '/' && i > 0 && raw[i-1] == '/' {
			return false
		}
	}
	return true
}

// checkDotSegments rejects any "." or ".." segment in a path without escapes.
func checkDotSegments(p string) error {
	for i := 0; i < len(p); i++ {
		if p[i] != '.' || p[i-1] != '/' { // p[0] is '/', so i-1 is safe once p[i]=='.'
			continue
		}
		j := i + 1
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' {
			return ErrDotSegment
		}
	}
	return nil
}

const upperHex = "0123456789ABCDEF"

// canonicalizeSlow builds the canonical form byte by byte. segStart is where
// the current output segment begins; encodedDot records a %2E in it.
func canonicalizeSlow(raw string) (string, error) {
	out := make([]byte, 0, len(raw)+8)
	segStart, encodedDot := 0, false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '/':
			if err := dotSegmentError(out[segStart:], encodedDot); err != nil {
				return "", err
			}
			if len(out) > 0 && out[len(out)-1] == '/' {
				continue // collapse "//"
			}
			out = append(out, '/')
			segStart, encodedDot = len(out), false
		case c == '%':
			v, ok := unhex2(raw, i+1)
			if !ok {
				return "", ErrBadEscape
			}
			if err := rejectDecoded(v); err != nil {
				return "", err
			}
			if isUnreserved(v) {
				encodedDot = encodedDot || v == '.'
				out = append(out, v)
			} else {
				out = append(out, '%', upperHex[v>>4], upperHex[v&15])
			}
			i += 2
		case c == '\\':
			return "", ErrBackslash
		case c == 0:
			return "", ErrNUL
		case byteClass(pathClass[c]) == classControl:
			return "", ErrControl
		case byteClass(pathClass[c]) == classEncode:
			out = append(out, '%', upperHex[c>>4], upperHex[c&15])
		default:
			out = append(out, c)
		}
	}
	if err := dotSegmentError(out[segStart:], encodedDot); err != nil {
		return "", err
	}
	return string(out), nil
}

// rejectDecoded rejects escapes whose decoded byte is never allowed in a path.
func rejectDecoded(v byte) error {
	switch {
	case v == '/':
		return ErrEncodedSlash
	case v == '\\':
		return ErrBackslash
	case v == 0:
		return ErrNUL
	case v < 0x20 || v == 0x7f:
		return ErrControl
	}
	return nil
}

func dotSegmentError(seg []byte, encodedDot bool) error {
	if string(seg) != "." && string(seg) != ".." {
		return nil
	}
	if encodedDot {
		return ErrEncodedDot
	}
	return ErrDotSegment
}

// unhex2 decodes the two hex digits at s[i:i+2].
func unhex2(s string, i int) (byte, bool) {
	if i+1 >= len(s) {
		return 0, false
	}
	hi, ok1 := unhex(s[i])
	lo, ok2 := unhex(s[i+1])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
