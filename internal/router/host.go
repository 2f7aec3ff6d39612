package router

import (
	"errors"
	"strings"
)

// maxHost bounds the stack buffer Match lowercases the host into; longer
// hosts (over the DNS limit of 253) only match any-host routes.
const maxHost = 256

// hostRoot returns (creating) the trie root for one host spec:
// "" or "*" = any host, "*.example.com" = wildcard, else exact.
func (r *Router) hostRoot(spec string) (*node, error) {
	h := strings.TrimSuffix(strings.ToLower(spec), ".")
	if h == "" || h == "*" {
		if r.any == nil {
			r.any = &node{}
		}
		return r.any, nil
	}
	table, key := r.exact, h
	if rest, ok := strings.CutPrefix(h, "*."); ok {
		table, key = r.wild, "."+rest
		h = rest
	}
	if err := validHost(h); err != nil {
		return nil, err
	}
	n := table[key]
	if n == nil {
		n = &node{}
		table[key] = n
	}
	return n, nil
}

func validHost(h string) error {
	if len(h) >= maxHost {
		return errors.New("too long")
	}
	if strings.ContainsAny(h, "*/ \t\\@?#") {
		return errors.New("a wildcard is only allowed as a leading \"*.\" label; no ports, paths or spaces")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return errors.New("empty label")
		}
	}
	return nil
}

// lowerHost copies host into buf in lower case, dropping one trailing dot.
// It returns nil when the host cannot match any host-specific route.
func lowerHost(host string, buf *[maxHost]byte) []byte {
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) >= maxHost {
		return nil
	}
	b := buf[:len(host)]
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return b
}
