package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder decodes a yaml.Node tree into Go values strictly, reporting every
// unknown field and type mismatch with its line instead of stopping at the
// first (yaml.v3's KnownFields stops; Node.Decode is not strict).
type decoder struct {
	p      *problems
	budget int                 // nodes left to visit; bounds alias expansion ("billion laughs")
	active map[*yaml.Node]bool // anchors being expanded, to catch self-referencing aliases
}

// maxNodes bounds the work one document may cause, aliases included.
const maxNodes = 1 << 18

func newDecoder(p *problems) *decoder {
	return &decoder{p: p, budget: maxNodes, active: map[*yaml.Node]bool{}}
}

var (
	nodeType            = reflect.TypeFor[yaml.Node]()
	durationType        = reflect.TypeFor[Duration]()
	stdDurationType     = reflect.TypeFor[time.Duration]()
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// spend takes one unit of budget; false once the document is too large.
func (d *decoder) spend(n *yaml.Node, path string) bool {
	if d.budget <= 0 {
		return false
	}
	d.budget--
	if d.budget == 0 {
		d.p.markBad("") // the decode stopped half-way: semantic checks would only add noise
		d.p.addNode(n, path, fmt.Sprintf("document too large: it expands to more than %d nodes", maxNodes), "reduce the use of YAML anchors and aliases")
	}
	return d.budget > 0
}

// decode sets v (addressable) from n. path names v in errors.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.spend(n, path) {
		return
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		d.alias(n, v, path)
		return
	}
	t := v.Type()
	switch {
	case t == nodeType:
		if c := d.copyNode(n, path); c != nil {
			v.Set(reflect.ValueOf(*c))
		}
		return
	case isNull(n):
		v.SetZero()
		return
	case reflect.PointerTo(t).Implements(unmarshalerType):
		d.custom(n, v, path)
		return
	case reflect.PointerTo(t).Implements(textUnmarshalerType) || t == stdDurationType:
		d.scalar(n, v, path)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		d.mapping(n, v, path)
	case reflect.Slice:
		d.sequence(n, v, path)
	case reflect.Interface:
		d.anyValue(n, v, path)
	default:
		d.scalar(n, v, path)
	}
}

// alias decodes the anchored node an alias points at, refusing cycles.
func (d *decoder) alias(n *yaml.Node, v reflect.Value, path string) {
	target := n.Alias
	if target == nil || d.active[target] {
		d.p.markBad(path)
		d.p.addNode(n, path, "alias *"+n.Value+" refers to itself", "an anchor cannot contain an alias to itself")
		return
	}
	d.active[target] = true
	d.decode(target, v, path)
	delete(d.active, target)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// pair is one key/value of a mapping; merged pairs come from "<<: *anchor".
type pair struct {
	key, val *yaml.Node
	merged   bool
}

// pairs flattens a mapping, merge keys first so that explicit keys win.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var merged, own []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergeSources(v, path)...)
			continue
		}
		own = append(own, pair{key: k, val: v})
	}
	return append(merged, own...)
}

func (d *decoder) mergeSources(v *yaml.Node, path string) []pair {
	if !d.spend(v, path) {
		return nil
	}
	if v.Kind == yaml.AliasNode {
		if v.Alias == nil || d.active[v.Alias] {
			d.p.addNode(v, path, "alias *"+v.Value+" refers to itself", "an anchor cannot contain an alias to itself")
			return nil
		}
		d.active[v.Alias] = true
		defer delete(d.active, v.Alias)
		v = v.Alias
	}
	var out []pair
	switch v.Kind {
	case yaml.MappingNode:
		for _, p := range d.pairs(v, path) {
			p.merged = true
			out = append(out, p)
		}
	case yaml.SequenceNode:
		for i := len(v.Content) - 1; i >= 0; i-- { // earlier sources win: apply them last
			out = append(out, d.mergeSources(v.Content[i], path)...)
		}
	default:
		d.p.addNode(v, path, "merge key << needs a mapping or a list of mappings", "")
	}
	return out
}

// fieldInfo describes the YAML-visible fields of a struct type.
type fieldInfo struct {
	index map[string][]int // yaml name -> field index path (inline structs flattened)
	names []string         // valid names, in declaration order
	line  []int            // index of an int field "Line" tagged yaml:"-", set to the mapping's line
}

var fieldCache sync.Map // reflect.Type -> *fieldInfo

