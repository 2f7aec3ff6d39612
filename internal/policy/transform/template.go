package transform

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// value is a header or query value compiled at Build: either a plain literal
// (the hot path returns it as is) or a sequence of literal and variable parts.
// A small hand-rolled grammar instead of text/template: the variables are a
// fixed set, expansion allocates at most one string, and header names with
// dashes (`{{ .Header.X-Foo }}`) need no pre-processing.
type value struct {
	literal string // used when parts is nil
	parts   []part
}

type part struct {
	text string  // literal text, or the variable's argument (param, query or header name)
	kind varKind // varNone for literal text
}

type varKind uint8

const (
	varNone varKind = iota
	varPath
	varQuery
	varHeader
	varConsumerName
	varConsumerID
	varConsumerPlan
	varConsumerMeta
	varClientIP
	varMethod
	varHost
	varRequestID
	varRouteName
	varRouteVersion
)

// fixedVars are the variables that take no argument.
var fixedVars = map[string]varKind{
	".Consumer.Name": varConsumerName,
	".Consumer.ID":   varConsumerID,
	".Consumer.Plan": varConsumerPlan,
	".ClientIP":      varClientIP,
	".Method":        varMethod,
	".Host":          varHost,
	".RequestID":     varRequestID,
	".Route.Name":    varRouteName,
	".Route.Version": varRouteVersion,
}

// prefixVars take one argument after the prefix: a path param, query or header name.
var prefixVars = []struct {
	prefix string
	kind   varKind
}{
	{".Path.", varPath},
	{".Query.", varQuery},
	{".Header.", varHeader},
	{".Consumer.Metadata.", varConsumerMeta},
}

// compileValue parses s. Text outside {{ }} is literal.
func compileValue(s string) (value, error) {
	if !strings.Contains(s, "{{") {
		if strings.Contains(s, "}}") {
			return value{}, errors.New(`"}}" without a matching "{{"`)
		}
		return value{literal: s}, nil
	}
	var parts []part
	rest := s
	for rest != "" {
		open := strings.Index(rest, "{{")
		if open < 0 {
			if strings.Contains(rest, "}}") {
				return value{}, errors.New(`"}}" without a matching "{{"`)
			}
			parts = append(parts, part{text: rest})
			break
		}
		if open > 0 {
			parts = append(parts, part{text: rest[:open]})
		}
		closeAt := strings.Index(rest[open:], "}}")
		if closeAt < 0 {
			return value{}, errors.New(`"{{" without a closing "}}"`)
		}
		p, err := compileVar(rest[open+2 : open+closeAt])
		if err != nil {
			return value{}, err
		}
		parts = append(parts, p)
		rest = rest[open+closeAt+2:]
	}
	return value{parts: parts}, nil
}

// compileVar parses the inside of one {{ }}: `.Header.X-Foo` or the
// text/template spelling `index .Header "X-Foo"`.
func compileVar(expr string) (part, error) {
	expr = strings.TrimSpace(expr)
	if strings.HasPrefix(expr, "index ") {
		f := strings.Fields(expr)
		if len(f) != 3 || len(f[2]) < 2 || f[2][0] != '"' || f[2][len(f[2])-1] != '"' {
			return part{}, fmt.Errorf("template %q: write index .Header \"Name\"", expr)
		}
		expr = f[1] + "." + f[2][1:len(f[2])-1]
	}
	if k, ok := fixedVars[expr]; ok {
		return part{kind: k}, nil
	}
	for _, pv := range prefixVars {
		if name, ok := strings.CutPrefix(expr, pv.prefix); ok && name != "" && !strings.ContainsAny(name, " \t{}\"") {
			return part{kind: pv.kind, text: name}, nil
		}
	}
	return part{}, fmt.Errorf("unknown template variable %q (known: .Path.<param>, .Query.<name>, .Header.<Name>, .Consumer.Name|ID|Plan|Metadata.<key>, .ClientIP, .Method, .Host, .RequestID, .Route.Name|Version)", expr)
}

// templated reports whether expansion needs the request.
func (v *value) templated() bool { return v.parts != nil }

// expand returns the value for ex with control characters removed, so a
// client-supplied piece can never end a header line or smuggle a new one.
func (v *value) expand(ex policy.Exchange) string {
	if v.parts == nil {
		return v.literal
	}
	if len(v.parts) == 1 { // a lone variable: no copy unless it must be cleaned
		if s := lookup(ex, &v.parts[0]); !hasControl(s) {
			return s
		}
	}
	var b strings.Builder
	for i := range v.parts {
		p := &v.parts[i]
		if p.kind == varNone {
			b.WriteString(p.text)
			continue
		}
		writeClean(&b, lookup(ex, p))
	}
	return b.String()
}

func lookup(ex policy.Exchange, p *part) string {
	switch p.kind {
	case varPath:
		return ex.Param(p.text)
	case varQuery:
		return ex.Query(p.text)
	case varHeader:
		return ex.Header().Get(p.text)
	case varClientIP:
		if ip := ex.ClientIP(); ip.IsValid() {
			return ip.String()
		}
		return ""
	case varMethod:
		return ex.Method()
	case varHost:
		return ex.Host()
	case varRequestID:
		return ex.RequestID()
	case varRouteName, varRouteVersion:
		return routeField(ex.Route(), p.kind)
	}
	return consumerField(ex.Consumer(), p)
}

func routeField(r *policy.RouteInfo, k varKind) string {
	if r == nil {
		return ""
	}
	if k == varRouteName {
		return r.Name
	}
	return r.Version
}

func consumerField(c *policy.Consumer, p *part) string {
	if c == nil {
		return ""
	}
	switch p.kind {
	case varConsumerName:
		return c.Name
	case varConsumerID:
		return c.ID
	case varConsumerPlan:
		return c.Plan
	case varConsumerMeta:
		return c.Metadata[p.text]
	}
	return ""
}

// writeClean writes s without ASCII control characters (CR, LF, NUL, ...) and DEL.
// Tab is kept: it is legal inside a header value.
func writeClean(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 0x20 && c != '\t') || c == 0x7f {
			continue
		}
		b.WriteByte(c)
	}
}

// hasControl reports a control character a literal config value must not carry.
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}
