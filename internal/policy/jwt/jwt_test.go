package jwt

import (
	"errors"
	"strings"
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

const wantChallenge = `Bearer realm="tollgate", error="invalid_token"`

// staticConfig accepts RS256, ES256, EdDSA and HS256 with one inline key each.
func staticConfig(t testing.TB) *Config {
	k := keysOnce()
	return &Config{
		Algorithms: []string{"RS256", "PS256", "ES256", "EdDSA", "HS256"},
		Keys: []KeyConfig{
			{KID: "rsa", PublicKey: pemPublic(t, &k.rsa.PublicKey)},
			{KID: "ec", Alg: "ES256", PublicKey: pemPublic(t, &k.ec.PublicKey)},
			{KID: "ed", PublicKey: pemPublic(t, k.ed.Public())},
			{KID: "hs", Alg: "HS256", Secret: string(k.secret)},
		},
		Issuer:   "https://idp.example",
		Audience: StringList{"orders-api", "billing-api"},
	}
}

func TestAuthenticate(t *testing.T) {
	k := keysOnce()
	now := time.Now()
	rsaPEM := pemPublic(t, &k.rsa.PublicKey)
	a := build(t, staticConfig(t))
	kid := func(id string) map[string]any { return map[string]any{"kid": id} }
	valid := claimsFor(now, nil)

	tests := []struct {
		name       string
		token      string
		wantDetail string // "" = accepted
	}{
		{"RS256", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), valid), ""},
		{"PS256 with the same RSA key", sign(t, gojwt.SigningMethodPS256, k.rsa, kid("rsa"), valid), ""},
		{"ES256", sign(t, gojwt.SigningMethodES256, k.ec, kid("ec"), valid), ""},
		{"EdDSA", sign(t, gojwt.SigningMethodEdDSA, k.ed, kid("ed"), valid), ""},
		{"HS256", sign(t, gojwt.SigningMethodHS256, k.secret, kid("hs"), valid), ""},
		{"no kid: key chosen by algorithm family", sign(t, gojwt.SigningMethodES256, k.ec, nil, valid), ""},
		{"second accepted audience", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"aud": []string{"other", "billing-api"}})), ""},
		{"expired within leeway", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"exp": now.Add(-10 * time.Second).Unix()})), ""},
		{"nbf within leeway", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"nbf": now.Add(10 * time.Second).Unix()})), ""},

		{"alg none", noneToken(valid), "the token's algorithm is not accepted"},
		{"alg none with a kid", noneTokenKID(valid, "hs"), "the token's algorithm is not accepted"},
		{"alg not in the allow-list", sign(t, gojwt.SigningMethodHS512, []byte(strings.Repeat("k", 64)), kid("hs"), valid), "the token's algorithm is not accepted"},
		{"unknown alg", "eyJhbGciOiJYWDk5OSIsInR5cCI6IkpXVCJ9.e30.c2ln", "the token's algorithm is not accepted"},
		{"HS256 signed with the RSA public key PEM, kid of the RSA key", sign(t, gojwt.SigningMethodHS256, []byte(rsaPEM), kid("rsa"), valid), "the token's algorithm does not match its signing key"},
		{"HS256 signed with the RSA public key PEM, no kid", sign(t, gojwt.SigningMethodHS256, []byte(rsaPEM), nil, valid), "the token's signature is not valid"},
		{"RS256 naming the HMAC key", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("hs"), valid), "the token's algorithm does not match its signing key"},
		{"ES256 naming the Ed25519 key", sign(t, gojwt.SigningMethodES256, k.ec, kid("ed"), valid), "the token's algorithm does not match its signing key"},
		{"signed by another RSA key", sign(t, gojwt.SigningMethodRS256, k.rsa2, kid("rsa"), valid), "the token's signature is not valid"},
		{"unknown kid", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("nope"), valid), "the token's signing key is not known"},
		{"jku header is ignored", sign(t, gojwt.SigningMethodRS256, k.rsa2, map[string]any{"kid": "evil", "jku": "http://127.0.0.1:1/jwks"}, valid), "the token's signing key is not known"},
		{"tampered payload", tamper(sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), valid)), "the token's signature is not valid"},
		{"malformed", "a.b.c", "the token is malformed"},
		{"too long", strings.Repeat("a", maxTokenBytes) + ".b.c", "the token is too long"},
		{"expired", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"exp": now.Add(-time.Minute).Unix()})), "the token has expired"},
		{"no exp", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"exp": nil})), "the token has no expiry time (exp)"},
		{"exp not a number", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"exp": "tomorrow"})), "the token's claims are malformed"},
		{"nbf in the future", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"nbf": now.Add(time.Minute).Unix()})), "the token is not valid yet"},
		{"wrong audience", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"aud": "admin-api"})), "the token's audience is not accepted"},
		{"no audience", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"aud": nil})), "the token's audience is not accepted"},
		{"wrong issuer", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"iss": "https://evil.example"})), "the token's issuer is not accepted"},
		{"no subject", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"sub": nil})), "the token has no sub claim naming the consumer"},
		{"unknown consumer", sign(t, gojwt.SigningMethodRS256, k.rsa, kid("rsa"), claimsFor(now, gojwt.MapClaims{"sub": "ghost"})), "the token's consumer is not known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := bearer(tt.token)
			ex.At = now
			c, err := a.Authenticate(ex)
			if tt.wantDetail == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.ID != "c-1" || c.Name != "acme" {
					t.Errorf("consumer = %+v", c)
				}
				if ex.ReqHeader.Get("Authorization") != "" {
					t.Error("credential not stripped (hide_credentials defaults to true)")
				}
				return
			}
			assertInvalid(t, c, err, tt.wantDetail)
			if ex.ReqHeader.Get("Authorization") == "" {
				t.Error("a refused credential was stripped")
			}
		})
	}
}

