package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"sync"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
)

// testKeys are generated once per test binary (RSA generation is slow under -race).
type testKeys struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
	secret    []byte
}

var keysOnce = sync.OnceValue(func() *testKeys {
	k := &testKeys{secret: []byte("0123456789abcdef0123456789abcdef-hs256")}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

func pemPublic(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// sign makes a token; header entries (kid, jku...) are added to the JOSE header.
func sign(t testing.TB, m gojwt.SigningMethod, k any, header map[string]any, claims gojwt.MapClaims) string {
	t.Helper()
	tok := gojwt.NewWithClaims(m, claims)
	for n, v := range header {
		tok.Header[n] = v
	}
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// claimsFor is a valid claim set for consumer "acme".
func claimsFor(now time.Time, extra gojwt.MapClaims) gojwt.MapClaims {
	c := gojwt.MapClaims{"sub": "acme", "iss": "https://idp.example", "aud": "orders-api", "exp": now.Add(time.Hour).Unix()}
	for n, v := range extra {
		if v == nil {
			delete(c, n)
			continue
		}
		c[n] = v
	}
	return c
}

// directory is a map-backed policy.Directory.
type directory map[string]*policy.Consumer

func (d directory) ConsumerByName(n string) (*policy.Consumer, bool) { c, ok := d[n]; return c, ok }
func (d directory) ConsumerByID(id string) (*policy.Consumer, bool) {
	for _, c := range d {
		if c.ID == id {
			return c, true
		}
	}
	return nil, false
}

var consumers = directory{"acme": {ID: "c-1", Name: "acme", Plan: "free"}}

func env() policy.BuildEnv {
	return policy.BuildEnv{Services: map[string]any{"consumers": policy.Directory(consumers)}}
}

func build(t testing.TB, c *Config) *Authenticator {
	t.Helper()
	a, err := c.Build(env())
	if err != nil {
		t.Fatal(err)
	}
	return a.(*Authenticator)
}

func bearer(tok string) *policytest.Exchange {
	ex := policytest.New("GET", "/orders")
	ex.ReqHeader.Set("Authorization", "Bearer "+tok)
	return ex
}

func dur(d time.Duration) *config.Duration { v := config.Duration(d); return &v }

// jwkJSON renders public keys as a JWK Set document.
func jwkJSON(t testing.TB, keys map[string]any) []byte {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	var set []map[string]string
	for kid, k := range keys {
		switch p := k.(type) {
		case *rsa.PublicKey:
			set = append(set, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "n": enc(p.N.Bytes()), "e": enc(big.NewInt(int64(p.E)).Bytes())})
		case *ecdsa.PublicKey:
			b, _ := p.Bytes()
			set = append(set, map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": enc(b[1:33]), "y": enc(b[33:])})
		case ed25519.PublicKey:
			set = append(set, map[string]string{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": enc(p)})
		default:
			t.Fatalf("jwkJSON: %T", k)
		}
	}
	b, err := json.Marshal(map[string]any{"keys": set})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stdB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
