// Package openapi loads OpenAPI 3.0, 3.1 and 3.2 documents (YAML or JSON,
// through kin-openapi, which reads all three natively), finds an operation
// for a request, and turns a document into tollgate routes (Import).
package openapi

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Document is a loaded, validated OpenAPI document with its operations
// indexed for lookup.
type Document struct {
	T          *openapi3.T
	Raw        []byte // the document as read, for serving it back (portal, admin API)
	Operations []*Operation
}

// Operation is one method on one path.
type Operation struct {
	ID       string // operationId ("" when the document has none)
	Method   string // upper case
	Path     string // OpenAPI path template, e.g. /pets/{id}
	PathItem *openapi3.PathItem
	Op       *openapi3.Operation
	segments []segment
}

type segment struct {
	literal string
	param   string // non-empty: the whole segment is this parameter
	mixed   bool   // a segment like {name}.json: matched as a wildcard
}

// Load reads and parses a document file.
func Load(path string) (*Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	d, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", path, err)
	}
	return d, nil
}

// Parse parses and validates a document. External $refs (other files, URLs)
// are not followed: a config load must never fetch from the network.
func Parse(b []byte) (*Document, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	t, err := loader.LoadFromData(b)
	if err != nil {
		return nil, fmt.Errorf("not a readable OpenAPI document: %w", err)
	}
	if !strings.HasPrefix(t.OpenAPI, "3.") {
		return nil, fmt.Errorf("openapi version %q: only OpenAPI 3.x is supported", t.OpenAPI)
	}
	if err := t.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("invalid OpenAPI document: %w", err)
	}
	d := &Document{T: t, Raw: b}
	d.index()
	if len(d.Operations) == 0 {
		return nil, errors.New("the document has no operations")
	}
	return d, nil
}

// methods in the order operations are listed (stable output).
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace}

func (d *Document) index() {
	if d.T.Paths == nil {
		return
	}
	for _, p := range slices.Sorted(maps.Keys(d.T.Paths.Map())) {
		item := d.T.Paths.Value(p)
		for _, m := range methods {
			if op := item.GetOperation(m); op != nil {
				d.Operations = append(d.Operations, &Operation{ID: op.OperationID, Method: m, Path: p, PathItem: item, Op: op, segments: splitTemplate(p)})
			}
		}
	}
}

func splitTemplate(p string) []segment {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	out := make([]segment, len(parts))
	for i, s := range parts {
		open, closeAt := strings.IndexByte(s, '{'), strings.IndexByte(s, '}')
		switch {
		case open == 0 && closeAt == len(s)-1:
			out[i] = segment{param: s[1 : len(s)-1]}
		case open >= 0 && closeAt > open:
			out[i] = segment{param: s[open+1 : closeAt], mixed: true}
		default:
			out[i] = segment{literal: s}
		}
	}
	return out
}

// OperationByID finds an operation by its operationId.
func (d *Document) OperationByID(id string) *Operation {
	for _, op := range d.Operations {
		if op.ID == id {
			return op
		}
	}
	return nil
}

// Find returns the operation for method and path and the path parameters it
// binds (nil when none). A literal segment beats a parameter (/pets/mine
// before /pets/{id}). It walks the path in place: no per-request split.
func (d *Document) Find(method, path string) (*Operation, map[string]string) {
	op := d.Match(method, path)
	if op == nil {
		return nil, nil
	}
	return op, op.Params(path)
}

// Match is Find without building the parameter map.
func (d *Document) Match(method, path string) *Operation {
	var best *Operation
	bestScore := -1
	for _, op := range d.Operations {
		if op.Method != method {
			continue
		}
		if score, ok := op.match(path); ok && score > bestScore {
			best, bestScore = op, score
		}
	}
	return best
}

// ParamIndex is the segment index of the whole-segment path parameter name,
// -1 when the template has none.
func (op *Operation) ParamIndex(name string) int {
	for i, s := range op.segments {
		if s.param == name && !s.mixed {
			return i
		}
	}
	return -1
}

// Segment returns segment i of path (the path is assumed to fit op).
func Segment(path string, i int) string {
	var out string
	eachSegment(path, func(j int, seg string) bool {
		if j == i {
			out = seg
			return false
		}
		return true
	})
	return out
}

// eachSegment calls f with every segment of path, in order, until f returns false.
// It reports the number of segments seen.
func eachSegment(path string, f func(i int, seg string) bool) int {
	rest := strings.TrimPrefix(path, "/")
	for i := 0; ; i++ {
		seg, tail, more := strings.Cut(rest, "/")
		if !f(i, seg) {
			return i + 1
		}
		if !more {
			return i + 1
		}
		rest = tail
	}
}

// match reports whether path fits the template; score counts literal segments.
func (op *Operation) match(path string) (int, bool) {
	score, ok := 0, true
	n := eachSegment(path, func(i int, seg string) bool {
		if i >= len(op.segments) {
			ok = false
			return false
		}
		s := op.segments[i]
		switch {
		case s.param == "":
			if seg != s.literal {
				ok = false
			}
			score++
		case seg == "":
			ok = false
		}
		return ok
	})
	return score, ok && n == len(op.segments)
}

// Params binds the whole-segment parameters of a path that fits op; a mixed
// segment binds nothing exact, so its parameter is left to the validator's
// own decoding.
func (op *Operation) Params(path string) map[string]string {
	var out map[string]string
	eachSegment(path, func(i int, seg string) bool {
		if s := op.segments[i]; s.param != "" && !s.mixed {
			if out == nil {
				out = make(map[string]string, 2)
			}
			out[s.param] = seg
		}
		return true
	})
	return out
}

// AllowedMethods lists the methods the document has for path (for 405s).
func (d *Document) AllowedMethods(path string) []string {
	var out []string
	for _, op := range d.Operations {
		if _, ok := op.match(path); ok && !slices.Contains(out, op.Method) {
			out = append(out, op.Method)
		}
	}
	return out
}

// TrimBasePath removes base (e.g. "/v1") from the front of path, on a
// segment boundary. ok is false when path is not under base.
func TrimBasePath(path, base string) (string, bool) {
	base = strings.TrimSuffix(base, "/")
	if base == "" {
		return path, true
	}
	rest, ok := strings.CutPrefix(path, base)
	if !ok || (rest != "" && rest[0] != '/') {
		return path, false
	}
	if rest == "" {
		rest = "/"
	}
	return rest, true
}
