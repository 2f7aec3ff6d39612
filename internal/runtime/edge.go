package runtime

import (
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"strings"
	"sync/atomic"
)

// HopByHop are the headers that describe one connection, never forwarded
// (RFC 9110 §7.6.1), plus Proxy-Connection which old clients still send.
var HopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// ConnectionTokens splits a Connection header value into header names,
// calling f for each; f returns false to stop.
func ConnectionTokens(v string, f func(name string) bool) {
	for v != "" {
		var tok string
		tok, v, _ = strings.Cut(v, ",")
		tok = strings.TrimSpace(tok)
		if tok != "" && !f(tok) {
			return
		}
	}
}

// ResponseConnectionNames calls del for each header an upstream response's
// Connection value names: those are hop-by-hop too and must not reach the
// client (RFC 9110 §7.6.1). The "close" option names no header. The
// framing header Content-Length and the HopByHop list (which the caller
// removes by its own rules) are left alone, so an upstream cannot make the
// gateway drop the length of the body it relays.
func ResponseConnectionNames(v string, del func(name string)) {
	ConnectionTokens(v, func(name string) bool {
		if hop, _ := ClassifyHeader([]byte(name)); !hop && !strings.EqualFold(name, "close") && !strings.EqualFold(name, "Content-Length") {
			del(name)
		}
		return true
	})
}

// CheckConnectionHeader validates a Connection header: naming Content-Length,
// Host or a header the gateway sets is refused (SPEC §8). It returns the
// offending name, or "" when the header is acceptable.
func CheckConnectionHeader(v string) string {
	bad := ""
	ConnectionTokens(v, func(name string) bool {
		if IsGatewayHeader(name) {
			bad = name
			return false
		}
		return true
	})
	return bad
}

// SaneRequestID accepts a client's request id if it is short and plain.
func SaneRequestID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() [16]byte {
	var raw [8]byte
	_, _ = rand.Read(raw[:])
	var out [16]byte
	hex.Encode(out[:], raw[:])
	return out
}

// NewRequestID returns a process-unique id: a random per-process prefix and a
// counter, so generating one costs no syscall and no lock.
func NewRequestID() string {
	var b [RequestIDLen]byte
	FillRequestID(&b)
	return string(b[:])
}

// RequestIDLen is the length of the ids NewRequestID and FillRequestID make.
const RequestIDLen = 32

// FillRequestID writes a new id (as NewRequestID makes) into b.
func FillRequestID(b *[RequestIDLen]byte) {
	n := idCounter.Add(1)
	copy(b[:16], idPrefix[:])
	const digits = "0123456789abcdef"
	for i := RequestIDLen - 1; i >= 16; i-- {
		b[i] = digits[n&0xf]
		n >>= 4
	}
}

// ClientIP returns the socket peer, unless the peer is a trusted proxy: then
// X-Forwarded-For is read right to left and the first untrusted hop wins
// (SPEC §8).
func ClientIP(peer netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	if len(trusted) == 0 || !inPrefixes(peer, trusted) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !inPrefixes(client, trusted) {
				return client
			}
		}
	}
	return client
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Trusted reports whether the peer is a trusted proxy.
func Trusted(peer netip.Addr, trusted []netip.Prefix) bool { return inPrefixes(peer, trusted) }

// ValidHeaderName reports whether a request header name is acceptable:
// tokens only, and no underscore unless allowed (SPEC §8), because some
// upstreams treat "_" and "-" alike and a client could smuggle a trusted header.
func ValidHeaderName(name []byte, allowUnderscore bool) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if !tokenChar[c] || (c == '_' && !allowUnderscore) {
			return false
		}
	}
	return true
}

// tokenChar marks the bytes of an RFC 9110 token (tchar): one table load
// per byte, as this runs on every header name of every request.
var tokenChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range []byte("!#$%&'*+-.^_`|~") {
		t[c] = true
	}
	return t
}()

// ClassifyHeader reports whether a header name is hop-by-hop, or one of the
// identity headers only the gateway may set. It allocates nothing.
func ClassifyHeader(name []byte) (hop, identity bool) {
	switch len(name) {
	case 2: // TE
		return asciiEqualFold(name, "Te"), false
	case 7:
		return asciiEqualFold(name, "Trailer") || asciiEqualFold(name, "Upgrade"), false
	case 10:
		return asciiEqualFold(name, "Connection") || asciiEqualFold(name, "Keep-Alive"), false
	case 13:
		return false, asciiEqualFold(name, "X-Consumer-ID")
	case 15:
		return false, asciiEqualFold(name, "X-Consumer-Name") || asciiEqualFold(name, "X-Consumer-Plan")
	case 16:
		return asciiEqualFold(name, "Proxy-Connection"), false
	case 17:
		return asciiEqualFold(name, "Transfer-Encoding"), false
	case 18:
		return asciiEqualFold(name, "Proxy-Authenticate"), false
	case 19:
		return asciiEqualFold(name, "Proxy-Authorization"), false
	case 20:
		return false, asciiEqualFold(name, "X-Anonymous-Consumer")
	}
	return false, false
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c, d := b[i], s[i]
		if c|0x20 != d|0x20 {
			return false
		}
	}
	return true
}