func assertInvalid(t *testing.T, c *policy.Consumer, err error, wantDetail string) {
	t.Helper()
	var pe *problem.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got consumer %v, err %v; want a 401 problem", c, err)
	}
	if pe.Status != 401 || pe.Detail != wantDetail {
		t.Errorf("got %d %q, want 401 %q", pe.Status, pe.Detail, wantDetail)
	}
	if len(pe.Headers) != 1 || pe.Headers[0] != [2]string{"WWW-Authenticate", wantChallenge} {
		t.Errorf("headers = %v", pe.Headers)
	}
	want := `{"type":"about:blank","title":"Unauthorized","status":401,"detail":"` + wantDetail + `","request_id":"rid"}`
	if got := string(pe.Body("rid")); got != want {
		t.Errorf("body = %s\nwant   %s", got, want)
	}
}

func noneToken(claims gojwt.MapClaims) string { return noneTokenKID(claims, "") }

func noneTokenKID(claims gojwt.MapClaims, kid string) string {
	tok := gojwt.NewWithClaims(gojwt.SigningMethodNone, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(gojwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		panic(err)
	}
	return s
}

// tamper changes the payload (sub "acme" -> "acmf") keeping the signature.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	b, _ := b64(parts[1])
	b = []byte(strings.Replace(string(b), `"acme"`, `"acmf"`, 1))
	parts[1] = strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(stdB64(b)), "=")
	return strings.Join(parts, ".")
}

func TestNoCredentials(t *testing.T) {
	a := build(t, staticConfig(t))
	for _, h := range []string{"", "Basic YWNtZTpzZWNyZXQ=", "Bearer ", "Bearer tg_live_abcdef", "Bearerx.y.z"} {
		ex := bearer("")
		ex.ReqHeader.Set("Authorization", h)
		if h == "" {
			ex.ReqHeader.Del("Authorization")
		}
		if c, err := a.Authenticate(ex); !errors.Is(err, policy.ErrNoCredentials) || c != nil {
			t.Errorf("Authorization %q: %v, %v; want ErrNoCredentials", h, c, err)
		}
	}
	if a.Challenge() != `Bearer realm="tollgate"` {
		t.Errorf("Challenge = %q", a.Challenge())
	}
}

