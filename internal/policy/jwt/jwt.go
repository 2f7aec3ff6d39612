package jwt

import (
	"context"
	"crypto/sha256"
	"errors"
	"strconv"
	"strings"
	"time"

	gojwt "github.com/golang-jwt/jwt/v5"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

const (
	challenge        = `Bearer realm="tollgate"`
	invalidChallenge = `Bearer realm="tollgate", error="invalid_token"`
	maxTokenBytes    = 16 << 10
)

// Client-facing reasons a token is refused. They say what is wrong without
// internals (no parser messages, key ids or expected values).
var (
	errMalformed      = invalid("the token is malformed")
	errTooLong        = invalid("the token is too long")
	errAlgorithm      = invalid("the token's algorithm is not accepted")
	errUnknownKey     = invalid("the token's signing key is not known")
	errKeyMismatch    = invalid("the token's algorithm does not match its signing key")
	errSignature      = invalid("the token's signature is not valid")
	errClaims         = invalid("the token's claims are malformed")
	errExpired        = invalid("the token has expired")
	errNoExpiry       = invalid("the token has no expiry time (exp)")
	errNotYetValid    = invalid("the token is not valid yet")
	errIssuer         = invalid("the token's issuer is not accepted")
	errAudience       = invalid("the token's audience is not accepted")
	errUnknownConsumr = invalid("the token's consumer is not known")
)

func invalid(detail string) *problem.Error { return problem.Unauthorized(invalidChallenge, detail) }

// Build does all parsing up front: keys, defaults, the JWKS source (shared
// across reloads through env.State, so a reload neither refetches nor leaks).
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	if errs := c.Validate(); errs != nil {
		return nil, errors.Join(errs...)
	}
	dir, ok := policy.Service[policy.Directory](env, "consumers")
	if !ok {
		return nil, errors.New("jwt: the consumer directory is not available")
	}
	s := c.settings()
	keys := make([]*key, 0, len(c.Keys))
	for _, kc := range c.Keys {
		k, _ := parseKeyConfig(kc, c.Algorithms) // checked by Validate
		keys = append(keys, k)
	}
	a := &Authenticator{
		settings:   s,
		dir:        dir,
		static:     newKeySet(keys),
		allowed:    map[string]bool{},
		parser:     gojwt.NewParser(gojwt.WithoutClaimsValidation()), // claims are checked below, with clear reasons
		verified:   newTokenCache(),
		errNoClaim: invalid("the token has no " + s.claim + " claim naming the consumer"),
	}
	for _, alg := range c.Algorithms {
		a.allowed[alg] = true
	}
	if c.JWKSURL != "" {
		a.jwks = c.jwksSource(env, s)
		a.jwks.current() // start the first fetch now; requests do not wait for it unless they must
	}
	return a, nil
}

func (c *Config) jwksSource(env policy.BuildEnv, s settings) *jwksSource {
	mk := func() any { return newJWKSSource(c.JWKSURL, s) }
	if env.State == nil {
		return mk().(*jwksSource)
	}
	id := "jwt/jwks|" + c.JWKSURL + "|" + s.timeout.String() + "|" + s.minRefetch.String() + "|" + s.refresh.String()
	return env.State(id, mk).(*jwksSource)
}

// Authenticator verifies bearer JWTs.
type Authenticator struct {
	settings
	dir     policy.Directory
	static  *keySet
	jwks    *jwksSource // nil without jwks_url
	allowed map[string]bool
	parser  *gojwt.Parser
	// errNoClaim names the configured consumer claim.
	errNoClaim *problem.Error
	verified   *tokenCache
}

// Challenge is the WWW-Authenticate value when no credential was sent.
func (a *Authenticator) Challenge() string { return challenge }

// Authenticate returns the consumer named by the token, ErrNoCredentials when
// there is no bearer JWT, or a 401 problem saying what is wrong with it.
func (a *Authenticator) Authenticate(ex policy.Exchange) (*policy.Consumer, error) {
	raw, ok := bearerJWT(ex.Header().Get("Authorization"))
	if !ok {
		return nil, policy.ErrNoCredentials
	}
	subject, err := a.subjectOf(ex.Context(), raw, ex.Now())
	if err != nil {
		return nil, err
	}
	c, err := a.consumer(subject)
	if err != nil {
		return nil, err
	}
	if a.hide {
		ex.Header().Del("Authorization")
	}
	return c, nil
}

// bearerJWT extracts the token of `Authorization: Bearer <token>`. A bearer
// value that is not shaped like a JWS (three dot-separated parts) is not
// ours: another authenticator (key_auth reading bearer keys) may take it.
func bearerJWT(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, strings.Count(tok, ".") == 2
}

// verify checks the signature with a pinned key, then the time and audience
// claims, and returns the claims.
func (a *Authenticator) verify(ctx context.Context, raw string, now time.Time) (gojwt.MapClaims, error) {
	if len(raw) > maxTokenBytes {
		return nil, errTooLong
	}
	claims := gojwt.MapClaims{}
	_, err := a.parser.ParseWithClaims(raw, claims, func(t *gojwt.Token) (any, error) { return a.keyFor(ctx, t) })
	if err != nil {
		return nil, reason(err)
	}
	if err := a.checkClaims(claims, now); err != nil {
		return nil, err
	}
	return claims, nil
}

