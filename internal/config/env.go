package config

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// expandEnv replaces ${VAR} and ${VAR:-default} in every scalar value of the
// tree (never in keys), in place, so decoding later still sees the original
// lines. "$${" writes a literal "${". A substituted value is not expanded again.
// Attached file contents (top-level attachments:) are data, never expanded.
func expandEnv(n *yaml.Node, path string, p *problems) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			expandEnv(c, path, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			expandEnv(c, fmt.Sprintf("%s[%d]", path, i), p)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if path == "" && n.Content[i].Value == "attachments" {
				continue
			}
			expandEnv(n.Content[i+1], joinPath(path, n.Content[i].Value), p)
		}
	case yaml.ScalarNode:
		expandScalar(n, path, p)
	}
	// Aliases are skipped: they point at a node expanded in its own place.
}

func expandScalar(n *yaml.Node, path string, p *problems) {
	if !strings.Contains(n.Value, "$") {
		return
	}
	out, errs := expandString(n.Value, os.LookupEnv)
	for _, e := range errs {
		p.markBad(path)
		p.addNode(n, path, e.msg, e.hint)
	}
	if out == n.Value {
		return
	}
	n.Value = out
	// A plain scalar is typed by its text: let "${PORT}" become an int again.
	if n.Style&^(yaml.FlowStyle) == 0 {
		n.Tag = ""
	}
}

// ExpandEnv expands ${VAR} references in s as the loader does, with this
// process's environment; ok is false when a reference cannot be resolved.
func ExpandEnv(s string) (out string, ok bool) {
	out, errs := expandString(s, os.LookupEnv)
	return out, len(errs) == 0
}

type envError struct{ msg, hint string }

// expandString performs the substitution on one string.
func expandString(s string, lookup func(string) (string, bool)) (string, []envError) {
	var b strings.Builder
	var errs []envError
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), errs
		}
		if i > 0 && s[i-1] == '$' { // "$${" is a literal "${"
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			errs = append(errs, envError{"unterminated " + quote(s[i:]), `close it with "}" or write "$${" for a literal "${"`})
			return b.String(), errs
		}
		val, err := lookupRef(s[i+2:i+end], lookup)
		if err != nil {
			errs = append(errs, *err)
		}
		b.WriteString(val)
		s = s[i+end+1:]
	}
}

// lookupRef resolves the inside of one ${...}.
func lookupRef(ref string, lookup func(string) (string, bool)) (string, *envError) {
	name, def, hasDef := strings.Cut(ref, ":-")
	if !isEnvName(name) {
		return "", &envError{"invalid variable name " + quote(name) + " in ${" + ref + "}", "names are letters, digits and _; write $${ for a literal ${"}
	}
	v, ok := lookup(name)
	if hasDef && v == "" {
		return def, nil
	}
	if !ok {
		return "", &envError{"environment variable " + name + " is not set", "export " + name + " or write ${" + name + ":-default}"}
	}
	return v, nil
}

func isEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
