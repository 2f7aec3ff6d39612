package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

func TestValidate(t *testing.T) {
	k := keysOnce()
	secret := string(k.secret)
	rsaPEM := pemPublic(t, &k.rsa.PublicKey)
	ecPEM := pemPublic(t, &k.ec.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings, one per expected error
	}{
		{"valid HS", Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{Secret: secret}}}, nil},
		{"valid JWKS", Config{Algorithms: []string{"RS256"}, JWKSURL: "https://idp.example/.well-known/jwks.json"}, nil},
		{"nothing", Config{}, []string{"algorithms is required", "set keys, jwks_url or both"}},
		{"alg none", Config{Algorithms: []string{"none"}, JWKSURL: "https://x"}, []string{"algorithm none is never accepted"}},
		{"unknown alg", Config{Algorithms: []string{"HS1"}, JWKSURL: "https://x"}, []string{`unknown algorithm "HS1"`}},
		{"secret and public key", Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{Secret: secret, PublicKey: rsaPEM}}}, []string{"keys[0]: set exactly one"}},
		{"short secret", Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{Secret: "short"}}}, []string{"keys[0]: secret must be at least 32 bytes"}},
		{"secret without HS algorithm", Config{Algorithms: []string{"RS256"}, Keys: []KeyConfig{{Secret: secret}}}, []string{"keys[0]: no algorithm in algorithms can use this key"}},
		{"RSA key without RS/PS algorithm", Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{PublicKey: rsaPEM}}}, []string{"keys[0]: no algorithm"}},
		{"key alg not allowed", Config{Algorithms: []string{"RS256"}, Keys: []KeyConfig{{Alg: "RS512", PublicKey: rsaPEM}}}, []string{`keys[0]: alg "RS512" is not in algorithms`}},
		{"key alg of another family", Config{Algorithms: []string{"RS256", "HS256"}, Keys: []KeyConfig{{Alg: "HS256", PublicKey: rsaPEM}}}, []string{`keys[0]: alg "HS256" does not fit`}},
		{"EC curve does not fit alg", Config{Algorithms: []string{"ES256"}, Keys: []KeyConfig{{PublicKey: pemPublic(t, &p384.PublicKey)}}}, []string{"keys[0]: no algorithm"}},
		{"EC key with its alg", Config{Algorithms: []string{"ES256"}, Keys: []KeyConfig{{Alg: "ES256", PublicKey: ecPEM}}}, nil},
		{"weak RSA key", Config{Algorithms: []string{"RS256"}, Keys: []KeyConfig{{PublicKey: pemPublic(t, &small.PublicKey)}}}, []string{"at least 2048 bits"}},
		{"not PEM", Config{Algorithms: []string{"RS256"}, Keys: []KeyConfig{{PublicKey: "hello"}}}, []string{"public_key is not PEM"}},
		{"private key PEM", Config{Algorithms: []string{"RS256"}, Keys: []KeyConfig{{PublicKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}}, []string{`PEM block "PRIVATE KEY"`}},
		{"duplicate kid", Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{KID: "a", Secret: secret}, {KID: "a", Secret: secret}}}, []string{`kid "a" is used twice`}},
		{"bad jwks_url", Config{Algorithms: []string{"RS256"}, JWKSURL: "file:///etc/jwks"}, []string{"jwks_url must be an http(s) URL"}},
		{"bad consumer_by", Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{Secret: secret}}, ConsumerBy: "email"}, []string{"consumer_by must be name or id"}},
		{"empty audience", Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{Secret: secret}}, Audience: StringList{""}}, []string{"audience[0] is empty"}},
		{"leeway over 60s", Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{Secret: secret}}, Leeway: dur(61 * time.Second)}, []string{"leeway must be between 0s and 1m0s"}},
		{"durations", Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{Secret: secret}}, JWKSRefresh: config.Duration(time.Millisecond), JWKSMinRefetch: -1, JWKSTimeout: config.Duration(time.Minute)},
			[]string{"jwks_refresh must be at least 1s", "jwks_min_refetch must not be negative", "jwks_timeout must be between"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := tt.cfg.Validate()
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors %v, want %d %v", len(errs), errs, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to contain %q", i, errs[i], w)
				}
			}
			_, err := tt.cfg.Build(env())
			if (err == nil) != (tt.want == nil) {
				t.Errorf("Build err = %v", err)
			}
		})
	}
}

