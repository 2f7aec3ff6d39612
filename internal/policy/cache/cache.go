// Package cache is the cache policy: a response cache for GET and HEAD with
// request coalescing, honouring Cache-Control and Vary, isolated per
// authenticated consumer. Entries live in memory (size-bounded, by bytes)
// or in Redis (backend: redis, shared between nodes).
package cache

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/counters"
	"github.com/tollgate-dev/tollgate/internal/policy"
)

// Definition is the cache policy.
var Definition = policy.Definition{
	Name:  "cache",
	Phase: policy.PhaseCache,
	New:   func() policy.Config { return &Config{} },
	Doc:   "caches GET/HEAD responses (Cache-Control, Vary, per-consumer keys, coalesced misses)",
}

const (
	defaultTTL       = 60 * time.Second
	defaultMaxObject = 1 << 20
	defaultMaxBytes  = 64 << 20
)

// Config is `policies.cache`.
type Config struct {
	TTL            config.Duration `yaml:"ttl" json:"ttl,omitempty"`                           // when the response says nothing; default 60s
	MaxObjectBytes int64           `yaml:"max_object_bytes" json:"max_object_bytes,omitempty"` // bigger responses stream uncached; default 1 MiB
	MaxBytes       int64           `yaml:"max_bytes" json:"max_bytes,omitempty"`               // memory bound per route; default 64 MiB
	Backend        string          `yaml:"backend" json:"backend,omitempty"`                   // memory (default) | redis
}

func (c *Config) Validate() []error {
	var errs []error
	if c.TTL < 0 {
		errs = append(errs, errors.New("cache: ttl must not be negative"))
	}
	if c.MaxObjectBytes < 0 || c.MaxBytes < 0 {
		errs = append(errs, errors.New("cache: max_object_bytes and max_bytes must not be negative"))
	}
	if c.Backend != "" && c.Backend != "memory" && c.Backend != "redis" {
		errs = append(errs, fmt.Errorf("cache: backend %q is not memory or redis", c.Backend))
	}
	return errs
}

// Build finds or creates the route's store (kept across reloads by route
// name) and returns the handler.
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	h := &handler{ttl: orDefault(c.TTL.D(), defaultTTL), maxObject: orDefault(c.MaxObjectBytes, defaultMaxObject),
		flights: &flights{m: map[string]*flight{}}}
	st, err := c.store(env)
	if err != nil {
		return nil, err
	}
	h.st = st
	live.Store(liveKey{env.Route.Name, env.Route.Version}, st)
	return h, nil
}

func orDefault[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

func (c *Config) store(env policy.BuildEnv) (store, error) {
	maxBytes := orDefault(c.MaxBytes, defaultMaxBytes)
	if c.Backend == "redis" {
		cs, _ := policy.Service[counters.Counters](env, "counters")
		rdb, prefix, ok := counters.RedisClient(cs)
		if !ok {
			return nil, errors.New("cache: backend redis needs `counters: redis://...` in the config")
		}
		return &redisStore{rdb: rdb, prefix: prefix + "cache:" + scope(env.Route) + "|", timeout: 100 * time.Millisecond}, nil
	}
	mk := func() (store, error) { return newMemStore(maxBytes) }
	if env.State == nil {
		return mk()
	}
	var mkErr error
	st := env.State("cache:"+scope(env.Route), func() any {
		s, err := mk()
		mkErr = err
		return s
	})
	if mkErr != nil {
		return nil, mkErr
	}
	s, ok := st.(store)
	if !ok {
		return nil, errors.New("cache: route state holds something else")
	}
	s.resize(maxBytes)
	return s, nil
}

// scope names a route's cache storage: the route, and its API version when
// versioned (v1 and v2 may answer the same path differently).
func scope(r policy.RouteInfo) string {
	if r.Version == "" {
		return r.Name
	}
	return r.Name + "@" + r.Version
}

type handler struct {
	ttl       time.Duration
	maxObject int64
	st        store
	flights   *flights
}

func (h *handler) Handle(ex policy.Exchange, next policy.Next) error {
	if m := ex.Method(); m != http.MethodGet && m != http.MethodHead {
		ex.AddResponseHeader("X-Cache", "BYPASS")
		return next(ex)
	}
	req := parseCacheControl(strings.Join(ex.Header().Values("Cache-Control"), ","))
	if req.noStore {
		ex.AddResponseHeader("X-Cache", "BYPASS")
		return next(ex)
	}
	scoped := ex.Consumer() != nil && !ex.Consumer().Anonymous
	base := baseKey(ex, scoped)
	if !req.noCache && req.maxAge != 0 {
		if e := h.lookup(ex, base, req.maxAge); e != nil {
			return serve(ex, e)
		}
		fl, leader := h.flights.join(base)
		if leader {
			defer h.flights.leave(base, fl)
		} else {
			select {
			case <-fl.done:
			case <-ex.Context().Done():
				return ex.Context().Err()
			}
			if e := h.lookup(ex, base, req.maxAge); e != nil {
				return serve(ex, e)
			}
		}
	}
	ex.AddResponseHeader("X-Cache", "MISS")
	if err := next(ex); err != nil {
		return err
	}
	h.store(ex, base, scoped)
	return nil
}

// baseKey is method, host, path, sorted query and (when authenticated) the
// consumer: the parts every request is keyed on before Vary.
func baseKey(ex policy.Exchange, scoped bool) string {
	var b strings.Builder
	b.WriteString(ex.Method())
	b.WriteByte(0)
	b.WriteString(ex.Host())
	b.WriteByte(0)
	b.WriteString(ex.Path())
	b.WriteByte(0)
	b.WriteString(normalQuery(ex.RawQuery()))
	b.WriteByte(0)
	if scoped {
		b.WriteString(ex.Consumer().ID)
	}
	return b.String()
}

// normalQuery sorts the query's parameters so ?a=1&b=2 and ?b=2&a=1 share
// an entry. Encodings are kept as sent.
func normalQuery(q string) string {
	if q == "" || !strings.Contains(q, "&") {
		return q
	}
	parts := strings.Split(q, "&")
	parts = slices.DeleteFunc(parts, func(s string) bool { return s == "" })
	slices.Sort(parts)
	return strings.Join(parts, "&")
}

// varyKey extends base with the request's values of the Vary headers.
func varyKey(base string, vary []string, hdr policy.Header) string {
	if len(vary) == 0 {
		return base
	}
	var b strings.Builder
	b.WriteString(base)
	for _, n := range vary {
		b.WriteByte(0)
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strings.Join(hdr.Values(n), ","))
	}
	return b.String()
}

