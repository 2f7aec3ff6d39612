// Package mock answers requests from the OpenAPI operation's examples
// without an upstream, for teams that design the API first.
package mock

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/tollgate-dev/tollgate/internal/openapi"
	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

// Definition is the mock policy.
var Definition = policy.Definition{
	Name:  "mock",
	Phase: policy.PhaseTerminal,
	New:   func() policy.Config { return &Config{} },
	Doc:   "answers from the OpenAPI operation's examples instead of calling the upstream",
	Files: []string{"spec"},
}

// Config is `policies.mock`.
type Config struct {
	Spec      string `yaml:"spec" json:"spec"`                     // OpenAPI 3.0/3.1 document
	Operation string `yaml:"operation" json:"operation,omitempty"` // operationId; default: by method + path
	Status    int    `yaml:"status" json:"status,omitempty"`       // response to use; default: the first 2xx
	Example   string `yaml:"example" json:"example,omitempty"`     // named example; default: the first one
	BasePath  string `yaml:"base_path" json:"base_path,omitempty"` // removed from the path before matching
}

// Validate checks the config without reading files.
func (c *Config) Validate() []error {
	errs := openapi.CheckRef("mock", c.Spec, c.BasePath)
	if c.Status != 0 && (c.Status < 100 || c.Status > 599) {
		errs = append(errs, fmt.Errorf("mock.status: %d is not an HTTP status code", c.Status))
	}
	return errs
}

// Build renders every answer once; the request path only looks one up.
func (c *Config) Build(env policy.BuildEnv) (any, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, errs[0]
	}
	doc, fixed, err := openapi.LoadRef("mock", c.Spec, c.Operation, env.Attached)
	if err != nil {
		return nil, err
	}
	h := &handler{doc: doc, basePath: c.BasePath, fixed: fixed, answers: map[*openapi.Operation]*answer{}}
	ops := doc.Operations
	if fixed != nil {
		ops = []*openapi.Operation{fixed}
	}
	for _, op := range ops {
		a, err := render(op, c.Status, c.Example)
		if err != nil && h.fixed == nil && c.Example != "" {
			a, err = render(op, c.Status, "") // the named example belongs to other operations
		}
		if err != nil && h.fixed != nil {
			return nil, fmt.Errorf("mock: operation %s %s: %w", op.Method, op.Path, err)
		}
		if err == nil {
			h.answers[op] = a
		}
	}
	if len(h.answers) == 0 {
		return nil, fmt.Errorf("mock: no operation in %s has a response to answer with", c.Spec)
	}
	return h, nil
}

type handler struct {
	doc      *openapi.Document
	basePath string
	fixed    *openapi.Operation
	answers  map[*openapi.Operation]*answer
}

type answer struct {
	status int
	header [][2]string
	body   []byte
}

// Handle answers and never calls next.
func (h *handler) Handle(ex policy.Exchange, _ policy.Next) error {
	op := h.fixed
	if op == nil {
		path, _ := openapi.TrimBasePath(ex.Path(), h.basePath)
		if op, _ = h.doc.Find(ex.Method(), path); op == nil {
			return problem.NotFound("the API description has no operation for " + ex.Method() + " " + ex.Path())
		}
	}
	a := h.answers[op]
	if a == nil {
		return problem.New(http.StatusNotImplemented, "the API description has no example response for this operation")
	}
	ex.Respond(a.status, slices.Clone(a.header), a.body)
	return nil
}

// render picks the response (status), its media type and example.
func render(op *openapi.Operation, status int, example string) (*answer, error) {
	code, resp, err := pickResponse(op.Op.Responses, status)
	if err != nil {
		return nil, err
	}
	a := &answer{status: code, header: exampleHeaders(resp)}
	mt, media := pickMedia(resp.Content)
	if media == nil {
		if example != "" {
			return nil, fmt.Errorf("response %d has no content for example %q", code, example)
		}
		return a, nil
	}
	val, ok, err := pickExample(media, example)
	if err != nil {
		return nil, fmt.Errorf("response %d: %w", code, err)
	}
	if !ok {
		return a, nil // nothing to show: an empty body, not an empty JSON document
	}
	if a.body, err = encode(mt, val); err != nil {
		return nil, fmt.Errorf("response %d: %w", code, err)
	}
	a.header = append(a.header, [2]string{"Content-Type", mt})
	return a, nil
}

