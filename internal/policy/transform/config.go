// Package transform changes requests and responses at the edge: headers,
// query parameters, the upstream path, JSON bodies and response status codes.
package transform

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// Definition is the transform policy.
var Definition = policy.Definition{
	Name:  "transform",
	Phase: policy.PhaseTransform,
	New:   func() policy.Config { return &Config{} },
	Doc:   "rewrites headers, query, path and JSON bodies of requests and responses; maps response status codes",
}

// DefaultMaxBodyBytes bounds the JSON bodies a transform buffers.
const DefaultMaxBodyBytes = 1 << 20

// Config is `policies.transform`.
type Config struct {
	Request  *Side `yaml:"request" json:"request,omitempty"`
	Response *Side `yaml:"response" json:"response,omitempty"`
	// MaxBodyBytes caps the JSON bodies the policy buffers (default 1 MiB).
	// A longer request body is refused with 413; a longer response body passes untouched.
	MaxBodyBytes int64 `yaml:"max_body_bytes" json:"max_body_bytes,omitempty"`
}

// Side is what happens to the request or to the response.
type Side struct {
	Headers *HeaderOps  `yaml:"headers" json:"headers,omitempty"`
	Query   *HeaderOps  `yaml:"query" json:"query,omitempty"` // request only
	Path    string      `yaml:"path" json:"path,omitempty"`   // request only, e.g. /internal/accounts/{id}
	JSON    *JSONOps    `yaml:"json" json:"json,omitempty"`
	Status  map[int]int `yaml:"status" json:"status,omitempty"` // response only, e.g. {404: 410}
}

// HeaderOps edits headers or query parameters. They apply in the order
// remove, rename, set, add; template values are read from the request as it
// arrived at this policy, before any of these edits.
type HeaderOps struct {
	Add    map[string]string `yaml:"add" json:"add,omitempty"`
	Set    map[string]string `yaml:"set" json:"set,omitempty"`
	Remove []string          `yaml:"remove" json:"remove,omitempty"`
	Rename map[string]string `yaml:"rename" json:"rename,omitempty"`
}

// JSONOps edits a JSON body. Keys are dot paths into objects ("meta.via").
// Order: unwrap, remove, rename, move, set, add, wrap.
type JSONOps struct {
	Add    map[string]any    `yaml:"add" json:"add,omitempty"` // only when the field is absent
	Set    map[string]any    `yaml:"set" json:"set,omitempty"` // always
	Remove []string          `yaml:"remove" json:"remove,omitempty"`
	Rename map[string]string `yaml:"rename" json:"rename,omitempty"` // new name in the same object
	Move   map[string]string `yaml:"move" json:"move,omitempty"`     // to another dot path
	Wrap   string            `yaml:"wrap" json:"wrap,omitempty"`     // body becomes {"<wrap>": body}
	Unwrap string            `yaml:"unwrap" json:"unwrap,omitempty"` // body becomes body.<unwrap>
}

// Validate returns every problem in the config.
func (c *Config) Validate() []error {
	var errs []error
	if c.Request == nil && c.Response == nil {
		errs = append(errs, fmt.Errorf("transform: set request or response"))
	}
	if c.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("transform.max_body_bytes: must not be negative"))
	}
	if c.Request != nil {
		errs = append(errs, c.Request.validate("request", true)...)
	}
	if c.Response != nil {
		errs = append(errs, c.Response.validate("response", false)...)
	}
	return errs
}

func (s *Side) validate(where string, request bool) []error {
	var errs []error
	if s.Headers != nil {
		errs = append(errs, s.Headers.validate(where+".headers", validHeaderName)...)
	}
	if s.Query != nil {
		if !request {
			errs = append(errs, fmt.Errorf("transform.%s.query: only the request has a query", where))
		}
		errs = append(errs, s.Query.validate(where+".query", validQueryName)...)
	}
	if s.Path != "" {
		errs = append(errs, validatePath(where, s.Path, request)...)
	}
	if s.JSON != nil {
		errs = append(errs, s.JSON.validate(where+".json")...)
	}
	if len(s.Status) > 0 {
		errs = append(errs, validateStatus(where, s.Status, request)...)
	}
	return errs
}

func validatePath(where, p string, request bool) []error {
	if !request {
		return []error{fmt.Errorf("transform.%s.path: only the request has a path to rewrite", where)}
	}
	if _, err := compilePath(p); err != nil {
		return []error{fmt.Errorf("transform.%s.path: %v", where, err)}
	}
	return nil
}

func validateStatus(where string, m map[int]int, request bool) []error {
	if request {
		return []error{fmt.Errorf("transform.%s.status: status mapping applies to responses", where)}
	}
	var errs []error
	for _, from := range sortedInts(m) {
		if from < 100 || from > 599 || m[from] < 100 || m[from] > 599 {
			errs = append(errs, fmt.Errorf("transform.%s.status: %d: %d is not an HTTP status code (100-599)", where, from, m[from]))
		}
	}
	return errs
}