func TestOptions(t *testing.T) {
	k := keysOnce()
	now := time.Now()
	byID := directory{"acme": {ID: "c-1", Name: "acme"}}
	tests := []struct {
		name       string
		mod        func(*Config)
		claims     gojwt.MapClaims
		wantDetail string
		wantHeader bool // Authorization still there after success
	}{
		{"require_exp false accepts no exp", func(c *Config) { c.RequireExp = new(bool) }, claimsFor(now, gojwt.MapClaims{"exp": nil}), "", false},
		{"require_exp false still checks a present exp", func(c *Config) { c.RequireExp = new(bool) }, claimsFor(now, gojwt.MapClaims{"exp": now.Add(-time.Hour).Unix()}), "the token has expired", false},
		{"hide_credentials false keeps the header", func(c *Config) { c.HideCredentials = new(bool) }, claimsFor(now, nil), "", true},
		{"zero leeway", func(c *Config) { c.Leeway = dur(0) }, claimsFor(now, gojwt.MapClaims{"exp": now.Add(-2 * time.Second).Unix()}), "the token has expired", false},
		{"max leeway", func(c *Config) { c.Leeway = dur(60 * time.Second) }, claimsFor(now, gojwt.MapClaims{"exp": now.Add(-50 * time.Second).Unix()}), "", false},
		{"consumer_by id", func(c *Config) { c.ConsumerBy = "id" }, claimsFor(now, gojwt.MapClaims{"sub": "c-1"}), "", false},
		{"consumer_by id refuses a name", func(c *Config) { c.ConsumerBy = "id" }, claimsFor(now, nil), "the token's consumer is not known", false},
		{"custom consumer claim", func(c *Config) { c.ConsumerClaim = "client_id" }, claimsFor(now, gojwt.MapClaims{"sub": "ghost", "client_id": "acme"}), "", false},
		{"custom consumer claim missing", func(c *Config) { c.ConsumerClaim = "client_id" }, claimsFor(now, nil), "the token has no client_id claim naming the consumer", false},
		{"no issuer or audience configured", func(c *Config) { c.Issuer, c.Audience = "", nil }, claimsFor(now, gojwt.MapClaims{"iss": nil, "aud": nil}), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{Algorithms: []string{"HS256"}, Keys: []KeyConfig{{Secret: string(k.secret)}}, Issuer: "https://idp.example", Audience: StringList{"orders-api"}}
			tt.mod(cfg)
			e := env()
			e.Services["consumers"] = policy.Directory(byID)
			built, err := cfg.Build(e)
			if err != nil {
				t.Fatal(err)
			}
			ex := bearer(sign(t, gojwt.SigningMethodHS256, k.secret, nil, tt.claims))
			ex.At = now
			c, err := built.(*Authenticator).Authenticate(ex)
			if tt.wantDetail != "" {
				assertInvalid(t, c, err, tt.wantDetail)
				return
			}
			if err != nil || c.Name != "acme" {
				t.Fatalf("got %v, %v", c, err)
			}
			if got := ex.ReqHeader.Get("Authorization") != ""; got != tt.wantHeader {
				t.Errorf("Authorization kept = %v, want %v", got, tt.wantHeader)
			}
		})
	}
}

func TestVerifiedTokenCache(t *testing.T) {
	k := keysOnce()
	now := time.Now()
	dir := directory{"acme": {ID: "c-1", Name: "acme"}}
	e := env()
	e.Services["consumers"] = policy.Directory(dir)
	built, err := staticConfig(t).Build(e)
	if err != nil {
		t.Fatal(err)
	}
	a := built.(*Authenticator)
	exp := now.Add(time.Minute)
	tok := sign(t, gojwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "rsa"},
		claimsFor(now, gojwt.MapClaims{"exp": exp.Unix(), "nbf": now.Add(-time.Minute).Unix()}))
	at := func(when time.Time) (*policy.Consumer, error) {
		ex := bearer(tok)
		ex.At = when
		return a.Authenticate(ex)
	}
	if _, err := at(now); err != nil {
		t.Fatal(err)
	}
	if len(a.verified.m) != 1 {
		t.Fatalf("verified tokens cached = %d, want 1", len(a.verified.m))
	}
	if c, err := at(now.Add(time.Second)); err != nil || c.ID != "c-1" {
		t.Fatalf("cached token refused: %v", err)
	}
	// past exp + leeway the cache is not trusted: full check, refused
	c, err := at(exp.Add(DefaultLeeway + 2*time.Second))
	assertInvalid(t, c, err, "the token has expired")
	// before nbf - leeway likewise
	c, err = at(now.Add(-2*time.Minute - DefaultLeeway))
	assertInvalid(t, c, err, "the token is not valid yet")
	// a consumer disabled (gone from the directory) is refused at once
	delete(dir, "acme")
	c, err = at(now)
	assertInvalid(t, c, err, "the token's consumer is not known")
}
