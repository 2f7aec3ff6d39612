// Package builtin is the one list of built-in policies. Adding a policy is one
// line here plus its own package.
package builtin

import (
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/acl"
	"github.com/tollgate-dev/tollgate/internal/policy/anonymous"
	"github.com/tollgate-dev/tollgate/internal/policy/cors"
	"github.com/tollgate-dev/tollgate/internal/policy/iprestriction"
	"github.com/tollgate-dev/tollgate/internal/policy/jwt"
	"github.com/tollgate-dev/tollgate/internal/policy/mtls"
	"github.com/tollgate-dev/tollgate/internal/policy/sizelimit"
)

func init() {
	for _, d := range []policy.Definition{
		acl.Definition,
		anonymous.Definition,
		cors.Definition,
		iprestriction.Definition,
		jwt.Definition,
		mtls.Definition,
		sizelimit.Definition,
	} {
		policy.Register(d)
	}
}
