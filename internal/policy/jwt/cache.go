package jwt

import (
	"sync"
	"time"
)

const (
	// maxCachedTokens bounds the verified-token cache; when full it is emptied
	// (tokens are re-verified, nothing is wrongly accepted).
	maxCachedTokens = 8192
	// maxCacheFor caps the cache life of a token without exp (require_exp: false).
	maxCacheFor = 5 * time.Minute
)

// verifiedToken is what is remembered of a token whose signature and claims
// checked out. Only successes are cached.
type verifiedToken struct {
	subject     string
	from, until time.Time
	keys        *keySet // the JWKS set it was verified with
}

func (v verifiedToken) usable(now time.Time, keys *keySet) bool {
	return keys == v.keys && !now.Before(v.from) && !now.After(v.until)
}

// tokenCache maps the SHA-256 of a raw token to its verification result.
type tokenCache struct {
	mu sync.RWMutex
	m  map[[32]byte]verifiedToken
}

func newTokenCache() *tokenCache { return &tokenCache{m: map[[32]byte]verifiedToken{}} }

func (c *tokenCache) get(id [32]byte) (verifiedToken, bool) {
	c.mu.RLock()
	v, ok := c.m[id]
	c.mu.RUnlock()
	return v, ok
}

func (c *tokenCache) put(id [32]byte, v verifiedToken) {
	c.mu.Lock()
	if len(c.m) >= maxCachedTokens {
		clear(c.m)
	}
	c.m[id] = v
	c.mu.Unlock()
}
