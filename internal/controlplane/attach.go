package controlplane

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/openapi"
	"github.com/tollgate-dev/tollgate/internal/policy"
)

// MaxAttachment bounds one attached file (the admin API serves a route's
// OpenAPI document up to the same size).
const MaxAttachment = 20 << 20

// Attach makes a document self-contained: every file it names (a route's
// openapi:, and the file settings of its policies, such as the spec: of
// validate_request and mock, on routes and route versions) is read from
// dir (absolute names as they are) and carried in the document's
// attachments: key, by the name as written. It is called where a document
// enters the system (a node's file, tollgate apply/diff, PUT /config), never
// on a stored revision, so a rollback serves the files it was applied with.
//
// The mapping is appended at the end of the text (an existing attachments:
// key is blanked first), so every other line keeps its number and config
// errors still point at the user's file. An entry whose file is not on disk
// is kept from the document's own attachments (a document fetched from GET
// /config); entries the document no longer names are dropped; a name neither
// on disk nor attached is left for compilation to report. A document that
// does not parse is returned as is: config.Parse reports it with lines.
func Attach(doc []byte, dir, source string) ([]byte, error) {
	return attach(doc, dir, source, false)
}

// attach is Attach; confined refuses names outside dir (absolute, or
// climbing out with ..), for documents sent over the network.
func attach(doc []byte, dir, source string, confined bool) ([]byte, error) {
	root, err := topMapping(doc)
	if err != nil || root == nil {
		return doc, nil
	}
	old, at, ok := attachmentsOf(root)
	if !ok {
		return doc, nil
	}
	want, err := readFiles(fileRefs(root), dir, old, source, confined)
	if err != nil {
		return nil, err
	}
	if (at < 0 && len(want) == 0) || (at >= 0 && maps.Equal(old, want)) {
		return doc, nil
	}
	if root.Style&yaml.FlowStyle == 0 && linesUsable(root) {
		if out, ok := attachByLines(doc, root, at, want); ok {
			return out, nil
		}
	}
	return attachByEncoding(root, at, want)
}

// attachmentsOf returns the document's attachments and the index of their
// key in m.Content (-1: none). ok is false when they are not a mapping of
// strings, which config.Parse reports.
func attachmentsOf(m *yaml.Node) (map[string]string, int, bool) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "attachments" {
			continue
		}
		var old map[string]string
		if err := m.Content[i+1].Decode(&old); err != nil {
			return nil, i, false
		}
		return old, i, true
	}
	return nil, -1, true
}

// fileRef is one file a document names, where it names it.
type fileRef struct {
	name, path string
	line       int
}

// fileRefs lists the files the document names, in document order.
func fileRefs(root *yaml.Node) []fileRef {
	var refs []fileRef
	routes := resolve(value(root, "routes"))
	if routes == nil || routes.Kind != yaml.SequenceNode {
		return nil
	}
	for i, r := range routes.Content {
		r = resolve(r)
		base := fmt.Sprintf("routes[%d]", i)
		refs = appendRef(refs, value(r, "openapi"), base+".openapi")
		refs = policyRefs(refs, value(r, "policies"), base+".policies")
		list := resolve(value(resolve(value(r, "versions")), "list"))
		for j := 0; list != nil && list.Kind == yaml.MappingNode && j+1 < len(list.Content); j += 2 {
			vp := fmt.Sprintf("%s.versions.list.%s.policies", base, list.Content[j].Value)
			refs = policyRefs(refs, value(resolve(list.Content[j+1]), "policies"), vp)
		}
	}
	return refs
}

// policyRefs adds the file settings (policy.Definition.Files) of one
// policies block.
func policyRefs(refs []fileRef, block *yaml.Node, path string) []fileRef {
	block = resolve(block)
	for i := 0; block != nil && block.Kind == yaml.MappingNode && i+1 < len(block.Content); i += 2 {
		name := block.Content[i].Value
		def, ok := policy.Lookup(name)
		if !ok {
			continue
		}
		for _, f := range def.Files {
			refs = appendRef(refs, value(resolve(block.Content[i+1]), f), path+"."+name+"."+f)
		}
	}
	return refs
}

