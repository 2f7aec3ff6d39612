package jwt

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
)

// idp is an httptest JWKS server whose key set, delay and hanging can be
// changed while it runs.
type idp struct {
	srv     *httptest.Server
	mu      sync.Mutex
	doc     []byte
	delay   time.Duration
	hang    bool
	release chan struct{}
	fetches atomic.Int64
}

func newIDP(t *testing.T, keys map[string]any) *idp {
	p := &idp{doc: jwkJSON(t, keys), release: make(chan struct{})}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		p.mu.Lock()
		doc, delay, hang := p.doc, p.delay, p.hang
		p.mu.Unlock()
		if hang {
			select { // hang until the client gives up or the test ends
			case <-r.Context().Done():
			case <-p.release:
			}
			return
		}
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	t.Cleanup(func() { close(p.release); p.srv.Close() })
	return p
}

func (p *idp) serve(t *testing.T, keys map[string]any) {
	doc := jwkJSON(t, keys)
	p.mu.Lock()
	p.doc = doc
	p.mu.Unlock()
}

func (p *idp) set(delay time.Duration, hang bool) {
	p.mu.Lock()
	p.delay, p.hang = delay, hang
	p.mu.Unlock()
}

func jwksConfig(url string, minRefetch, timeout time.Duration) *Config {
	return &Config{
		Algorithms:     []string{"RS256", "ES256", "EdDSA"},
		JWKSURL:        url,
		JWKSMinRefetch: config.Duration(minRefetch),
		JWKSTimeout:    config.Duration(timeout),
	}
}

func tokenKID(t testing.TB, kid string, k any) string {
	var m gojwt.SigningMethod
	switch k.(type) {
	case *rsa.PrivateKey:
		m = gojwt.SigningMethodRS256
	case *ecdsa.PrivateKey:
		m = gojwt.SigningMethodES256
	case ed25519.PrivateKey:
		m = gojwt.SigningMethodEdDSA
	}
	return sign(t, m, k, map[string]any{"kid": kid}, claimsFor(time.Now(), gojwt.MapClaims{"iss": nil, "aud": nil}))
}

func authOK(t *testing.T, a *Authenticator, tok string) {
	t.Helper()
	if c, err := a.Authenticate(bearer(tok)); err != nil || c.Name != "acme" {
		t.Fatalf("refused a valid token: %v", err)
	}
}

func authRefused(t *testing.T, a *Authenticator, tok, detail string) {
	t.Helper()
	c, err := a.Authenticate(bearer(tok))
	assertInvalid(t, c, err, detail)
}

func TestJWKSRotation(t *testing.T) {
	k := keysOnce()
	p := newIDP(t, map[string]any{"k1": &k.rsa.PublicKey, "ec1": &k.ec.PublicKey})
	a := build(t, jwksConfig(p.srv.URL, time.Millisecond, 2*time.Second))

	first := tokenKID(t, "k1", k.rsa)
	authOK(t, a, first) // waits for the first fetch, started by Build
	authOK(t, a, first) // served from the verified-token cache
	authOK(t, a, tokenKID(t, "ec1", k.ec))
	if n := p.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1", n)
	}

	p.serve(t, map[string]any{"k2": &k.rsa2.PublicKey, "ed1": k.ed.Public()})
	time.Sleep(5 * time.Millisecond)                                 // past jwks_min_refetch
	authOK(t, a, tokenKID(t, "k2", k.rsa2))                          // unknown kid: refetched, found
	authOK(t, a, tokenKID(t, "ed1", k.ed))                           // came with the same fetch
	time.Sleep(5 * time.Millisecond)                                 //
	authRefused(t, a, first, "the token's signing key is not known") // rotated out: the cached result is not trusted
	time.Sleep(5 * time.Millisecond)                                 // past jwks_min_refetch again (a loopback fetch can take less)
	authRefused(t, a, tokenKID(t, "k1", k.rsa), "the token's signing key is not known")
	if n := p.fetches.Load(); n != 4 { // first, k2, and one per refused k1 (jwks_min_refetch is 1ms here)
		t.Errorf("fetches = %d, want 4", n)
	}
}

func TestJWKSRefetchIsRateLimited(t *testing.T) {
	k := keysOnce()
	p := newIDP(t, map[string]any{"k1": &k.rsa.PublicKey})
	a := build(t, jwksConfig(p.srv.URL, time.Hour, 2*time.Second))
	authOK(t, a, tokenKID(t, "k1", k.rsa))

	p.serve(t, map[string]any{"k1": &k.rsa.PublicKey, "k2": &k.rsa2.PublicKey})
	for i := 0; i < 20; i++ { // made-up and new kids cannot make tollgate hammer the IdP
		authRefused(t, a, tokenKID(t, "k2", k.rsa2), "the token's signing key is not known")
	}
	if n := p.fetches.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1 (jwks_min_refetch 1h)", n)
	}
}

