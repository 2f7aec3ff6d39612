package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

var versionSources = []string{"path", "header", "query", "media_type"}

// routes validates every route against the defined services.
func (v *validator) routes(services map[string]bool) {
	rs := v.c.Routes
	v.names("routes", len(rs), func(i int) string { return rs[i].Name })
	for i := range rs {
		v.route(fmt.Sprintf("routes[%d]", i), &rs[i], services)
	}
}

func (v *validator) route(path string, r *Route, services map[string]bool) {
	switch {
	case r.Service != "":
		v.serviceRef(path+".service", r.Service, services)
	case r.Versions == nil && !hasTerminal(r.Policies):
		v.p.at(path, "route has no service", "set service: NAME, or add versions or a mock policy")
	}
	params, patternsOK := v.match(path+".match", r.Match)
	if r.StripPrefix != "" && !strings.HasPrefix(r.StripPrefix, "/") {
		v.p.at(path+".strip_prefix", "strip_prefix must start with /", `e.g. "/v1"`)
	}
	if r.Rewrite != "" && patternsOK { // a broken pattern binds nothing: no follow-on noise
		v.rewrite(path+".rewrite", r.Rewrite, params)
	}
	if r.Versions != nil {
		v.versions(path+".versions", r, services)
	}
}

func (v *validator) serviceRef(path, name string, services map[string]bool) {
	if !services[name] {
		v.p.at(path, "undefined service "+quote(name), suggest(name, sortedKeys(services)))
	}
}

// hasTerminal reports a policy that answers by itself (mock), so the route
// needs no upstream service.
func hasTerminal(policies map[string]yaml.Node) bool {
	for name := range policies {
		if name == "mock" {
			return true
		}
		if def, ok := policy.Lookup(name); ok && def.Phase == policy.PhaseTerminal {
			return true
		}
	}
	return false
}

// match validates the matchers and returns each path pattern's parameters
// and whether all patterns were valid.
func (v *validator) match(path string, m Match) (params [][]string, ok bool) {
	ok = true
	for i, p := range m.Paths {
		names, problems := parsePattern(p)
		ok = ok && len(problems) == 0
		for _, msg := range problems {
			v.p.at(fmt.Sprintf("%s.paths[%d]", path, i), msg, `patterns look like "/v1/orders/{id}" or "/files/{rest...}"`)
		}
		params = append(params, names)
	}
	for i, meth := range m.Methods {
		if !isUpperToken(meth) {
			v.p.at(fmt.Sprintf("%s.methods[%d]", path, i), "invalid method "+quote(meth), "write methods in upper case, e.g. GET")
		}
	}
	for i, h := range m.Hosts {
		if !validHostPattern(h) {
			v.p.at(fmt.Sprintf("%s.hosts[%d]", path, i), "invalid host "+quote(h), `write a hostname like "api.example.com" or "*.example.com", without port`)
		}
	}
	for _, name := range sortedKeys(m.Headers) {
		if !isToken(name) {
			v.p.at(path+".headers."+name, "invalid header name "+quote(name), "")
		}
	}
	return params, ok
}

// parsePattern checks a path pattern in Go's net/http syntax and returns its
// parameter names.
func parsePattern(p string) (names []string, problems []string) {
	if !strings.HasPrefix(p, "/") {
		return nil, []string{"path must start with /: " + quote(p)}
	}
	segs := strings.Split(p[1:], "/")
	seen := map[string]bool{}
	for i, seg := range segs {
		if !strings.ContainsAny(seg, "{}") {
			continue
		}
		last := i == len(segs)-1
		name, msg := parseWildcard(seg, last)
		switch {
		case msg != "":
			problems = append(problems, msg)
		case name == "$":
		case seen[name]:
			problems = append(problems, "duplicate parameter {"+name+"} in "+quote(p))
		default:
			seen[name] = true
			names = append(names, name)
		}
	}
	return names, problems
}

// parseWildcard checks one segment holding braces: "{name}", "{name...}" (last
// only) or "{$}" (last only).
func parseWildcard(seg string, last bool) (string, string) {
	if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' || strings.Count(seg, "{") != 1 || strings.Count(seg, "}") != 1 {
		return "", "unbalanced braces or a {param} that is not a whole segment: " + quote(seg)
	}
	inner := seg[1 : len(seg)-1]
	if inner == "$" {
		if !last {
			return "", "{$} may only end a pattern"
		}
		return "$", ""
	}
	name, rest := strings.CutSuffix(inner, "...")
	if rest && !last {
		return "", "{" + inner + "} may only be the last segment"
	}
	if !isIdentifier(name) {
		return "", "parameter name " + quote(name) + " is not an identifier"
	}
	return name, ""
}

// rewrite checks that each {param} it uses is bound by every path pattern.
func (v *validator) rewrite(path, rw string, params [][]string) {
	if !strings.HasPrefix(rw, "/") {
		v.p.at(path, "rewrite must start with /", `e.g. "/internal/{id}"`)
	}
	for _, ref := range rewriteRefs(rw) {
		if len(params) == 0 {
			v.p.at(path, "rewrite uses {"+ref+"} but the route has no path patterns", "add match.paths with {"+ref+"}")
			continue
		}
		for _, names := range params {
			if !contains(names, ref) {
				v.p.at(path, "rewrite uses {"+ref+"}, which not every path pattern binds", "bind {"+ref+"} in every match.paths entry")
				break
			}
		}
	}
}

func rewriteRefs(rw string) []string {
	var refs []string
	for {
		i := strings.IndexByte(rw, '{')
		if i < 0 {
			return refs
		}
		j := strings.IndexByte(rw[i:], '}')
		if j < 0 {
			return refs
		}
		refs = append(refs, strings.TrimSuffix(rw[i+1:i+j], "..."))
		rw = rw[i+j+1:]
	}
}

func (v *validator) versions(path string, r *Route, services map[string]bool) {
	vs := r.Versions
	switch {
	case !contains(versionSources, vs.From):
		v.p.at(path+".from", "versions.from must be one of "+strings.Join(versionSources, ", ")+", got "+quote(vs.From), suggest(vs.From, versionSources))
	case vs.From == "header" && !isToken(vs.Header):
		v.p.at(path+".header", "versions from header needs a header name", `e.g. header: "API-Version"`)
	case vs.From == "query" && vs.Param == "":
		v.p.at(path+".param", "versions from query needs a param name", `e.g. param: "version"`)
	}
	if len(vs.List) == 0 {
		v.p.at(path+".list", "versions needs at least one entry in list", "")
	}
	if vs.Default != "" {
		if _, ok := vs.List[vs.Default]; !ok {
			v.p.at(path+".default", "default version "+quote(vs.Default)+" is not in list", suggest(vs.Default, sortedKeys(vs.List)))
		}
	}
	for _, name := range sortedKeys(vs.List) {
		v.version(path+".list."+name, vs.List[name], r, services)
	}
}

func (v *validator) version(path string, ver Version, r *Route, services map[string]bool) {
	switch {
	case ver.Service != "":
		v.serviceRef(path+".service", ver.Service, services)
	case r.Service == "" && !hasTerminal(ver.Policies) && !hasTerminal(r.Policies):
		v.p.at(path, "version has no service and the route has none", "set service: NAME on the version or the route")
	}
}

func isIdentifier(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isUpperToken(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validHostPattern accepts a hostname or "*.suffix".
func validHostPattern(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range []byte(l) {
		if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
