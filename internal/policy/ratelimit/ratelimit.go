// Package ratelimit is the rate_limit policy: sliding-window or token-bucket
// limits per consumer, route, IP, header or plan, with the IETF RateLimit
// headers on every response and 429 + Retry-After when refused.
package ratelimit

import (
	"errors"
	"fmt"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/counters"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/ratelimit/clientkey"
)

// Definition is the rate_limit policy.
var Definition = policy.Definition{
	Name:  "rate_limit",
	Phase: policy.PhaseLimit,
	New:   func() policy.Config { return &Config{} },
	Doc:   "limits requests per consumer, route, ip, header or plan (429 + RateLimit headers)",
}

// LimitSpec is one limit: Limit requests per Window.
type LimitSpec struct {
	Limit  int64           `yaml:"limit" json:"limit"`
	Window config.Duration `yaml:"window" json:"window"`
}

// Config is `policies.rate_limit`. Either the short form (limit, window) or
// a list under limits; not both.
type Config struct {
	Limit        int64           `yaml:"limit" json:"limit,omitempty"`
	Window       config.Duration `yaml:"window" json:"window,omitempty"`
	Limits       []LimitSpec     `yaml:"limits" json:"limits,omitempty"`
	By           string          `yaml:"by" json:"by,omitempty"`                         // consumer (default) | route | ip | header:<Name> | plan
	Algorithm    string          `yaml:"algorithm" json:"algorithm,omitempty"`           // sliding_window (default) | token_bucket
	Mode         string          `yaml:"mode" json:"mode,omitempty"`                     // strict (default) | local
	OnRedisError string          `yaml:"on_redis_error" json:"on_redis_error,omitempty"` // fallback (default) | fail_open | fail_closed
}

// specs is the limit list, whichever form was written.
func (c *Config) specs() []LimitSpec {
	if len(c.Limits) > 0 {
		return c.Limits
	}
	return []LimitSpec{{Limit: c.Limit, Window: c.Window}}
}

func (c *Config) Validate() []error {
	var errs []error
	if len(c.Limits) > 0 && (c.Limit != 0 || c.Window != 0) {
		errs = append(errs, errors.New("rate_limit: write either limit/window or limits, not both"))
	}
	for i, s := range c.specs() {
		if s.Limit <= 0 {
			errs = append(errs, fmt.Errorf("rate_limit: limits[%d].limit must be a positive number of requests", i))
		}
		if s.Window.D() < time.Millisecond {
			errs = append(errs, fmt.Errorf("rate_limit: limits[%d].window must be at least 1ms (e.g. 1s, 1m)", i))
		}
	}
	if _, err := clientkey.Parse(c.By); err != nil {
		errs = append(errs, fmt.Errorf("rate_limit: %w", err))
	}
	if _, err := ParseAlgorithm(c.Algorithm); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseMode(c.Mode); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseOnError(c.OnRedisError); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// Build resolves the counters backend (BuildEnv.Services["counters"]) and
// the key scope. The scope is the route name, so counts survive reloads.
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	cs, ok := policy.Service[counters.Counters](env, "counters")
	if !ok {
		return nil, errors.New("rate_limit: the counters service is not configured")
	}
	by, _ := clientkey.Parse(c.By)
	alg, _ := ParseAlgorithm(c.Algorithm)
	mode, _ := ParseMode(c.Mode)
	onErr, _ := ParseOnError(c.OnRedisError)
	var limits []counters.Limit
	for _, s := range c.specs() {
		limits = append(limits, counters.Limit{Count: s.Limit, Window: s.Window.D(), Algorithm: alg, Mode: mode, OnError: onErr})
	}
	scope := "route:" + env.Route.Name + ":" + by.String()
	lim := newLimiter(scope, by.String(), limits, by, cs)
	return policy.HandlerFunc(func(ex policy.Exchange, next policy.Next) error {
		if err := lim.check(ex); err != nil {
			return err
		}
		return next(ex)
	}), nil
}

// ParseAlgorithm reads sliding_window ("" too) or token_bucket.
func ParseAlgorithm(s string) (counters.Algorithm, error) {
	switch s {
	case "", "sliding_window":
		return counters.SlidingWindow, nil
	case "token_bucket":
		return counters.TokenBucket, nil
	}
	return 0, fmt.Errorf("rate_limit: algorithm %q is not sliding_window or token_bucket", s)
}

// ParseMode reads strict ("" too) or local.
func ParseMode(s string) (counters.Mode, error) {
	switch s {
	case "", "strict":
		return counters.Strict, nil
	case "local":
		return counters.Local, nil
	}
	return 0, fmt.Errorf("rate_limit: mode %q is not strict or local", s)
}

// ParseOnError reads fallback ("" too), fail_open or fail_closed.
func ParseOnError(s string) (counters.OnError, error) {
	switch s {
	case "", "fallback":
		return counters.Fallback, nil
	case "fail_open":
		return counters.FailOpen, nil
	case "fail_closed":
		return counters.FailClosed, nil
	}
	return 0, fmt.Errorf("rate_limit: on_redis_error %q is not fallback, fail_open or fail_closed", s)
}
