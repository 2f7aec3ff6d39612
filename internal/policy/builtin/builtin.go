// Package builtin is the one list of built-in policies. Adding a policy is one
// line here plus its own package.
package builtin

import (
	"github.com/tollgate-dev/tollgate/internal/policy"
)

func init() {
	for _, d := range []policy.Definition{} {
		policy.Register(d)
	}
}