// appendRef adds a file name, ${ENV}-expanded as the loader will see it.
func appendRef(refs []fileRef, n *yaml.Node, path string) []fileRef {
	n = resolve(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Value == "" {
		return refs
	}
	name, ok := config.ExpandEnv(n.Value)
	if !ok || name == "" {
		return refs
	}
	return append(refs, fileRef{name: name, path: path, line: n.Line})
}

// value is the value of key in mapping m (nil when absent or m is not a mapping).
func value(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// readFiles reads every named file that exists under dir; a missing one
// keeps its entry from old, if any.
func readFiles(refs []fileRef, dir string, old map[string]string, source string, confined bool) (map[string]string, error) {
	out := map[string]string{}
	var errs config.ErrorList
	for _, r := range refs {
		if _, done := out[r.name]; done {
			continue
		}
		if confined && !filepath.IsLocal(r.name) {
			if s, ok := old[r.name]; ok { // already carried by the document itself
				out[r.name] = s
				continue
			}
			errs = append(errs, &config.FieldError{File: source, Line: r.line, Path: r.path,
				Msg: fmt.Sprintf("%q is outside the gateway's config directory: a document sent to the admin API may only name files under it; send the file with the document instead (tollgate apply -f attaches the files a config names)", r.name)})
			continue
		}
		b, err := readFile(r.name, dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if s, ok := old[r.name]; ok {
				out[r.name] = s
			}
		case err != nil:
			errs = append(errs, &config.FieldError{File: source, Line: r.line, Path: r.path, Msg: err.Error()})
		case confined && !isOpenAPI(b):
			// Only OpenAPI documents travel this way: the admin API must not
			// become a way to read a key file that sits next to the config.
			errs = append(errs, &config.FieldError{File: source, Line: r.line, Path: r.path,
				Msg: fmt.Sprintf("%q is not an OpenAPI 3.x document; a document sent to the admin API may only attach those", r.name)})
		default:
			out[r.name] = string(b)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

func readFile(name, dir string) ([]byte, error) {
	p := name
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxAttachment+1))
	if err != nil {
		return nil, fmt.Errorf("cannot attach %s: %w", name, err)
	}
	if len(b) > MaxAttachment {
		return nil, fmt.Errorf("%s is larger than %d MiB, the limit for a file carried in the config document", name, MaxAttachment>>20)
	}
	return b, nil
}

// attachByLines blanks an existing attachments key's lines and appends the
// new mapping at the end, so no other line moves. ok is false when the
// result does not read back as intended (a "..." end marker, an indented
// top level): the caller re-encodes instead.
func attachByLines(doc []byte, root *yaml.Node, at int, want map[string]string) ([]byte, bool) {
	lines := strings.SplitAfter(string(doc), "\n")
	if at >= 0 {
		from, to := root.Content[at].Line-1, len(lines)
		if at+2 < len(root.Content) {
			to = root.Content[at+2].Line - 1
		}
		for i := from; i < to; i++ {
			lines[i] = strings.Repeat("\n", strings.Count(lines[i], "\n"))
		}
	}
	text := strings.TrimRight(strings.Join(lines, ""), "\n")
	if text != "" {
		text += "\n"
	}
	keys := len(root.Content) / 2
	if at >= 0 {
		keys--
	}
	if len(want) > 0 {
		tail, err := yaml.Marshal(map[string]map[string]string{"attachments": want})
		if err != nil {
			return nil, false
		}
		text += string(tail)
		keys++
	}
	check, err := topMapping([]byte(text))
	if err != nil || check == nil || len(check.Content) != 2*keys {
		return nil, false
	}
	got, _, ok := attachmentsOf(check)
	return []byte(text), ok && maps.Equal(got, want)
}

// attachByEncoding re-encodes a flow-style (JSON) document, whose lines a
// text edit cannot keep, the way SplitDocument does.
func attachByEncoding(root *yaml.Node, at int, want map[string]string) ([]byte, error) {
	m := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if i != at {
			m.Content = append(m.Content, root.Content[i], root.Content[i+1])
		}
	}
	if len(want) > 0 {
		var v yaml.Node
		if err := v.Encode(want); err != nil {
			return nil, err
		}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "attachments"}, &v)
	}
	return yaml.Marshal(m)
}

// isOpenAPI reports whether b parses as an OpenAPI 3.x document.
func isOpenAPI(b []byte) bool {
	_, err := openapi.Parse(b)
	return err == nil
}