// reason maps a parse failure to what the client is told.
func reason(err error) error {
	var pe *problem.Error
	switch {
	case errors.As(err, &pe): // from keyFor
		return pe
	case errors.Is(err, gojwt.ErrTokenMalformed):
		return errMalformed
	case errors.Is(err, gojwt.ErrTokenSignatureInvalid):
		return errSignature
	case errors.Is(err, gojwt.ErrTokenUnverifiable): // unknown alg in the header
		return errAlgorithm
	}
	return errMalformed
}

// keyFor picks the verification key(s) for t. It runs before the signature is
// checked. Only the header's alg (which must be allowed) and kid are used: jku,
// x5u, jwk and x5c are ignored, so a token can never bring its own key.
func (a *Authenticator) keyFor(ctx context.Context, t *gojwt.Token) (any, error) {
	alg := t.Method.Alg()
	if !a.allowed[alg] {
		return nil, errAlgorithm // includes "none"
	}
	if kid, ok := t.Header["kid"].(string); ok && kid != "" {
		return a.keyByKID(ctx, kid, alg)
	}
	var ks []any
	ks = a.static.fitting(ks, alg)
	if a.jwks != nil {
		if set := a.jwks.current(); len(set.all) == 0 {
			a.jwks.awaitRefresh(ctx, set) // nothing fetched yet
		}
		ks = a.jwks.current().fitting(ks, alg)
	}
	if len(ks) == 0 {
		return nil, errUnknownKey
	}
	set := gojwt.VerificationKeySet{Keys: make([]gojwt.VerificationKey, len(ks))}
	for i, k := range ks {
		set.Keys[i] = k
	}
	return set, nil
}

func (a *Authenticator) keyByKID(ctx context.Context, kid, alg string) (any, error) {
	k := a.static.byKID[kid]
	if k == nil && a.jwks != nil {
		set := a.jwks.current()
		if k = set.byKID[kid]; k == nil && a.jwks.awaitRefresh(ctx, set) {
			k = a.jwks.current().byKID[kid] // rotated keys appear after a refetch
		}
	}
	switch {
	case k == nil:
		return nil, errUnknownKey
	case !k.fits(alg):
		return nil, errKeyMismatch
	}
	return k.material, nil
}

// checkClaims checks exp, nbf, iss and aud, with leeway on the times.
func (a *Authenticator) checkClaims(c gojwt.MapClaims, now time.Time) error {
	exp, err := c.GetExpirationTime()
	if err != nil {
		return errClaims
	}
	nbf, err := c.GetNotBefore()
	if err != nil {
		return errClaims
	}
	switch {
	case exp == nil && a.requireExp:
		return errNoExpiry
	case exp != nil && now.After(exp.Add(a.leeway)):
		return errExpired
	case nbf != nil && now.Add(a.leeway).Before(nbf.Time):
		return errNotYetValid
	}
	if a.issuer != "" {
		if iss, err := c.GetIssuer(); err != nil || iss != a.issuer {
			return errIssuer
		}
	}
	return a.checkAudience(c)
}

func (a *Authenticator) checkAudience(c gojwt.MapClaims) error {
	if len(a.audience) == 0 {
		return nil
	}
	auds, err := c.GetAudience()
	if err != nil {
		return errClaims
	}
	for _, got := range auds {
		for _, want := range a.audience {
			if got == want {
				return nil
			}
		}
	}
	return errAudience
}

// subjectOf returns the consumer claim of a valid token, from the cache of
// verified tokens when it was checked before (a keep-alive client sends the
// same token again and again; an RS256 check costs tens of µs).
func (a *Authenticator) subjectOf(ctx context.Context, raw string, now time.Time) (string, error) {
	id := sha256.Sum256([]byte(raw))
	jwksSet := a.jwksSet()
	if v, ok := a.verified.get(id); ok && v.usable(now, jwksSet) {
		return v.subject, nil
	}
	claims, err := a.verify(ctx, raw, now)
	if err != nil {
		return "", err
	}
	subject := claimString(claims[a.claim])
	if subject == "" {
		return "", a.errNoClaim
	}
	a.verified.put(id, a.window(claims, subject, now, a.jwksSet()))
	return subject, nil
}

// jwksSet is the JWKS key set in use (nil without jwks_url). Cached tokens
// are only trusted while it is the same set: a key removed from the JWKS
// stops its tokens at the next refresh.
func (a *Authenticator) jwksSet() *keySet {
	if a.jwks == nil {
		return nil
	}
	return a.jwks.current()
}

// window is how long a verified token may be served from the cache: within
// nbf/exp (with leeway), and at most maxCacheFor for tokens without exp.
func (a *Authenticator) window(c gojwt.MapClaims, subject string, now time.Time, set *keySet) verifiedToken {
	v := verifiedToken{subject: subject, keys: set, until: now.Add(maxCacheFor)}
	if exp, _ := c.GetExpirationTime(); exp != nil {
		v.until = exp.Add(a.leeway)
	}
	if nbf, _ := c.GetNotBefore(); nbf != nil {
		v.from = nbf.Add(-a.leeway)
	}
	return v
}

func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64: // numeric ids
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// consumer maps the consumer claim's value to a consumer in the directory
// (on every request: a disabled consumer is refused at once).
func (a *Authenticator) consumer(v string) (*policy.Consumer, error) {
	var cons *policy.Consumer
	var ok bool
	if a.byID {
		cons, ok = a.dir.ConsumerByID(v)
	} else {
		cons, ok = a.dir.ConsumerByName(v)
	}
	if !ok || cons == nil {
		return nil, errUnknownConsumr
	}
	return cons, nil
}
