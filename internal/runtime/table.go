package runtime

import (
	"net/netip"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/router"
	"github.com/tollgate-dev/tollgate/internal/upstream"
)

// Table is one compiled config: immutable once built, swapped atomically.
type Table struct {
	Config  *config.Config
	Hash    string
	Router  *router.Router
	Routes  []*Route
	Trusted []netip.Prefix
	Limits  Limits
}

// Limits are the edge's secure defaults resolved from config (SPEC §8).
type Limits struct {
	MaxBodyBytes           int64
	MaxHeaders             int
	AllowUnderscoreHeaders bool
}

// Route is a compiled route: matchers live in the router, everything the
// request path needs lives here, prebuilt.
type Route struct {
	Info         policy.RouteInfo
	Pool         *upstream.Pool // nil for terminal-only routes (mock)
	StripPrefix  string
	Rewrite      *PathTemplate
	PreserveHost bool
	// Chain runs the policies and ends in the proxy step.
	Chain policy.Next
	// Versions, when set, picks a per-version Route before the chain runs.
	Versions  VersionSelector
	ByVersion map[string]*Route
	// Dump describes the compiled chain for the admin API.
	Dump []ChainEntry
}

// ChainEntry is one step of a compiled chain, as the admin API shows it.
type ChainEntry struct {
	Phase  string `json:"phase"`
	Policy string `json:"policy"`
}

// VersionSelector resolves a request's API version (internal/versioning).
type VersionSelector interface {
	Select(ex policy.Exchange) (version, strippedPath string, err error)
	Decorate(ex policy.Exchange, version string)
	// PathBased is true when the version is the path's first segment
	// (/v2/orders): the router then matches the path without it.
	PathBased() bool
}