func fieldsOf(t reflect.Type) *fieldInfo {
	if fi, ok := fieldCache.Load(t); ok {
		return fi.(*fieldInfo)
	}
	fi := &fieldInfo{index: map[string][]int{}}
	collectFields(t, nil, fi)
	fieldCache.Store(t, fi)
	return fi
}

func collectFields(t reflect.Type, prefix []int, fi *fieldInfo) {
	for i := range t.NumField() {
		f := t.Field(i)
		idx := append(append([]int(nil), prefix...), i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" {
			if f.Name == "Line" && f.Type.Kind() == reflect.Int && prefix == nil {
				fi.line = idx
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			collectFields(f.Type, idx, fi)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fi.index[name] = idx
		fi.names = append(fi.names, name)
	}
}

// structure decodes a mapping into a struct, reporting unknown and repeated keys.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeError(n, v.Type(), path)
		return
	}
	fi := fieldsOf(v.Type())
	seen := map[string]int{}
	for _, kv := range d.pairs(n, path) {
		name, ok := d.keyName(kv, seen, path)
		if !ok {
			continue
		}
		idx, ok := fi.index[name]
		if !ok {
			d.p.addNode(kv.key, joinPath(path, name), "unknown field "+quote(name), suggest(name, fi.names))
			continue
		}
		fp := joinPath(path, name)
		d.p.lines[fp] = nodePos(kv.key)
		d.decode(kv.val, v.FieldByIndex(idx), fp)
	}
	if fi.line != nil {
		v.FieldByIndex(fi.line).SetInt(int64(n.Line))
	}
}

// keyName checks that a key is a plain scalar written once in its mapping.
func (d *decoder) keyName(kv pair, seen map[string]int, path string) (string, bool) {
	k := kv.key
	if k.Kind != yaml.ScalarNode {
		d.p.addNode(k, path, "a key must be a plain name, not a list or mapping", "")
		return "", false
	}
	if kv.merged {
		return k.Value, true
	}
	if first, dup := seen[k.Value]; dup {
		d.p.addNode(k, joinPath(path, k.Value), fmt.Sprintf("%s is written twice (first at line %d)", quote(k.Value), first), "remove one of them")
		return "", false
	}
	seen[k.Value] = k.Line
	return k.Value, true
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.typeError(n, v.Type(), path)
		return
	}
	t := v.Type()
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	seen := map[string]int{}
	for _, kv := range d.pairs(n, path) {
		name, ok := d.keyName(kv, seen, path)
		if !ok {
			continue
		}
		kp := joinPath(path, name)
		d.p.lines[kp] = nodePos(kv.key)
		key := reflect.New(t.Key()).Elem()
		d.scalar(kv.key, key, kp)
		val := reflect.New(t.Elem()).Elem()
		d.decode(kv.val, val, kp)
		v.SetMapIndex(key, val)
	}
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.typeError(n, v.Type(), path)
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.p.lines[ip] = nodePos(item)
		d.decode(item, s.Index(i), ip)
	}
	v.Set(s)
}

// anyValue decodes into an empty interface with yaml.v3's generic rules.
func (d *decoder) anyValue(n *yaml.Node, v reflect.Value, path string) {
	if v.Type().NumMethod() != 0 {
		d.p.addNode(n, path, "cannot decode into "+v.Type().String(), "")
		return
	}
	c := d.copyNode(n, path)
	if c == nil {
		return
	}
	var x any
	if err := c.Decode(&x); err != nil {
		d.p.markBad(path)
		d.p.addNode(n, path, cleanYAMLError(err), "")
		return
	}
	if x != nil {
		v.Set(reflect.ValueOf(x))
	}
}

// scalar decodes a leaf with yaml.v3's scalar rules.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode {
		d.typeError(n, v.Type(), path)
		return
	}
	tmp := reflect.New(v.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		d.typeError(n, v.Type(), path)
		return
	}
	v.Set(tmp.Elem())
}

// custom runs a type's own UnmarshalYAML. A mapping aimed at a struct type is
// first checked field by field, so {url:, wieght:} is caught like anywhere else.
func (d *decoder) custom(n *yaml.Node, v reflect.Value, path string) {
	if !customShape(n, v.Kind()) {
		d.typeError(n, v.Type(), path)
		return
	}
	if n.Kind == yaml.MappingNode && v.Kind() == reflect.Struct {
		before := len(d.p.list)
		d.structure(n, reflect.New(v.Type()).Elem(), path)
		if len(d.p.list) > before {
			d.p.markBad(path)
			return
		}
	}
	c := d.copyNode(n, path) // aliases resolved: the unmarshaler sees plain data
	if c == nil {
		return
	}
	err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(c)
	if err == nil {
		return
	}
	d.p.markBad(path)
	var fe *FieldError
	if errors.As(err, &fe) {
		d.p.addNode(n, path, fe.Msg, fe.Hint)
		return
	}
	d.p.addNode(n, path, cleanYAMLError(err), "")
}

