// Package clientkey turns a policy's `by:` setting into the identity a rate
// limit or quota counts against. It is parsed once at Build time.
package clientkey

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// Kind is what requests are grouped by.
type Kind int

const (
	Consumer Kind = iota // the authenticated consumer; the client IP when anonymous
	Route                // every request on the route shares one counter
	IP                   // the client IP
	Header               // a request header's value; the client IP when absent
	Plan                 // the consumer's plan; the client IP when anonymous
)

// By is a parsed `by:` setting.
type By struct {
	Kind   Kind
	Header string // canonical header name for Kind == Header
}

// Parse reads consumer | route | ip | header:<Name> | plan ("" = consumer).
func Parse(s string) (By, error) {
	switch s {
	case "", "consumer":
		return By{Kind: Consumer}, nil
	case "route":
		return By{Kind: Route}, nil
	case "ip":
		return By{Kind: IP}, nil
	case "plan":
		return By{Kind: Plan}, nil
	}
	if name, ok := strings.CutPrefix(s, "header:"); ok && validHeaderName(name) {
		return By{Kind: Header, Header: http.CanonicalHeaderKey(name)}, nil
	}
	return By{}, fmt.Errorf("by: %q is not one of consumer, route, ip, header:<Name>, plan", s)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// String is the setting as written, also the name of the limit in headers.
func (b By) String() string {
	switch b.Kind {
	case Route:
		return "route"
	case IP:
		return "ip"
	case Header:
		return "header:" + b.Header
	case Plan:
		return "plan"
	}
	return "consumer"
}

// maxRaw is the longest identity used verbatim; longer ones (header values)
// are hashed so a client cannot make keys arbitrarily large.
const maxRaw = 64

// Key is the identity of ex's client under b, prefixed by its kind so a
// consumer id can never collide with an IP or a header value.
func (b By) Key(ex policy.Exchange) string {
	var buf [64]byte
	return string(b.AppendKey(buf[:0], ex))
}

// AppendKey appends Key(ex) to dst, so a caller building a longer counter
// key pays for one string instead of two.
func (b By) AppendKey(dst []byte, ex policy.Exchange) []byte {
	c := ex.Consumer()
	authed := c != nil && !c.Anonymous
	switch b.Kind {
	case Consumer:
		if authed {
			return appendBounded(append(dst, "c:"...), c.ID)
		}
	case Route:
		return append(dst, 'r')
	case Plan:
		if authed && c.Plan != "" {
			return appendBounded(append(dst, "p:"...), c.Plan)
		}
	case Header:
		if v := ex.Header().Get(b.Header); v != "" {
			return appendBounded(append(dst, "h:"...), v)
		}
	}
	return ex.ClientIP().AppendTo(append(dst, "ip:"...))
}

func appendBounded(dst []byte, s string) []byte {
	if len(s) <= maxRaw {
		return append(dst, s...)
	}
	return append(dst, bounded(s)...)
}

func bounded(s string) string {
	if len(s) <= maxRaw {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "#" + hex.EncodeToString(sum[:16])
}
