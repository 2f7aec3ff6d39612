// Package builtin is the one list of built-in policies. Adding a policy is one
// line here plus its own package.
package builtin

import (
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/acl"
	"github.com/tollgate-dev/tollgate/internal/policy/anonymous"
	"github.com/tollgate-dev/tollgate/internal/policy/basicauth"
	"github.com/tollgate-dev/tollgate/internal/policy/cache"
	"github.com/tollgate-dev/tollgate/internal/policy/cors"
	"github.com/tollgate-dev/tollgate/internal/policy/iprestriction"
	"github.com/tollgate-dev/tollgate/internal/policy/jwt"
	"github.com/tollgate-dev/tollgate/internal/policy/keyauth"
	"github.com/tollgate-dev/tollgate/internal/policy/mock"
	"github.com/tollgate-dev/tollgate/internal/policy/mtls"
	"github.com/tollgate-dev/tollgate/internal/policy/quota"
	"github.com/tollgate-dev/tollgate/internal/policy/ratelimit"
	"github.com/tollgate-dev/tollgate/internal/policy/sizelimit"
	"github.com/tollgate-dev/tollgate/internal/policy/transform"
	"github.com/tollgate-dev/tollgate/internal/policy/validaterequest"
)

func init() {
	for _, d := range []policy.Definition{
		acl.Definition,
		anonymous.Definition,
		basicauth.Definition,
		cache.Definition,
		cors.Definition,
		iprestriction.Definition,
		jwt.Definition,
		keyauth.Definition,
		mock.Definition,
		mtls.Definition,
		quota.Definition,
		ratelimit.Definition,
		sizelimit.Definition,
		transform.Definition,
		validaterequest.Definition,
	} {
		policy.Register(d)
	}
}
