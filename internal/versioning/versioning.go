// Package versioning picks the API version of a request for a route's
// `versions` block and marks deprecated versions (RFC 9745 Deprecation,
// RFC 8594 Sunset, Link rel="deprecation"/"sunset"). Everything is parsed in
// New; Select and Decorate only look things up.
package versioning

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Strategies for `versions.from`.
const (
	FromPath      = "path"
	FromHeader    = "header"
	FromQuery     = "query"
	FromMediaType = "media_type"
)

// Defaults for the header and query strategies.
const (
	DefaultHeader = "Accept-Version"
	DefaultParam  = "version"
)

// Selector resolves versions for one route.
type Selector struct {
	from     string
	header   string
	param    string
	def      string
	versions map[string]*version
	names    []string // sorted, for Versions and error details
	now      func() time.Time
}

type version struct {
	name string
	// deprecation headers, rendered once
	deprecated bool
	headers    [][2]string
	sunset     time.Time // zero when none
	gone       *problem.Error
}

// New checks v and prepares the selector. now is the clock the sunset is
// compared against (time.Now when nil).
func New(v *config.Versions, now func() time.Time) (*Selector, error) {
	if now == nil {
		now = time.Now
	}
	s := &Selector{from: v.From, header: v.Header, param: v.Param, def: v.Default, now: now, versions: map[string]*version{}}
	if err := s.checkStrategy(); err != nil {
		return nil, err
	}
	if len(v.List) == 0 {
		return nil, fmt.Errorf("versions.list: list at least one version")
	}
	for name, ver := range v.List {
		built, err := buildVersion(name, ver)
		if err != nil {
			return nil, err
		}
		s.versions[name] = built
		s.names = append(s.names, name)
	}
	slices.SortFunc(s.names, compareVersions)
	if s.def != "" && s.versions[s.def] == nil {
		return nil, fmt.Errorf("versions.default: %q is not in versions.list (%s)", s.def, strings.Join(s.names, ", "))
	}
	return s, nil
}

func (s *Selector) checkStrategy() error {
	switch s.from {
	case FromPath, FromMediaType:
	case FromHeader:
		if s.header == "" {
			s.header = DefaultHeader
		}
		s.header = http.CanonicalHeaderKey(s.header)
	case FromQuery:
		if s.param == "" {
			s.param = DefaultParam
		}
	default:
		return fmt.Errorf("versions.from: %q is not one of path, header, query, media_type", s.from)
	}
	return nil
}

func buildVersion(name string, v config.Version) (*version, error) {
	if name == "" || strings.ContainsAny(name, "/ \t\r\n") {
		return nil, fmt.Errorf("versions.list: %q is not a usable version name", name)
	}
	out := &version{name: name}
	d := v.Deprecated
	if d == nil {
		return out, nil
	}
	out.deprecated = true
	var since time.Time
	var err error
	if d.Since != "" {
		if since, err = parseDate(d.Since); err != nil {
			return nil, fmt.Errorf("versions.list.%s.deprecated.since: %v", name, err)
		}
	}
	if d.Sunset != "" {
		if out.sunset, err = parseDate(d.Sunset); err != nil {
			return nil, fmt.Errorf("versions.list.%s.deprecated.sunset: %v", name, err)
		}
	}
	if d.Link != "" {
		if u, err := url.Parse(d.Link); err != nil || !u.IsAbs() || strings.ContainsAny(d.Link, "<>\" \r\n") {
			return nil, fmt.Errorf("versions.list.%s.deprecated.link: %q is not an absolute URL", name, d.Link)
		}
	}
	out.headers = deprecationHeaders(since, out.sunset, d.Link)
	out.gone = goneProblem(name, d.Sunset, out.headers)
	return out, nil
}

// deprecationHeaders renders the response headers of a deprecated version.
// RFC 9745 has only the dated form (an sf-date, "@" + Unix seconds), and a
// past date means "has been deprecated": without `since` the gateway sends
// the epoch, the one date that is the same on every node and every reload.
func deprecationHeaders(since, sunset time.Time, link string) [][2]string {
	var sinceUnix int64
	if !since.IsZero() {
		sinceUnix = since.Unix()
	}
	h := [][2]string{{"Deprecation", "@" + strconv.FormatInt(sinceUnix, 10)}}
	if !sunset.IsZero() {
		h = append(h, [2]string{"Sunset", sunset.UTC().Format(http.TimeFormat)})
	}
	if link != "" {
		h = append(h, [2]string{"Link", "<" + link + `>; rel="deprecation"; type="text/html"`})
		if !sunset.IsZero() {
			h = append(h, [2]string{"Link", "<" + link + `>; rel="sunset"; type="text/html"`})
		}
	}
	return h
}

func goneProblem(name, sunset string, headers [][2]string) *problem.Error {
	p := problem.New(http.StatusGone, fmt.Sprintf("API version %q was retired on %s", name, sunset))
	for _, h := range headers {
		if h[0] != "Deprecation" {
			p = p.With(h[0], h[1])
		}
	}
	return p
}

