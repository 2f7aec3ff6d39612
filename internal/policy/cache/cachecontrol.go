package cache

import (
	"strconv"
	"strings"
)

// directives are the Cache-Control directives the cache acts on. Ages are
// -1 when absent.
type directives struct {
	noStore, noCache, private, public bool
	maxAge, sMaxAge                   int64
}

// parseCacheControl reads a Cache-Control field value (RFC 9111 §5.2).
// Unknown directives are ignored; a malformed age counts as 0 (stale).
func parseCacheControl(v string) directives {
	d := directives{maxAge: -1, sMaxAge: -1}
	for v != "" {
		var part string
		part, v, _ = strings.Cut(v, ",")
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "no-store":
			d.noStore = true
		case "no-cache":
			d.noCache = true
		case "private":
			d.private = true
		case "public":
			d.public = true
		case "max-age":
			d.maxAge = ageValue(val)
		case "s-maxage":
			d.sMaxAge = ageValue(val)
		}
	}
	return d
}

// ageValue parses delta-seconds; invalid values count as 0 (stale), which
// is what RFC 9111 asks for an invalid max-age.
func ageValue(s string) int64 {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return min(n, 1<<31) // RFC 9111: values beyond 2^31 mean "a long time"
}

// parseVary lists the header names of a Vary field (values may repeat).
func parseVary(values []string) (names []string, star bool) {
	for _, v := range values {
		for _, n := range strings.Split(v, ",") {
			n = strings.TrimSpace(n)
			switch {
			case n == "":
			case n == "*":
				star = true
			default:
				names = append(names, strings.ToLower(n))
			}
		}
	}
	return names, star
}
