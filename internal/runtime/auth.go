package runtime

import (
	"errors"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Consumer headers the gateway sets for upstreams; client-sent copies are
// always removed at the edge (SPEC §5).
const (
	HeaderConsumerID   = "X-Consumer-ID"
	HeaderConsumerName = "X-Consumer-Name"
	HeaderConsumerPlan = "X-Consumer-Plan"

	HeaderAnonymousConsumer = "X-Anonymous-Consumer"
)

// fallbackAuth is implemented by authenticators tried only when no other
// credential was presented (anonymous).
type fallbackAuth interface{ Fallback() bool }

// AuthGroup runs a route's authenticators as "any of them": the first that
// returns a consumer wins; a presented but bad credential fails with its own
// 401 unless another method succeeds; nothing presented falls back to the
// anonymous consumer when configured, else 401 with every challenge.
type AuthGroup struct {
	auths     []policy.Authenticator
	fallback  policy.Authenticator
	challenge []string
}

// NewAuthGroup orders authenticators, fallbacks last.
func NewAuthGroup(auths []policy.Authenticator) *AuthGroup {
	g := &AuthGroup{}
	for _, a := range auths {
		if f, ok := a.(fallbackAuth); ok && f.Fallback() {
			g.fallback = a
			continue
		}
		g.auths = append(g.auths, a)
		if c := a.Challenge(); c != "" {
			g.challenge = append(g.challenge, c)
		}
	}
	return g
}

func (g *AuthGroup) Handle(ex policy.Exchange, next policy.Next) error {
	if rx, ok := ex.(Exchange); ok && rx.State().Span.Recording() {
		return Traced("auth", g).Handle(ex, next)
	}
	return g.authenticate(ex, next)
}

func (g *AuthGroup) authenticate(ex policy.Exchange, next policy.Next) error {
	var bad error
	for _, a := range g.auths {
		c, err := a.Authenticate(ex)
		if err == nil && c != nil {
			return g.accept(ex, c, next)
		}
		if err != nil && !errors.Is(err, policy.ErrNoCredentials) && bad == nil {
			bad = err
		}
	}
	if bad != nil {
		return bad
	}
	if g.fallback != nil {
		if c, err := g.fallback.Authenticate(ex); err == nil && c != nil {
			return g.accept(ex, c, next)
		}
	}
	e := problem.New(401, "this route requires credentials")
	for _, c := range g.challenge {
		e = e.With("WWW-Authenticate", c)
	}
	return e
}

func (g *AuthGroup) accept(ex policy.Exchange, c *policy.Consumer, next policy.Next) error {
	ex.SetConsumer(c)
	if is, ok := ex.(IdentitySetter); ok {
		is.SetIdentity(c)
		return next(ex)
	}
	SetIdentityHeaders(ex.Header(), c)
	return next(ex)
}

// IdentitySetter is an exchange that keeps the identity headers itself
// (the fast front end renders them into the upstream request head); what
// policies see through Header is the same as after SetIdentityHeaders.
type IdentitySetter interface {
	SetIdentity(c *policy.Consumer)
}

// SetIdentityHeaders sets the identity headers of consumer c (SPEC §5).
func SetIdentityHeaders(h policy.Header, c *policy.Consumer) {
	h.Set(HeaderConsumerID, c.ID)
	h.Set(HeaderConsumerName, c.Name)
	if c.Plan != "" {
		h.Set(HeaderConsumerPlan, c.Plan)
	}
	if c.Anonymous {
		h.Set(HeaderAnonymousConsumer, "true")
	}
}

// StripIdentityHeaders removes client-sent identity headers; called at the
// edge for every request, before any policy.
func StripIdentityHeaders(h policy.Header) {
	h.Del(HeaderConsumerID)
	h.Del(HeaderConsumerName)
	h.Del(HeaderConsumerPlan)
	h.Del(HeaderAnonymousConsumer)
}

// IsGatewayHeader reports headers the gateway itself sets; a client may not
// name them in Connection (SPEC §5, §8).
func IsGatewayHeader(name string) bool {
	switch strings.ToLower(name) {
	case "x-request-id", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
		"x-consumer-id", "x-consumer-name", "x-consumer-plan", "x-anonymous-consumer",
		"traceparent", "tracestate", "content-length", "host":
		return true
	}
	return false
}