// parseDate accepts YYYY-MM-DD (midnight UTC) or RFC 3339.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date: write YYYY-MM-DD or RFC 3339", s)
	}
	return t, nil
}

// Versions lists the configured versions in version order.
func (s *Selector) Versions() []string { return slices.Clone(s.names) }

// Select resolves the version of a request. For the path strategy it also
// returns the path without its /v{n} segment; otherwise strippedPath is the
// request path unchanged. A missing version is the default; an unknown one
// is a 400 naming the versions that exist; a version past its sunset is a
// 410 with the Sunset and Link headers.
func (s *Selector) Select(ex policy.Exchange) (string, string, error) {
	raw, stripped := s.requested(ex)
	if raw == "" {
		if s.def == "" {
			return "", stripped, problem.BadRequest("this API needs a version; available versions: " + strings.Join(s.names, ", "))
		}
		raw = s.def
	}
	v := s.lookup(raw)
	if v == nil {
		return "", stripped, problem.BadRequest(fmt.Sprintf("unknown API version %s; available versions: %s", quoteInput(raw), strings.Join(s.names, ", ")))
	}
	if !v.sunset.IsZero() && !s.now().Before(v.sunset) {
		return "", stripped, v.gone
	}
	return v.name, stripped, nil
}

// lookup finds a version by its name, accepting a "v" prefix either way.
func (s *Selector) lookup(raw string) *version {
	if v := s.versions[raw]; v != nil {
		return v
	}
	if v := s.versions[strings.TrimPrefix(raw, "v")]; v != nil {
		return v
	}
	return s.versions["v"+raw]
}

// requested returns the version the client asked for ("" when none) and the
// path to route.
func (s *Selector) requested(ex policy.Exchange) (string, string) {
	p := ex.Path()
	switch s.from {
	case FromPath:
		return versionFromPath(p)
	case FromHeader:
		return strings.TrimSpace(ex.Header().Get(s.header)), p
	case FromQuery:
		return ex.Query(s.param), p
	}
	return versionFromAccept(ex.Header().Values("Accept")), p
}

// versionFromPath reads a first segment "v{n}" (n starting with a digit).
func versionFromPath(p string) (string, string) {
	rest := strings.TrimPrefix(p, "/")
	seg, tail, hasTail := strings.Cut(rest, "/")
	if len(seg) < 2 || seg[0] != 'v' || seg[1] < '0' || seg[1] > '9' {
		return "", p
	}
	if !hasTail {
		return seg[1:], "/"
	}
	return seg[1:], "/" + tail
}

// versionFromAccept finds application/vnd.<anything>.v{n}+json (any +suffix)
// or a `version=` parameter on a vnd media type in the Accept header.
func versionFromAccept(accepts []string) string {
	for _, line := range accepts {
		for _, rng := range strings.Split(line, ",") {
			if v := versionFromMediaRange(rng); v != "" {
				return v
			}
		}
	}
	return ""
}

func versionFromMediaRange(rng string) string {
	mt, params, _ := strings.Cut(rng, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	sub, ok := strings.CutPrefix(mt, "application/vnd.")
	if !ok {
		return ""
	}
	if plus := strings.LastIndexByte(sub, '+'); plus >= 0 {
		sub = sub[:plus]
	}
	if dot := strings.LastIndexByte(sub, '.'); dot >= 0 {
		if seg := sub[dot+1:]; len(seg) > 1 && seg[0] == 'v' && seg[1] >= '0' && seg[1] <= '9' {
			return seg[1:]
		}
	}
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "version") {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

// Decorate adds the deprecation headers of a deprecated version to whatever
// response the client gets.
func (s *Selector) Decorate(ex policy.Exchange, name string) {
	v := s.versions[name]
	if v == nil || !v.deprecated {
		return
	}
	for _, h := range v.headers {
		ex.AddResponseHeader(h[0], h[1])
	}
}

// quoteInput quotes client input for a problem detail: bounded and escaped.
func quoteInput(s string) string {
	if len(s) > 32 {
		s = s[:32] + "..."
	}
	return strconv.QuoteToASCII(s)
}

// compareVersions orders "2" before "10" and falls back to text order.
func compareVersions(a, b string) int {
	na, ea := strconv.ParseFloat(strings.TrimPrefix(a, "v"), 64)
	nb, eb := strconv.ParseFloat(strings.TrimPrefix(b, "v"), 64)
	if ea == nil && eb == nil && na != nb {
		if na < nb {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// PathBased reports whether the version is the request path's first
// segment, so the router must match the path without it.
func (s *Selector) PathBased() bool { return s.from == FromPath }

// SplitPath splits a leading "/v{n}" segment off p: ("2", "/orders/7") for
// "/v2/orders/7"; ok is false when p has no such segment.
func SplitPath(p string) (version, rest string, ok bool) {
	v, rest := versionFromPath(p)
	return v, rest, v != ""
}