func TestBuildNeedsDirectory(t *testing.T) {
	c := Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{Secret: string(keysOnce().secret)}}}
	if _, err := c.Build(policy.BuildEnv{}); err == nil || !strings.Contains(err.Error(), "consumer directory") {
		t.Errorf("Build without a directory: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	k := keysOnce()
	good := jwkJSON(t, map[string]any{"r": &k.rsa.PublicKey, "e": &k.ec.PublicKey, "d": k.ed.Public()})
	keys, err := ParseJWKS(good)
	if err != nil || len(keys) != 3 {
		t.Fatalf("good set: %d keys, %v", len(keys), err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	skipped := []string{
		`{"kty":"oct","kid":"s","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`, // never take a secret from a URL
		`{"kty":"RSA","kid":"enc","use":"enc","n":"` + enc(k.rsa.N.Bytes()) + `","e":"AQAB"}`,
		`{"kty":"RSA","kid":"weak","n":"` + enc(make([]byte, 64)) + `","e":"AQAB"}`,
		`{"kty":"RSA","kid":"badalg","alg":"HS256","n":"` + enc(k.rsa.N.Bytes()) + `","e":"AQAB"}`,
		`{"kty":"EC","kid":"offcurve","crv":"P-256","x":"` + enc(make([]byte, 32)) + `","y":"` + enc(make([]byte, 32)) + `"}`,
		`{"kty":"EC","kid":"k","crv":"secp256k1","x":"AA","y":"AA"}`,
		`{"kty":"OKP","kid":"x","crv":"X25519","x":"` + enc(make([]byte, 32)) + `"}`,
		`{"kty":"RSA","kid":"bad-b64","n":"!!!","e":"AQAB"}`,
		`"not an object"`,
	}
	for _, s := range skipped {
		keys, err := ParseJWKS([]byte(`{"keys":[` + s + `]}`))
		if err != nil || len(keys) != 0 {
			t.Errorf("%s: %d keys, %v; want skipped", s, len(keys), err)
		}
	}
	for _, s := range []string{"", "[]", "{", `{"keys":{}}`} {
		if _, err := ParseJWKS([]byte(s)); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}

func TestReadmeExample(t *testing.T) {
	t.Setenv("JWT_SECRET_AT_LEAST_32_BYTES_LONG", strings.Repeat("s", 32)) // the README's ${...}, expanded like the loader does
	if n := len(policytest.CheckREADME(t, Definition)); n < 2 {
		t.Fatalf("README has %d valid jwt examples, want 2", n)
	}
}

func TestAudienceDecoding(t *testing.T) {
	for doc, want := range map[string]int{"audience: api": 1, "audience: [a, b]": 2} {
		var c Config
		if err := yaml.Unmarshal([]byte(doc), &c); err != nil || len(c.Audience) != want {
			t.Errorf("%q: %v, %v", doc, c.Audience, err)
		}
	}
	var c Config
	if err := yaml.Unmarshal([]byte("audience: {a: b}"), &c); err == nil {
		t.Error("a map was accepted as audience")
	}
}

// FuzzJWTParse feeds arbitrary strings as bearer tokens: never a panic, and
// only a consumer, ErrNoCredentials or a 401 problem come out.
func FuzzJWTParse(f *testing.F) {
	k := keysOnce()
	now := time.Now()
	a := build(f, staticConfig(f))
	f.Add(sign(f, gojwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "rsa"}, claimsFor(now, nil)))
	f.Add(sign(f, gojwt.SigningMethodHS256, k.secret, nil, claimsFor(now, nil)))
	f.Add(noneToken(claimsFor(now, nil)))
	for _, s := range []string{"", "a.b.c", "..", "e30.e30.", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA", "eyJhbGciOiJFUzI1NiIsImtpZCI6WzFdfQ.e30.AA", "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSJ9.eyJleHAiOiJ4In0.AA"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		ex := bearer(tok)
		c, err := a.Authenticate(ex)
		var pe *problem.Error
		switch {
		case err == nil:
			if c == nil {
				t.Fatal("nil consumer without error")
			}
		case errors.Is(err, policy.ErrNoCredentials):
		case errors.As(err, &pe):
			if pe.Status != 401 {
				t.Fatalf("status %d", pe.Status)
			}
		default:
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
	})
}

func FuzzJWKSParse(f *testing.F) {
	k := keysOnce()
	f.Add(jwkJSON(f, map[string]any{"r": &k.rsa.PublicKey, "e": &k.ec.PublicKey, "d": k.ed.Public()}))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-521","x":"AA","y":"AA"},{"kty":"RSA","n":"AQ","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"","e":"AAAAAAAA"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseJWKS(data)
		if err != nil {
			return
		}
		for _, k := range keys {
			if k.fam == 0 || k.material == nil {
				t.Fatalf("unusable key %+v", k)
			}
		}
	})
}
