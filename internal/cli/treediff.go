package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Change is one difference between two documents: Op is "+" (only in the
// new one), "-" (only in the old one) or "~" (changed).
type Change struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	Old  any    `json:"old,omitempty"`
	New  any    `json:"new,omitempty"`
}

// parseTree reads a YAML (or JSON) document into generic values. An empty
// document is an empty mapping.
func parseTree(doc []byte) (tree any, err error) {
	defer func() { // third-party parser on user input: never crash
		if r := recover(); r != nil {
			tree, err = nil, fmt.Errorf("cannot parse: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	if err := dec.Decode(&tree); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]any{}, nil
		}
		return nil, err
	}
	if tree == nil {
		return map[string]any{}, nil
	}
	return tree, nil
}

// DiffDocuments compares two config documents structurally: formatting,
// comments, key order and the order of named list items do not count.
func DiffDocuments(old, new []byte) ([]Change, error) {
	a, err := parseTree(old)
	if err != nil {
		return nil, fmt.Errorf("current document: %w", err)
	}
	b, err := parseTree(new)
	if err != nil {
		return nil, fmt.Errorf("new document: %w", err)
	}
	var out []Change
	diffValues("", a, b, &out)
	return out, nil
}

func diffValues(path string, a, b any, out *[]Change) {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if aIsMap && bIsMap {
		diffMaps(path, am, bm, out)
		return
	}
	al, aIsList := a.([]any)
	bl, bIsList := b.([]any)
	if aIsList && bIsList {
		diffLists(path, al, bl, out)
		return
	}
	if !sameScalar(a, b) {
		*out = append(*out, Change{Op: "~", Path: path, Old: a, New: b})
	}
}

// sameScalar is DeepEqual, except that .nan equals .nan: a document must
// never differ from itself.
func sameScalar(a, b any) bool {
	fa, aok := a.(float64)
	fb, bok := b.(float64)
	if aok && bok && math.IsNaN(fa) && math.IsNaN(fb) {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func diffMaps(path string, a, b map[string]any, out *[]Change) {
	for _, k := range unionKeys(a, b) {
		av, inA := a[k]
		bv, inB := b[k]
		p := joinKey(path, k)
		switch {
		case !inA:
			*out = append(*out, Change{Op: "+", Path: p, New: bv})
		case !inB:
			*out = append(*out, Change{Op: "-", Path: p, Old: av})
		default:
			diffValues(p, av, bv, out)
		}
	}
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// diffLists pairs items by their name when every item has a unique one
// (services, routes, plans, consumers), else by position.
func diffLists(path string, a, b []any, out *[]Change) {
	an, aok := byName(a)
	bn, bok := byName(b)
	if aok && bok {
		for _, name := range unionKeys(an, bn) {
			av, inA := an[name]
			bv, inB := bn[name]
			p := path + "[" + name + "]"
			switch {
			case !inA:
				*out = append(*out, Change{Op: "+", Path: p, New: bv})
			case !inB:
				*out = append(*out, Change{Op: "-", Path: p, Old: av})
			default:
				diffValues(p, av, bv, out)
			}
		}
		return
	}
	for i := 0; i < max(len(a), len(b)); i++ {
		p := path + "[" + strconv.Itoa(i) + "]"
		switch {
		case i >= len(a):
			*out = append(*out, Change{Op: "+", Path: p, New: b[i]})
		case i >= len(b):
			*out = append(*out, Change{Op: "-", Path: p, Old: a[i]})
		default:
			diffValues(p, a[i], b[i], out)
		}
	}
}

// byName indexes list items by their "name" field; ok is false unless every
// item is a mapping with a unique string name. An empty list counts as named.
func byName(list []any) (map[string]any, bool) {
	m := make(map[string]any, len(list))
	for _, item := range list {
		obj, isMap := item.(map[string]any)
		if !isMap {
			return nil, false
		}
		name, isStr := obj["name"].(string)
		if _, dup := m[name]; !isStr || name == "" || dup {
			return nil, false
		}
		m[name] = item
	}
	return m, true
}

// joinKey appends a mapping key to a path, quoting keys that would read
// ambiguously.
func joinKey(path, key string) string {
	if strings.ContainsAny(key, ".[]\" ") || key == "" {
		key = strconv.Quote(key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// formatChange renders one change as a diff line.
func formatChange(c Change) string {
	switch c.Op {
	case "+":
		return "+ " + c.Path + valueSuffix(c.New)
	case "-":
		return "- " + c.Path + valueSuffix(c.Old)
	}
	if o, n, ok := longTexts(c.Old, c.New); ok {
		// an attached file: its whole text twice would bury the diff
		return fmt.Sprintf("~ %s: text changed from line %d (%d -> %d bytes)", c.Path, firstDiffLine(o, n), len(o), len(n))
	}
	return "~ " + c.Path + ": " + inline(c.Old) + " -> " + inline(c.New)
}

// longTexts reports whether a change is between two multi-line or long strings.
func longTexts(a, b any) (string, string, bool) {
	o, ok1 := a.(string)
	n, ok2 := b.(string)
	long := func(s string) bool { return len(s) > 80 || strings.Contains(s, "\n") }
	return o, n, ok1 && ok2 && (long(o) || long(n))
}

// firstDiffLine is the 1-based number of the first line where a and b differ.
func firstDiffLine(a, b string) int {
	line := 1
	for i := 0; i < len(a) && i < len(b) && a[i] == b[i]; i++ {
		if a[i] == '\n' {
			line++
		}
	}
	return line
}

// valueSuffix shows an added or removed value when it is short; named list
// items show only their path.
func valueSuffix(v any) string {
	if obj, ok := v.(map[string]any); ok {
		if _, named := obj["name"]; named {
			return ""
		}
	}
	s := inline(v)
	if len(s) > 80 {
		return ""
	}
	return ": " + s
}

// inline renders a value on one line in YAML flow style.
func inline(v any) string {
	if v == nil {
		return "null"
	}
	var b bytes.Buffer
	n := &yaml.Node{}
	if err := n.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	flow(n)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(b.String())
}

func flow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = yaml.FlowStyle
	}
	for _, c := range n.Content {
		flow(c)
	}
}