// framingHeaders are owned by the gateway: editing them could desync the
// message framing between client, gateway and upstream.
var framingHeaders = map[string]bool{
	"Content-Length": true, "Transfer-Encoding": true, "Connection": true, "Keep-Alive": true,
	"Upgrade": true, "Te": true, "Trailer": true, "Proxy-Connection": true, "Host": true,
}

func (o *HeaderOps) validate(where string, validName func(string) bool) []error {
	var errs []error
	isHeader := strings.HasSuffix(where, ".headers")
	name := func(op, n string) {
		if !validName(n) {
			errs = append(errs, fmt.Errorf("transform.%s.%s: %q is not a valid name", where, op, n))
		} else if isHeader && framingHeaders[http.CanonicalHeaderKey(n)] {
			errs = append(errs, fmt.Errorf("transform.%s.%s: %s is managed by the gateway and cannot be edited", where, op, n))
		}
	}
	val := func(op, n, v string) {
		name(op, n)
		if hasControl(v) {
			errs = append(errs, fmt.Errorf("transform.%s.%s.%s: value contains a control character", where, op, n))
		} else if _, err := compileValue(v); err != nil {
			errs = append(errs, fmt.Errorf("transform.%s.%s.%s: %v", where, op, n, err))
		}
	}
	for _, n := range sortedKeys(o.Add) {
		val("add", n, o.Add[n])
	}
	for _, n := range sortedKeys(o.Set) {
		val("set", n, o.Set[n])
	}
	for _, n := range o.Remove {
		name("remove", n)
	}
	for _, n := range sortedKeys(o.Rename) {
		name("rename", n)
		name("rename", o.Rename[n])
	}
	return errs
}

func (o *JSONOps) validate(where string) []error {
	var errs []error
	path := func(op, p string) {
		if !validDotPath(p) {
			errs = append(errs, fmt.Errorf("transform.%s.%s: %q is not a dot path like \"meta.via\"", where, op, p))
		}
	}
	val := func(op, p string, v any) {
		path(op, p)
		if _, err := json.Marshal(v); err != nil {
			errs = append(errs, fmt.Errorf("transform.%s.%s.%s: the value cannot be written as JSON (object keys must be strings)", where, op, p))
		}
	}
	for _, p := range sortedKeys(o.Add) {
		val("add", p, o.Add[p])
	}
	for _, p := range sortedKeys(o.Set) {
		val("set", p, o.Set[p])
	}
	for _, p := range o.Remove {
		path("remove", p)
	}
	for _, p := range sortedKeys(o.Rename) {
		path("rename", p)
		if n := o.Rename[p]; n == "" || strings.Contains(n, ".") {
			errs = append(errs, fmt.Errorf("transform.%s.rename.%s: the new name %q must be one field name (use move for another path)", where, p, n))
		}
	}
	for _, p := range sortedKeys(o.Move) {
		path("move", p)
		path("move", o.Move[p])
	}
	if o.Wrap != "" {
		path("wrap", o.Wrap)
	}
	if o.Unwrap != "" {
		path("unwrap", o.Unwrap)
	}
	return errs
}

func validDotPath(p string) bool {
	if p == "" {
		return false
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return false
		}
	}
	return true
}

// validHeaderName accepts an RFC 9110 token.
func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c >= 0x7f || c <= ' ' || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func validQueryName(n string) bool { return n != "" && !hasControl(n) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedInts(m map[int]int) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// Build compiles templates, the path rewrite and the body edits.
func (c *Config) Build(policy.BuildEnv) (any, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return nil, errs[0]
	}
	h := &handler{maxBody: c.MaxBodyBytes}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	var err error
	if c.Request != nil {
		if h.req, err = buildSide(c.Request); err != nil {
			return nil, err
		}
	}
	if c.Response != nil {
		if h.resp, err = buildSide(c.Response); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func buildSide(s *Side) (*side, error) {
	out := &side{status: s.Status}
	var err error
	if s.Headers != nil {
		out.headers = buildHeaderOps(s.Headers, http.CanonicalHeaderKey)
	}
	if s.Query != nil {
		out.query = buildHeaderOps(s.Query, func(n string) string { return n })
	}
	if s.Path != "" {
		if out.path, err = compilePath(s.Path); err != nil {
			return nil, err
		}
	}
	if s.JSON != nil {
		out.json = buildJSONOps(s.JSON)
	}
	return out, nil
}

func buildHeaderOps(o *HeaderOps, canon func(string) string) *headerOps {
	h := &headerOps{}
	for _, n := range o.Remove {
		h.remove = append(h.remove, canon(n))
	}
	for _, n := range sortedKeys(o.Rename) {
		h.rename = append(h.rename, [2]string{canon(n), canon(o.Rename[n])})
	}
	h.set = buildNamedValues(o.Set, canon)
	h.add = buildNamedValues(o.Add, canon)
	for _, nv := range append(append([]namedValue(nil), h.set...), h.add...) {
		h.templated = h.templated || nv.val.templated()
	}
	return h
}

func buildNamedValues(m map[string]string, canon func(string) string) []namedValue {
	out := make([]namedValue, 0, len(m))
	for _, n := range sortedKeys(m) {
		v, _ := compileValue(m[n]) // Validate checked it
		out = append(out, namedValue{name: canon(n), val: v})
	}
	return out
}
