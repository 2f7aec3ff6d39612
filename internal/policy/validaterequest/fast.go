package validaterequest

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tollgate-dev/tollgate/internal/openapi"
	"github.com/tollgate-dev/tollgate/internal/policy"
)

// fastCheck is a cheap pre-check for the common operation: no body and only
// scalar path/query/header parameters in their default style. It reads and
// parses values exactly as openapi3filter does and validates them with the
// same schema call, but it only ever answers "valid": anything it cannot
// settle (a failure, an empty or repeated value, an escape) goes to the full
// openapi3filter validation, which also writes the error. So it can make a
// request faster, never change the verdict or the 400 detail.
type fastCheck struct {
	params []fastParam
	opts   []openapi3.SchemaValidationOption
}

type fastParam struct {
	in       string
	name     string // header: canonical
	segment  int    // path: the segment index in the operation's template
	route    string // path: the route's capture name
	required bool
	typ      string
	int32    bool
	schema   *openapi3.Schema
}

// compileFast returns nil when op needs the full validator.
func compileFast(doc *openapi.Document, op *openapi.Operation) *fastCheck {
	if op.Op.RequestBody != nil {
		return nil
	}
	f := &fastCheck{}
	if doc.T.IsOpenAPI31OrLater() {
		f.opts = append(f.opts, openapi3.EnableJSONSchema2020()) // as openapi3filter does
	}
	for _, p := range effectiveParams(op) {
		fp, ok := compileParam(p)
		if !ok {
			return nil
		}
		if fp.in == openapi3.ParameterInPath {
			if fp.segment = op.ParamIndex(p.Name); fp.segment < 0 {
				return nil
			}
			fp.route = goName(p.Name)
		}
		f.params = append(f.params, fp)
	}
	return f
}

// effectiveParams is the operation's parameters plus the path item's ones it
// does not override, as openapi3filter.ValidateRequest walks them.
func effectiveParams(op *openapi.Operation) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	for _, ref := range op.PathItem.Parameters {
		if ref.Value == nil || op.Op.Parameters.GetByInAndName(ref.Value.In, ref.Value.Name) != nil {
			continue
		}
		out = append(out, ref.Value)
	}
	for _, ref := range op.Op.Parameters {
		if ref.Value != nil {
			out = append(out, ref.Value)
		}
	}
	return out
}

var defaultStyle = map[string]string{
	openapi3.ParameterInPath:   openapi3.SerializationSimple,
	openapi3.ParameterInQuery:  openapi3.SerializationForm,
	openapi3.ParameterInHeader: openapi3.SerializationSimple,
}

func compileParam(p *openapi3.Parameter) (fastParam, bool) {
	style, known := defaultStyle[p.In]
	if !known || p.Content != nil || p.Schema == nil || p.Schema.Value == nil || p.AllowEmptyValue {
		return fastParam{}, false
	}
	s := p.Schema.Value
	if sm, err := p.SerializationMethod(); err != nil || sm.Style != style {
		return fastParam{}, false
	}
	if s.Type == nil || !s.Type.IsSingle() || len(s.AllOf)+len(s.AnyOf)+len(s.OneOf) > 0 || s.Not != nil {
		return fastParam{}, false
	}
	typ := s.Type.Slice()[0]
	switch typ {
	case openapi3.TypeInteger, openapi3.TypeNumber, openapi3.TypeBoolean, openapi3.TypeString:
	default:
		return fastParam{}, false
	}
	name := p.Name
	if p.In == openapi3.ParameterInHeader {
		name = http.CanonicalHeaderKey(name)
	}
	return fastParam{in: p.In, name: name, required: p.Required, typ: typ, int32: s.Format == "int32", schema: s}, true
}

// valid reports true only when every parameter is certainly valid.
// path is the request path; fits says whether it fits the operation's
// template (else path parameters are the route's captures).
func (f *fastCheck) valid(ex policy.Exchange, path string, fits bool) bool {
	rawQuery := ex.RawQuery()
	for i := range f.params {
		p := &f.params[i]
		raw, found, clear := p.lookup(ex, path, fits, rawQuery)
		if !clear {
			return false
		}
		if !found {
			if p.required {
				return false
			}
			continue
		}
		v, ok := p.parse(raw)
		if !ok || p.schema.VisitJSON(v, f.opts...) != nil {
			return false
		}
	}
	return true
}

// lookup finds the raw value; clear is false when the fast path should not
// decide (empty value, repeated key, an escape it would have to interpret).
func (p *fastParam) lookup(ex policy.Exchange, path string, fits bool, rawQuery string) (raw string, found, clear bool) {
	switch p.in {
	case openapi3.ParameterInPath:
		if fits {
			raw = openapi.Segment(path, p.segment)
		} else {
			raw = ex.Param(p.route)
		}
		found = raw != "" // openapi3filter: an empty path value is not found
	case openapi3.ParameterInHeader:
		vs := ex.Header().Values(p.name)
		if len(vs) > 1 {
			return "", false, false
		}
		if len(vs) == 1 {
			raw, found = vs[0], true
		}
	default:
		var ok bool
		if raw, found, ok = queryValue(rawQuery, p.name); !ok {
			return "", false, false
		}
	}
	if found && raw == "" {
		return "", false, false
	}
	return raw, found, true
}

// queryValue finds name in a raw query without building url.Values. ok is
// false when the key repeats or an escape does not decode.
func queryValue(rawQuery, name string) (val string, found, ok bool) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(pair, "=")
		if strings.ContainsAny(k, "%+") {
			if dk, err := url.QueryUnescape(k); err != nil {
				return "", false, false
			} else {
				k = dk
			}
		}
		if k != name {
			continue
		}
		if found {
			return "", false, false
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return "", false, false
		}
		val, found = dv, true
	}
	return val, found, true
}

// parse mirrors openapi3filter's parsePrimitiveCase.
func (p *fastParam) parse(raw string) (any, bool) {
	switch p.typ {
	case openapi3.TypeInteger:
		if p.int32 {
			v, err := strconv.ParseInt(raw, 10, 32)
			return int32(v), err == nil
		}
		v, err := strconv.ParseInt(raw, 10, 64)
		return v, err == nil
	case openapi3.TypeNumber:
		if strings.ContainsFunc(raw, func(r rune) bool { return !strings.ContainsRune("+-.0123456789eE", r) }) {
			return nil, false
		}
		v, err := strconv.ParseFloat(raw, 64)
		return v, err == nil
	case openapi3.TypeBoolean:
		v, err := strconv.ParseBool(raw)
		return v, err == nil
	}
	return raw, true
}
