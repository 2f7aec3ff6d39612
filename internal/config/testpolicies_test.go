package config

import (
	"errors"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// Small stand-ins for the real policies (which register from
// internal/policy/builtin, not imported here) so the loader's policy
// decoding can be tested.

type testRateLimit struct {
	Limit  int64    `yaml:"limit"`
	Window Duration `yaml:"window"`
	By     string   `yaml:"by"`
}

func (c *testRateLimit) Validate() []error {
	var errs []error
	if c.Limit <= 0 {
		errs = append(errs, &FieldError{Path: "limit", Msg: "limit must be greater than 0"})
	}
	if c.Window <= 0 {
		errs = append(errs, errors.New("window must be greater than 0"))
	}
	return errs
}
func (c *testRateLimit) Build(policy.BuildEnv) (any, error) { return nil, nil }

type testKeyAuth struct {
	Header string `yaml:"header"`
}

func (c *testKeyAuth) Validate() []error                  { return nil }
func (c *testKeyAuth) Build(policy.BuildEnv) (any, error) { return nil, nil }

type testCache struct {
	TTL Duration `yaml:"ttl"`
}

func (c *testCache) Validate() []error                  { return nil }
func (c *testCache) Build(policy.BuildEnv) (any, error) { return nil, nil }

type testMock struct {
	Status int    `yaml:"status"`
	Body   string `yaml:"body"`
}

func (c *testMock) Validate() []error                  { return nil }
func (c *testMock) Build(policy.BuildEnv) (any, error) { return nil, nil }

func init() {
	policy.Register(policy.Definition{Name: "rate_limit", Phase: policy.PhaseLimit, New: func() policy.Config { return &testRateLimit{} }})
	policy.Register(policy.Definition{Name: "key_auth", Phase: policy.PhaseAuthenticate, New: func() policy.Config { return &testKeyAuth{} }})
	policy.Register(policy.Definition{Name: "cache", Phase: policy.PhaseCache, New: func() policy.Config { return &testCache{} }})
	policy.Register(policy.Definition{Name: "mock", Phase: policy.PhaseTerminal, New: func() policy.Config { return &testMock{} }})
}
