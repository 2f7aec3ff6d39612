package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	maxJWKSBytes = 1 << 20
	maxJWKSKeys  = 100
)

// jwksSource is a cached JWKS document. Requests read the cached set with one
// atomic load; a refresh runs in its own goroutine (one at a time: concurrent
// callers share it) and a request waits for it only when its kid is unknown,
// and then at most the fetch timeout. Refreshes caused by unknown kids are
// rate limited by minRefetch so a client cannot make the gateway hammer the
// identity provider with made-up kids.
type jwksSource struct {
	url        string
	client     *http.Client
	timeout    time.Duration
	refresh    time.Duration
	minRefetch time.Duration

	keys        atomic.Pointer[keySet]
	fetchedAt   atomic.Int64 // unix nanos of the last successful fetch
	lastAttempt atomic.Int64 // unix nanos of the last fetch started

	mu       sync.Mutex
	inflight chan struct{} // closed when the running fetch ends; nil when idle
}

func newJWKSSource(url string, s settings) *jwksSource {
	src := &jwksSource{
		url:        url,
		client:     &http.Client{Timeout: s.timeout},
		timeout:    s.timeout,
		refresh:    s.refresh,
		minRefetch: s.minRefetch,
	}
	src.keys.Store(newKeySet(nil))
	return src
}

// current is the cached key set; it also starts a background refresh when
// the set is older than the refresh interval (the request never waits for it).
func (s *jwksSource) current() *keySet {
	now := time.Now().UnixNano()
	if now-s.fetchedAt.Load() > int64(s.refresh) && now-s.lastAttempt.Load() >= int64(s.minRefetch) {
		s.start(nil)
	}
	return s.keys.Load()
}

// awaitRefresh starts (or joins) a refresh and waits for it, bounded by the
// fetch timeout and ctx. seen is the key set the caller looked in: if a fetch
// has replaced it since, there is nothing to wait for. It returns false when
// no refresh was allowed or it did not finish in time.
func (s *jwksSource) awaitRefresh(ctx context.Context, seen *keySet) bool {
	done := s.start(seen)
	if done == nil {
		return false
	}
	t := time.NewTimer(s.timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// start begins a fetch unless one is running (then it returns that one's
// channel), a fetch finished since the caller looked at seen (then a closed
// channel), or the last one started less than minRefetch ago (then nil).
func (s *jwksSource) start(seen *keySet) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight != nil {
		return s.inflight
	}
	if seen != nil && s.keys.Load() != seen {
		return closed
	}
	now := time.Now().UnixNano()
	if last := s.lastAttempt.Load(); last != 0 && now-last < int64(s.minRefetch) {
		return nil
	}
	s.lastAttempt.Store(now)
	done := make(chan struct{})
	s.inflight = done
	go s.run(done)
	return done
}

func (s *jwksSource) run(done chan struct{}) {
	// Detached from any request: one client giving up must not cancel the
	// fetch others are waiting for. The client's own timeout bounds it.
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	keys, err := s.fetch(ctx)
	s.mu.Lock()
	if err == nil { // on failure the last good set stays
		s.keys.Store(newKeySet(keys))
		s.fetchedAt.Store(time.Now().UnixNano())
	}
	s.inflight = nil
	s.mu.Unlock()
	close(done)
}

func (s *jwksSource) fetch(ctx context.Context) ([]*key, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks: %s answered %d", s.url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxJWKSBytes {
		return nil, errors.New("jwks: document larger than 1 MiB")
	}
	return ParseJWKS(body)
}

// jwk is one JSON Web Key (RFC 7517), the members tollgate reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// ParseJWKS reads a JWK Set. Keys tollgate cannot or must not use are
// skipped: encryption keys (use != sig), symmetric keys (a secret is never
// taken from a URL), unknown types and curves. An error means the document
// as a whole is unusable.
func ParseJWKS(data []byte) ([]*key, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, errors.New("jwks: not a JSON JWK Set")
	}
	var keys []*key
	for _, raw := range doc.Keys {
		var j jwk
		if json.Unmarshal(raw, &j) != nil {
			continue
		}
		if k, err := j.toKey(); err == nil {
			keys = append(keys, k)
		}
		if len(keys) == maxJWKSKeys {
			break
		}
	}
	return keys, nil
}

func (j *jwk) toKey() (*key, error) {
	if j.Use != "" && j.Use != "sig" {
		return nil, errors.New("not a signing key")
	}
	var k *key
	var err error
	switch j.Kty {
	case "RSA":
		k, err = j.rsaKey()
	case "EC":
		k, err = j.ecKey()
	case "OKP":
		k, err = j.okpKey()
	default:
		return nil, errors.New("unsupported key type")
	}
	if err != nil {
		return nil, err
	}
	k.kid = j.Kid
	if j.Alg != "" {
		k.alg = j.Alg
		if !k.fits(j.Alg) {
			return nil, errors.New("alg does not fit the key")
		}
	}
	return k, nil
}

func (j *jwk) rsaKey() (*key, error) {
	n, err1 := b64(j.N)
	e, err2 := b64(j.E)
	if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("bad RSA key")
	}
	exp := int(new(big.Int).SetBytes(e).Int64())
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}
	if pub.N.BitLen() < minRSABits || exp < 3 || exp%2 == 0 {
		return nil, errors.New("weak RSA key")
	}
	return &key{fam: famRSA, material: pub}, nil
}

func (j *jwk) ecKey() (*key, error) {
	alg := map[string]string{"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[j.Crv]
	if alg == "" {
		return nil, errors.New("unsupported curve")
	}
	curve := curveOf(alg)
	size := (curve.Params().BitSize + 7) / 8
	x, err1 := b64(j.X)
	y, err2 := b64(j.Y)
	if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
		return nil, errors.New("bad EC key")
	}
	point := append(append([]byte{4}, x...), y...)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point) // rejects points off the curve
	if err != nil {
		return nil, errors.New("bad EC key")
	}
	return &key{fam: famEC, material: pub}, nil
}

func (j *jwk) okpKey() (*key, error) {
	x, err := b64(j.X)
	if j.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
		return nil, errors.New("bad OKP key")
	}
	return &key{fam: famEd25519, material: ed25519.PublicKey(x)}, nil
}

// b64 decodes base64url, with or without padding.
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
