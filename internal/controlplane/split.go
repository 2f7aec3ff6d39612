package controlplane

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/config"
	"go.yaml.in/yaml/v3"
)

// NodeKeys are the top-level config keys that belong to one node (its
// listeners, secrets, storage and edge limits). They never enter a revision:
// every node keeps its own, and a rollback cannot move a listener.
var NodeKeys = []string{"listen", "admin", "store", "counters", "tls", "server"}

// documentKeys mark a file as carrying a document part (SPEC §3: services,
// routes, plans). A file with none of them is a pure node file.
var documentKeys = []string{"services", "routes", "plans"}

func isNodeKey(k string) bool { return contains(NodeKeys, k) }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// SplitDocument cuts a config file into its node settings and its versioned
// document. For the usual block-style file the document keeps the file's
// text: node-setting lines are blanked rather than removed, so errors in the
// document still point at the file's own line numbers. A flow-style (JSON)
// file is re-encoded. Either part is nil when it has no keys.
func SplitDocument(raw []byte) (node, doc []byte, err error) {
	root, err := topMapping(raw)
	if err != nil || root == nil {
		return nil, nil, err
	}
	if root.Style&yaml.FlowStyle != 0 || !linesUsable(root) {
		return splitByEncoding(root)
	}
	return splitByLines(raw, root)
}

// topMapping parses raw into its top-level mapping node (nil for an empty
// document). Syntax errors are left to config.Parse, which reports them with
// lines; here they only stop the split.
func topMapping(raw []byte) (root *yaml.Node, err error) {
	defer func() { // third-party parser on user input: never crash
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("cannot parse config: %v", r)
		}
	}()
	var d yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(raw)).Decode(&d); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot parse config: %w", err)
	}
	if len(d.Content) == 0 {
		return nil, nil
	}
	m := d.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, errors.New("config must be a mapping of keys (listen:, services:, routes: ...)")
	}
	return m, nil
}

// linesUsable is false when two top-level keys share a line, which a line
// split cannot separate.
func linesUsable(m *yaml.Node) bool {
	last := 0
	for i := 0; i < len(m.Content); i += 2 {
		if m.Content[i].Line <= last {
			return false
		}
		last = m.Content[i].Line
	}
	return true
}

// splitByLines gives each top-level key the lines from its own line up to the
// next key's, then blanks in each part the lines that belong to the other.
func splitByLines(raw []byte, m *yaml.Node) (node, doc []byte, err error) {
	lines := strings.SplitAfter(string(raw), "\n")
	nodeLines := make([]string, len(lines))
	docLines := make([]string, len(lines))
	var hasNode, hasDoc bool
	for i := 0; i < len(m.Content); i += 2 {
		from := m.Content[i].Line - 1
		if i == 0 {
			from = 0 // leading comments go with the first key
		}
		to := len(lines)
		if i+2 < len(m.Content) {
			to = m.Content[i+2].Line - 1
		}
		dst := docLines
		if isNodeKey(m.Content[i].Value) {
			dst, hasNode = nodeLines, true
		} else {
			hasDoc = true
		}
		copy(dst[from:to], lines[from:to])
	}
	if hasNode {
		node = joinLines(nodeLines, lines)
	}
	if hasDoc {
		doc = joinLines(docLines, lines)
	}
	return node, doc, nil
}

// joinLines writes kept lines as they were and dropped ones as bare newlines,
// then trims the trailing blank run.
func joinLines(kept, all []string) []byte {
	var b strings.Builder
	for i, l := range kept {
		switch {
		case l != "":
			b.WriteString(l)
		case strings.HasSuffix(all[i], "\n"):
			b.WriteByte('\n')
		}
	}
	return []byte(strings.TrimRight(b.String(), "\n") + "\n")
}

func splitByEncoding(m *yaml.Node) (node, doc []byte, err error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	d := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(m.Content); i += 2 {
		dst := d
		if isNodeKey(m.Content[i].Value) {
			dst = n
		}
		dst.Content = append(dst.Content, m.Content[i], m.Content[i+1])
	}
	if node, err = encodeMapping(n); err != nil {
		return nil, nil, err
	}
	doc, err = encodeMapping(d)
	return node, doc, err
}

func encodeMapping(m *yaml.Node) ([]byte, error) {
	if len(m.Content) == 0 {
		return nil, nil
	}
	return yaml.Marshal(m)
}

// HasDocument reports whether raw carries a document part (services,
// routes or plans), i.e. whether a file should become a revision.
func HasDocument(raw []byte) bool {
	m, err := topMapping(raw)
	if err != nil || m == nil {
		return false
	}
	for i := 0; i < len(m.Content); i += 2 {
		if contains(documentKeys, m.Content[i].Value) {
			return true
		}
	}
	return false
}

// checkNoNodeKeys refuses a document that carries node settings: applying
// one through the admin API must not silently drop a listener change.
func checkNoNodeKeys(doc []byte, source string) error {
	m, err := topMapping(doc)
	if err != nil || m == nil {
		return nil // config.Parse reports syntax errors with their lines
	}
	var list config.ErrorList
	for i := 0; i < len(m.Content); i += 2 {
		k := m.Content[i]
		if isNodeKey(k.Value) {
			list = append(list, &config.FieldError{File: source, Line: k.Line, Path: k.Value,
				Msg:  k.Value + " is a node setting; change it in the node's file",
				Hint: "remove " + k.Value + " from the document (tollgate apply strips node settings)"})
		}
	}
	if len(list) > 0 {
		return list
	}
	return nil
}