// customShape reports whether a custom unmarshaler of kind k may be given n:
// any scalar, a mapping for a struct or map type, a list for a slice or array
// type (e.g. a string-or-list type given a list).
func customShape(n *yaml.Node, k reflect.Kind) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return true
	case yaml.MappingNode:
		return k == reflect.Struct || k == reflect.Map
	case yaml.SequenceNode:
		return k == reflect.Slice || k == reflect.Array
	}
	return false
}

// copyNode deep-copies n with aliases resolved, comments and styles
// dropped and mapping keys sorted, so raw nodes kept in the config (policies, x) are self-contained
// and hash the same however they were formatted. Nil when it would not fit
// the budget or is cyclic.
func (d *decoder) copyNode(n *yaml.Node, path string) *yaml.Node {
	if !d.spend(n, path) {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || d.active[n.Alias] {
			d.p.markBad(path)
			d.p.addNode(n, path, "alias *"+n.Value+" refers to itself", "an anchor cannot contain an alias to itself")
			return nil
		}
		d.active[n.Alias] = true
		defer delete(d.active, n.Alias)
		return d.copyNode(n.Alias, path)
	}
	c := &yaml.Node{Kind: n.Kind, Tag: n.ShortTag(), Value: n.Value, Line: n.Line, Column: n.Column}
	if n.Kind == yaml.ScalarNode && c.Tag == "!!str" && strings.Contains(n.Value, "\n") {
		c.Style = yaml.LiteralStyle
	}
	for _, ch := range n.Content {
		cc := d.copyNode(ch, path)
		if cc == nil {
			return nil
		}
		c.Content = append(c.Content, cc)
	}
	if c.Kind == yaml.MappingNode {
		sortPairs(c.Content)
	}
	return c
}

// sortPairs orders a mapping's key/value pairs by key (stable), so a raw node
// hashes the same whatever order its keys were written in.
func sortPairs(content []*yaml.Node) {
	pairs := make([][2]*yaml.Node, len(content)/2)
	for i := range pairs {
		pairs[i] = [2]*yaml.Node{content[2*i], content[2*i+1]}
	}
	rank := func(k *yaml.Node) string { // merge keys first: explicit keys must still win
		if k.Tag == "!!merge" {
			return ""
		}
		return "~" + k.Value
	}
	sort.SliceStable(pairs, func(i, j int) bool { return rank(pairs[i][0]) < rank(pairs[j][0]) })
	for i, p := range pairs {
		content[2*i], content[2*i+1] = p[0], p[1]
	}
}

// typeError reports a value of the wrong shape for t.
func (d *decoder) typeError(n *yaml.Node, t reflect.Type, path string) {
	d.p.markBad(path)
	d.p.addNode(n, path, "expected "+describeType(t)+", got "+describeNode(n), typeHint(t))
}

func describeType(t reflect.Type) string {
	switch {
	case t == durationType || t == stdDurationType:
		return "a duration"
	case t == reflect.TypeFor[Target]():
		return "a URL or {url, weight}"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return t.String()
}

func typeHint(t reflect.Type) string {
	switch {
	case t == durationType || t == stdDurationType:
		return `write a Go duration like "500ms", "5s" or "1m"`
	case t.Kind() == reflect.Slice:
		return "write a list: [a, b] or one \"- item\" per line"
	case t.Kind() == reflect.Bool:
		return "write true or false without quotes"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Float64:
		return "write the number without quotes, in range for the field"
	}
	return ""
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return quote(v)
}

// cleanYAMLError strips yaml.v3's prefixes; the line is reported separately.
func cleanYAMLError(err error) string {
	var te *yaml.TypeError
	msgs := []string{err.Error()}
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for i, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		if strings.HasPrefix(m, "line ") {
			if _, rest, ok := strings.Cut(m, ": "); ok {
				m = rest
			}
		}
		msgs[i] = m
	}
	return strings.Join(msgs, "; ")
}
