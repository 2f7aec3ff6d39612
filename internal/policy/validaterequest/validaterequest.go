// Package validaterequest checks requests against the route's OpenAPI
// operation (path parameters, query, headers, JSON body) before they reach
// the upstream, answering 400 with the failing field named in the detail.
package validaterequest

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/tollgate-dev/tollgate/internal/openapi"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Definition is the validate_request policy.
var Definition = policy.Definition{
	Name:  "validate_request",
	Phase: policy.PhaseValidate,
	New:   func() policy.Config { return &Config{} },
	Doc:   "validates path params, query, headers and JSON body against the OpenAPI operation (400 on failure)",
	Files: []string{"spec"},
}

// Config is `policies.validate_request`.
type Config struct {
	// Spec is the OpenAPI 3.0/3.1 document (YAML or JSON file).
	Spec string `yaml:"spec" json:"spec"`
	// Operation is an operationId; when empty the operation is found by the
	// request's method and path.
	Operation string `yaml:"operation" json:"operation,omitempty"`
	// BasePath is removed from the request path before it is matched against
	// the document's paths (e.g. /v1 when the route serves /v1/pets for /pets).
	BasePath string `yaml:"base_path" json:"base_path,omitempty"`
}

// Validate checks the config without reading files.
func (c *Config) Validate() []error {
	return openapi.CheckRef("validate_request", c.Spec, c.BasePath)
}

// Build loads the document once and resolves the operation.
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, errs[0]
	}
	doc, fixed, err := openapi.LoadRef("validate_request", c.Spec, c.Operation, env.Attached)
	if err != nil {
		return nil, err
	}
	return &handler{doc: doc, ops: prepare(doc), fixed: fixed, basePath: c.BasePath, options: &openapi3filter.Options{
		AuthenticationFunc:  openapi3filter.NoopAuthenticationFunc, // authentication is the gateway's job
		SkipSettingDefaults: true,                                  // validate only, never rewrite
	}}, nil
}

type handler struct {
	doc      *openapi.Document
	fixed    *openapi.Operation // nil: find by method and path
	basePath string
	options  *openapi3filter.Options
	ops      map[*openapi.Operation]*prepared
	scratch  sync.Pool // *scratch: per-request values the validator does not keep
}

// prepared is what Build works out once per operation.
type prepared struct {
	route *routers.Route
	fast  *fastCheck // nil: always the full validator
	// headers are the request headers the validator reads (header parameters
	// and Content-Type), so only those are copied per request.
	headers []string
}

// scratch is reused across requests: ValidateRequest keeps none of it, and
// an error is turned into its detail string before the scratch goes back.
type scratch struct {
	req   http.Request
	url   url.URL
	hdr   http.Header
	body  bytes.Reader
	input openapi3filter.RequestValidationInput
}

func prepare(doc *openapi.Document) map[*openapi.Operation]*prepared {
	out := map[*openapi.Operation]*prepared{}
	for _, op := range doc.Operations {
		p := &prepared{
			route:   &routers.Route{Spec: doc.T, Path: op.Path, PathItem: op.PathItem, Method: op.Method, Operation: op.Op},
			headers: []string{"Content-Type"},
			fast:    compileFast(doc, op),
		}
		for _, list := range []openapi3.Parameters{op.PathItem.Parameters, op.Op.Parameters} {
			for _, prm := range list {
				if prm.Value != nil && prm.Value.In == openapi3.ParameterInHeader {
					p.headers = append(p.headers, http.CanonicalHeaderKey(prm.Value.Name))
				}
			}
		}
		out[op] = p
	}
	return out
}

func (h *handler) Handle(ex policy.Exchange, next policy.Next) error {
	path, ok := openapi.TrimBasePath(ex.Path(), h.basePath)
	if !ok {
		return problem.BadRequest("the request path is outside the API description's base path " + h.basePath)
	}
	op, fits, err := h.operation(ex, path)
	if err != nil {
		return err
	}
	if f := h.ops[op].fast; f != nil && f.valid(ex, path, fits) {
		return next(ex)
	}
	var params map[string]string
	if fits {
		params = op.Params(path)
	} else {
		params = h.routeParams(ex, op)
	}
	sc, _ := h.scratch.Get().(*scratch)
	if sc == nil {
		sc = &scratch{hdr: http.Header{}}
	}
	err = h.validate(ex, path, op, params, sc)
	h.scratch.Put(sc)
	if err != nil {
		return err
	}
	return next(ex)
}

func (h *handler) validate(ex policy.Exchange, path string, op *openapi.Operation, params map[string]string, sc *scratch) error {
	p := h.ops[op]
	if err := h.fill(ex, path, op, p, sc); err != nil {
		return err
	}
	sc.input = openapi3filter.RequestValidationInput{Request: &sc.req, PathParams: params, Route: p.route, Options: h.options}
	err := openapi3filter.ValidateRequest(ex.Context(), &sc.input)
	// Drop references to this request before the scratch is reused.
	sc.input, sc.req = openapi3filter.RequestValidationInput{}, http.Request{}
	sc.body.Reset(nil)
	clear(sc.hdr)
	if err != nil {
		return problem.BadRequest(Detail(err))
	}
	return nil
}

// operation finds the operation; fits reports whether the path fits its
// template (else a fixed operation's path parameters come from the route's
// captures, for a route whose pattern differs from the document's template).
func (h *handler) operation(ex policy.Exchange, path string) (*openapi.Operation, bool, error) {
	if h.fixed != nil {
		return h.fixed, h.doc.Match(h.fixed.Method, path) == h.fixed, nil
	}
	op := h.doc.Match(ex.Method(), path)
	if op == nil {
		if allow := h.doc.AllowedMethods(path); len(allow) > 0 {
			return nil, false, problem.New(http.StatusMethodNotAllowed, "the API description has no "+ex.Method()+" operation on this path").With("Allow", strings.Join(allow, ", "))
		}
		return nil, false, problem.BadRequest("no operation in the API description matches " + ex.Method() + " " + path)
	}
	return op, true, nil
}

// routeParams reads op's path parameters from the route's captures (names
// made Go identifiers, as the import writes them).
func (h *handler) routeParams(ex policy.Exchange, op *openapi.Operation) map[string]string {
	params := map[string]string{}
	for _, prm := range effectiveParams(op) {
		if prm.In == openapi3.ParameterInPath {
			params[prm.Name] = ex.Param(goName(prm.Name))
		}
	}
	return params
}

// goName mirrors the import's parameter renaming ({book-id} -> {book_id}).
func goName(s string) string {
	p := openapi.GoPattern("/{" + s + "}")
	return p[2 : len(p)-1]
}

// fill sets up the *http.Request openapi3filter reads. The body is read
// (within the route's body limit) only when the operation declares one.
func (h *handler) fill(ex policy.Exchange, path string, op *openapi.Operation, p *prepared, sc *scratch) error {
	clear(sc.hdr)
	for _, n := range p.headers {
		if vs := ex.Header().Values(n); len(vs) > 0 {
			sc.hdr[n] = vs // read only: the validator never writes request headers
		}
	}
	sc.url = url.URL{Path: path, RawQuery: ex.RawQuery()}
	sc.req = http.Request{Method: ex.Method(), Header: sc.hdr, Host: ex.Host(), URL: &sc.url, Body: http.NoBody}
	if op.Op.RequestBody != nil {
		b, err := ex.Body()
		if err != nil {
			return err
		}
		sc.body.Reset(b)
		sc.req.Body, sc.req.ContentLength = io.NopCloser(&sc.body), int64(len(b))
	}
	return nil
}