func indexKey(base string) string { return "vary\x00" + base }

// lookup finds a fresh entry for the request (nil on miss).
func (h *handler) lookup(ex policy.Exchange, base string, maxAge int64) *entry {
	ctx, path, now := ex.Context(), ex.Path(), ex.Now()
	idx := h.st.get(ctx, path, indexKey(base))
	if idx == nil || !now.Before(idx.Expires) {
		return nil
	}
	e := h.st.get(ctx, path, varyKey(base, idx.Vary, ex.Header()))
	if e == nil || !now.Before(e.Expires) {
		return nil
	}
	if maxAge > 0 && now.Sub(e.Stored) > time.Duration(maxAge)*time.Second {
		return nil
	}
	return e
}

func serve(ex policy.Exchange, e *entry) error {
	hdr := make([][2]string, 0, len(e.Header)+1)
	hdr = append(hdr, e.Header...)
	age := max(0, int64(ex.Now().Sub(e.Stored)/time.Second))
	hdr = append(hdr, [2]string{"Age", strconv.FormatInt(age, 10)})
	ex.AddResponseHeader("X-Cache", "HIT")
	body := e.Body
	if ex.Method() == http.MethodHead {
		body = nil
	}
	ex.Respond(e.Status, hdr, body)
	return nil
}

// store keeps the response when HTTP caching rules and the config allow.
func (h *handler) store(ex policy.Exchange, base string, scoped bool) {
	resp := ex.Response()
	if resp == nil || !cacheableStatus(resp.Status()) {
		return
	}
	ttl, vary, ok := h.storable(ex, resp.Header(), scoped)
	if !ok {
		return
	}
	body, ok, err := resp.Body(h.maxObject)
	if !ok || err != nil {
		return // too big: it streamed through uncached
	}
	now := ex.Now()
	e := &entry{Status: resp.Status(), Header: keptHeaders(resp.Header()), Body: bytes.Clone(body),
		Stored: now, Expires: now.Add(ttl), Path: ex.Path()}
	ctx, path := ex.Context(), ex.Path()
	h.st.set(ctx, path, indexKey(base), &entry{Vary: append([]string{}, vary...), Stored: now, Expires: e.Expires, Path: path})
	h.st.set(ctx, path, varyKey(base, vary, ex.Header()), e)
}

// storable applies RFC 9111 rules for a shared cache, plus tollgate's own:
// never a Set-Cookie response; private only under a per-consumer key.
func (h *handler) storable(ex policy.Exchange, hdr policy.Header, scoped bool) (time.Duration, []string, bool) {
	if hdr.Get("Set-Cookie") != "" {
		return 0, nil, false
	}
	cc := parseCacheControl(strings.Join(hdr.Values("Cache-Control"), ","))
	if cc.noStore || cc.noCache || cc.private && !scoped {
		return 0, nil, false
	}
	if !scoped && ex.Header().Get("Authorization") != "" && !cc.public && cc.sMaxAge < 0 {
		return 0, nil, false // RFC 9111 §3.5: authorised responses stay out of shared entries
	}
	vary, star := parseVary(hdr.Values("Vary"))
	if star {
		return 0, nil, false
	}
	ttl := h.ttl
	switch {
	case cc.sMaxAge >= 0 && !cc.private:
		ttl = time.Duration(cc.sMaxAge) * time.Second
	case cc.maxAge >= 0:
		ttl = time.Duration(cc.maxAge) * time.Second
	}
	return ttl, vary, ttl > 0
}

func cacheableStatus(s int) bool {
	switch s {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// dropped are headers never replayed from the cache: hop-by-hop ones and
// those that describe one exchange, not the resource.
var dropped = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true,
	"upgrade": true, "te": true, "trailer": true, "set-cookie": true, "age": true, "x-cache": true,
	"x-request-id": true, "content-length": true, "retry-after": true,
}

func keptHeaders(h policy.Header) [][2]string {
	var out [][2]string
	h.Range(func(n, v string) bool {
		l := strings.ToLower(n)
		if !dropped[l] && !strings.HasPrefix(l, "ratelimit") && !strings.HasPrefix(l, "x-quota-") {
			out = append(out, [2]string{n, v})
		}
		return true
	})
	return out
}
