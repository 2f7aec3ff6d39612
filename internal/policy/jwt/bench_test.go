package jwt

import (
	"testing"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"
)

// BenchmarkAuthenticate measures a request per algorithm family: "cached" is
// a token seen before (hash, cache hit, consumer lookup), "full" the complete
// check (parse, pinned key, signature, claims, consumer lookup).
func BenchmarkAuthenticate(b *testing.B) {
	k := keysOnce()
	a := build(b, staticConfig(b))
	claims := claimsFor(time.Now(), nil)
	for _, bc := range []struct {
		name string
		tok  string
	}{
		{"HS256", sign(b, gojwt.SigningMethodHS256, k.secret, map[string]any{"kid": "hs"}, claims)},
		{"RS256", sign(b, gojwt.SigningMethodRS256, k.rsa, map[string]any{"kid": "rsa"}, claims)},
		{"ES256", sign(b, gojwt.SigningMethodES256, k.ec, map[string]any{"kid": "ec"}, claims)},
		{"EdDSA", sign(b, gojwt.SigningMethodEdDSA, k.ed, map[string]any{"kid": "ed"}, claims)},
	} {
		for _, cached := range []bool{true, false} {
			name := bc.name + "/full"
			if cached {
				name = bc.name + "/cached"
			}
			b.Run(name, func(b *testing.B) {
				ex := bearer(bc.tok)
				a.hide = false
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if !cached {
						clear(a.verified.m)
					}
					if _, err := a.Authenticate(ex); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
