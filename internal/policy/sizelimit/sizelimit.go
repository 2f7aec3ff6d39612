// Package sizelimit is the request_size_limit policy: it caps the request
// body of a route and refuses a declared-too-large body with 413 before any
// byte of it is read.
package sizelimit

import (
	"errors"
	"strconv"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Definition is the request_size_limit policy.
var Definition = policy.Definition{
	Name:  "request_size_limit",
	Phase: policy.PhaseEdge,
	New:   func() policy.Config { return &Config{} },
	Doc:   "caps the request body (413 over max_bytes)",
}

// Config is `request_size_limit: {max_bytes: 1MiB}`; max_bytes is a byte
// count or a size string such as "512KiB", "1MiB", "10MB".
type Config struct {
	MaxBytes ByteSize `yaml:"max_bytes" json:"max_bytes"`
}

// Validate reports every problem with the config.
func (c *Config) Validate() []error {
	if c.MaxBytes <= 0 {
		return []error{errors.New("request_size_limit: max_bytes must be a positive size, e.g. 1048576 or \"1MiB\"")}
	}
	return nil
}

// Build returns the Handler; the 413 problem is made once here.
func (c *Config) Build(policy.BuildEnv) (any, error) {
	if errs := c.Validate(); errs != nil {
		return nil, errs[0]
	}
	n := int64(c.MaxBytes)
	return &limiter{
		max:      n,
		tooLarge: problem.TooLarge("the request body is larger than this route allows (" + strconv.FormatInt(n, 10) + " bytes)"),
	}, nil
}

type limiter struct {
	max      int64
	tooLarge *problem.Error
}

// Handle sets the body limit (a chunked body is cut off by the front end once
// it passes the limit) and refuses a declared length over it at once.
func (l *limiter) Handle(ex policy.Exchange, next policy.Next) error {
	ex.SetBodyLimit(l.max)
	if ex.ContentLength() > l.max {
		return l.tooLarge
	}
	return next(ex)
}