// pickResponse returns the configured status, or the lowest 2xx (then 2XX,
// then default as 200).
func pickResponse(rs *openapi3.Responses, status int) (int, *openapi3.Response, error) {
	if rs == nil {
		return 0, nil, errors.New("no responses")
	}
	if status != 0 {
		if r := rs.Status(status); r != nil && r.Value != nil {
			return status, r.Value, nil
		}
		return 0, nil, fmt.Errorf("no response %d", status)
	}
	keys := rs.Keys()
	slices.Sort(keys)
	for _, k := range keys {
		if code, err := strconv.Atoi(k); err == nil && code >= 200 && code < 300 && rs.Value(k).Value != nil {
			return code, rs.Value(k).Value, nil
		}
	}
	for _, k := range []string{"2XX", "default"} {
		if r := rs.Value(k); r != nil && r.Value != nil {
			return http.StatusOK, r.Value, nil
		}
	}
	return 0, nil, errors.New("no 2xx response")
}

// pickMedia prefers JSON, then the first media type by name.
func pickMedia(c openapi3.Content) (string, *openapi3.MediaType) {
	if len(c) == 0 {
		return "", nil
	}
	if m := c["application/json"]; m != nil {
		return "application/json", m
	}
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if strings.HasSuffix(n, "+json") {
			return n, c[n]
		}
	}
	return names[0], c[names[0]]
}

// pickExample: the named example, else `example`, else the first named
// example, else one built from the schema's own examples.
func pickExample(m *openapi3.MediaType, name string) (any, bool, error) {
	if name != "" {
		if ex := m.Examples[name]; ex != nil && ex.Value != nil {
			return ex.Value.Value, true, nil
		}
		return nil, false, fmt.Errorf("no example named %q", name)
	}
	if m.Example != nil {
		return m.Example, true, nil
	}
	names := make([]string, 0, len(m.Examples))
	for n := range m.Examples {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if ex := m.Examples[n]; ex != nil && ex.Value != nil && ex.Value.Value != nil {
			return ex.Value.Value, true, nil
		}
	}
	if m.Schema != nil {
		v := fromSchema(m.Schema.Value, 0)
		return v, v != nil, nil
	}
	return nil, false, nil
}

func encode(mt string, v any) ([]byte, error) {
	if s, ok := v.(string); ok && !isJSON(mt) {
		return []byte(s), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, errors.New("the example cannot be written as JSON")
	}
	return b, nil
}

func isJSON(mt string) bool { return mt == "application/json" || strings.HasSuffix(mt, "+json") }

// exampleHeaders renders the response headers that have an example.
func exampleHeaders(r *openapi3.Response) [][2]string {
	var out [][2]string
	names := make([]string, 0, len(r.Headers))
	for n := range r.Headers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		h := r.Headers[n]
		if h == nil || h.Value == nil || strings.EqualFold(n, "Content-Type") {
			continue
		}
		v := h.Value.Example
		if v == nil && h.Value.Schema != nil {
			v = fromSchema(h.Value.Schema.Value, 0)
		}
		if v != nil {
			out = append(out, [2]string{http.CanonicalHeaderKey(n), headerValue(v)})
		}
	}
	return out
}

// headerValue writes an example as a header value, without control characters.
func headerValue(v any) string {
	s, ok := v.(string)
	if !ok {
		b, _ := json.Marshal(v)
		s = string(b)
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// fromSchema builds a value from a schema's example, default or enum, and
// recursively from its properties, items and allOf. nil when the schema
// gives nothing to go on.
func fromSchema(s *openapi3.Schema, depth int) any {
	if s == nil || depth > 8 {
		return nil
	}
	switch {
	case s.Example != nil:
		return s.Example
	case len(s.Examples) > 0:
		return s.Examples[0]
	case s.Default != nil:
		return s.Default
	case len(s.Enum) > 0:
		return s.Enum[0]
	}
	if len(s.AllOf) > 0 {
		return fromAllOf(s.AllOf, depth)
	}
	if s.Items != nil {
		if v := fromSchema(s.Items.Value, depth+1); v != nil {
			return []any{v}
		}
		return nil
	}
	return fromProperties(s.Properties, depth)
}

func fromAllOf(refs openapi3.SchemaRefs, depth int) any {
	out := map[string]any{}
	for _, r := range refs {
		if m, ok := fromSchema(r.Value, depth+1).(map[string]any); ok {
			for k, v := range m {
				out[k] = v
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func fromProperties(props openapi3.Schemas, depth int) any {
	out := map[string]any{}
	for name, p := range props {
		if p != nil {
			if v := fromSchema(p.Value, depth+1); v != nil {
				out[name] = v
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