func TestJWKSConcurrentRefreshIsShared(t *testing.T) {
	k := keysOnce()
	p := newIDP(t, map[string]any{"k1": &k.rsa.PublicKey})
	a := build(t, jwksConfig(p.srv.URL, time.Millisecond, 2*time.Second))
	authOK(t, a, tokenKID(t, "k1", k.rsa))

	p.serve(t, map[string]any{"k2": &k.rsa2.PublicKey})
	p.set(100*time.Millisecond, false)
	time.Sleep(5 * time.Millisecond)
	tok := tokenKID(t, "k2", k.rsa2)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.Authenticate(bearer(tok)); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of 20 concurrent requests failed", failed.Load())
	}
	if n := p.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2 (one shared refresh)", n)
	}
}

// TestJWKSHangingServer: a JWKS server that accepts and never answers makes
// unknown-kid requests fail within about jwks_timeout, and never slows down
// requests whose key is already cached.
func TestJWKSHangingServer(t *testing.T) {
	k := keysOnce()
	const timeout = 300 * time.Millisecond
	p := newIDP(t, map[string]any{"k1": &k.rsa.PublicKey})
	a := build(t, jwksConfig(p.srv.URL, time.Millisecond, timeout))
	known := tokenKID(t, "k1", k.rsa)
	authOK(t, a, known)

	p.set(0, true)
	time.Sleep(5 * time.Millisecond)
	unknown := tokenKID(t, "k2", k.rsa2)
	var wg sync.WaitGroup
	slow := make(chan time.Duration, 4)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			c, err := a.Authenticate(bearer(unknown))
			assertInvalid(t, c, err, "the token's signing key is not known")
			slow <- time.Since(start)
		}()
	}
	// while the refresh hangs, cached keys keep working at full speed
	time.Sleep(20 * time.Millisecond)
	for i := 0; i < 50; i++ {
		start := time.Now()
		authOK(t, a, known)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("a request with a cached key took %v while the JWKS server hangs", d)
		}
	}
	wg.Wait()
	close(slow)
	for d := range slow {
		if d > timeout+250*time.Millisecond {
			t.Errorf("unknown-kid request took %v, want < jwks_timeout (%v) + margin", d, timeout)
		}
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	k := keysOnce()
	p := newIDP(t, map[string]any{"k1": &k.rsa.PublicKey})
	a := build(t, jwksConfig(p.srv.URL, time.Millisecond, 2*time.Second))
	authOK(t, a, tokenKID(t, "k1", k.rsa))
	a.jwks.refresh = 10 * time.Millisecond // config allows >= 1s; shortened for the test

	p.serve(t, map[string]any{"k1": &k.rsa.PublicKey, "k3": &k.rsa2.PublicKey})
	time.Sleep(20 * time.Millisecond)
	authOK(t, a, tokenKID(t, "k1", k.rsa)) // stale: starts a refresh without waiting for it
	deadline := time.Now().Add(3 * time.Second)
	for a.jwks.keys.Load().byKID["k3"] == nil {
		if time.Now().After(deadline) {
			t.Fatal("the stale key set was not refreshed in the background")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJWKSSourceSurvivesReload(t *testing.T) {
	k := keysOnce()
	p := newIDP(t, map[string]any{"k1": &k.rsa.PublicKey})
	state := map[string]any{}
	var mu sync.Mutex
	e := env()
	e.State = func(key string, mk func() any) any {
		mu.Lock()
		defer mu.Unlock()
		if v, ok := state[key]; ok {
			return v
		}
		state[key] = mk()
		return state[key]
	}
	cfg := jwksConfig(p.srv.URL, time.Hour, 2*time.Second)
	first, err := cfg.Build(e)
	if err != nil {
		t.Fatal(err)
	}
	authOK(t, first.(*Authenticator), tokenKID(t, "k1", k.rsa))
	second, err := cfg.Build(e)
	if err != nil {
		t.Fatal(err)
	}
	authOK(t, second.(*Authenticator), tokenKID(t, "k1", k.rsa))
	if n := p.fetches.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1: a reload must reuse the cached JWKS", n)
	}
}

func TestJWKSRequestContextBoundsTheWait(t *testing.T) {
	k := keysOnce()
	p := newIDP(t, map[string]any{"k1": &k.rsa.PublicKey})
	a := build(t, jwksConfig(p.srv.URL, time.Millisecond, 5*time.Second))
	authOK(t, a, tokenKID(t, "k1", k.rsa))
	p.set(0, true)
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ex := bearer(tokenKID(t, "k2", k.rsa2))
	ex.Ctx = ctx
	start := time.Now()
	if _, err := a.Authenticate(ex); err == nil {
		t.Fatal("accepted")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("a client that went away still waited %v", d)
	}
}

var _ policy.Authenticator = (*Authenticator)(nil)
