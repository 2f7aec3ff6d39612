package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
)

// jsonOps is JSONOps with its dot paths split once at Build.
type jsonOps struct {
	unwrap []string
	remove [][]string
	rename []jsonRename
	move   []jsonMove
	set    []jsonValue
	add    []jsonValue
	wrap   []string
}

type jsonRename struct {
	from []string
	to   string
}

type jsonMove struct{ from, to []string }

type jsonValue struct {
	path []string
	val  any
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, ".")
}

func buildJSONOps(o *JSONOps) *jsonOps {
	j := &jsonOps{unwrap: splitPath(o.Unwrap), wrap: splitPath(o.Wrap)}
	for _, p := range o.Remove {
		j.remove = append(j.remove, splitPath(p))
	}
	for _, p := range sortedKeys(o.Rename) {
		j.rename = append(j.rename, jsonRename{from: splitPath(p), to: o.Rename[p]})
	}
	for _, p := range sortedKeys(o.Move) {
		j.move = append(j.move, jsonMove{from: splitPath(p), to: splitPath(o.Move[p])})
	}
	for _, p := range sortedKeys(o.Set) {
		j.set = append(j.set, jsonValue{path: splitPath(p), val: normalizeJSON(o.Set[p])})
	}
	for _, p := range sortedKeys(o.Add) {
		j.add = append(j.add, jsonValue{path: splitPath(p), val: normalizeJSON(o.Add[p])})
	}
	return j
}

// normalizeJSON turns a config value decoded from YAML into the same shapes
// a decoded body has (map[string]any, []any, json.Number). Validate already
// checked it encodes.
func normalizeJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	_ = dec.Decode(&out)
	return out
}

// cloneJSON copies objects and arrays so edits to one body never reach the
// config value shared by every request.
func cloneJSON(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, x := range t {
			out[k] = cloneJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = cloneJSON(x)
		}
		return out
	}
	return v
}

var errTrailingData = errors.New("trailing data after the JSON value")

// apply decodes b, edits it and encodes it again. Numbers keep their exact
// text (UseNumber); HTML characters are not escaped so strings are unchanged.
func (o *jsonOps) apply(b []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errTrailingData
	}
	doc = o.edit(doc)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil
}

func (o *jsonOps) edit(doc any) any {
	if o.unwrap != nil {
		if v, ok := getPath(doc, o.unwrap); ok {
			doc = v
		}
	}
	for _, p := range o.remove {
		deletePath(doc, p)
	}
	for _, r := range o.rename {
		if v, ok := getPath(doc, r.from); ok {
			deletePath(doc, r.from)
			to := append(append([]string(nil), r.from[:len(r.from)-1]...), r.to)
			setPath(doc, to, v)
		}
	}
	for _, m := range o.move {
		if v, ok := getPath(doc, m.from); ok {
			deletePath(doc, m.from)
			setPath(doc, m.to, v)
		}
	}
	for _, s := range o.set {
		setPath(doc, s.path, cloneJSON(s.val))
	}
	for _, a := range o.add {
		if _, ok := getPath(doc, a.path); !ok {
			setPath(doc, a.path, cloneJSON(a.val))
		}
	}
	if o.wrap != nil {
		doc = wrapIn(doc, o.wrap)
	}
	return doc
}

func getPath(doc any, path []string) (any, bool) {
	cur := doc
	for _, seg := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func deletePath(doc any, path []string) {
	parent, ok := getPath(doc, path[:len(path)-1])
	if obj, isObj := parent.(map[string]any); ok && isObj {
		delete(obj, path[len(path)-1])
	}
}

// setPath creates missing intermediate objects; it does nothing when a
// segment on the way is a non-object value (it never overwrites data to
// make room).
func setPath(doc any, path []string, v any) {
	obj, ok := doc.(map[string]any)
	if !ok {
		return
	}
	for _, seg := range path[:len(path)-1] {
		next, exists := obj[seg]
		if !exists {
			child := map[string]any{}
			obj[seg] = child
			obj = child
			continue
		}
		if obj, ok = next.(map[string]any); !ok {
			return
		}
	}
	obj[path[len(path)-1]] = v
}

func wrapIn(doc any, path []string) any {
	for i := len(path) - 1; i >= 0; i-- {
		doc = map[string]any{path[i]: doc}
	}
	return doc
}
