package router

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/problem"
)

// segKind is what one pattern segment matches.
type segKind uint8

const (
	segLiteral segKind = iota // exactly this canonical text ("" = the empty segment after a trailing slash, from {$})
	segParam                  // {name}: one non-empty segment
	segRest                   // "/" at the end or {name...}: the rest of the path, possibly empty
)

type segment struct {
	kind segKind
	text string // canonical literal, or the wildcard name ("" for an unnamed subtree)
}

// pattern is a parsed path pattern.
type pattern struct {
	raw    string
	segs   []segment
	params []string // names of the segParam segments, in order
	rest   string   // name of a {name...} wildcard, "" if none or unnamed subtree
}

// parsePattern parses Go net/http path pattern syntax: "/a/b" exact,
// "/a/{id}" one segment, "/a/" and "/a/{rest...}" subtree, "/a/{$}" exactly
// "/a/". Literal segments are canonicalised like request paths, so a
// pattern that can never match a canonical path is an error.
func parsePattern(raw string) (*pattern, error) {
	if raw == "" || raw[0] != '/' {
		return nil, errors.New("must start with '/'")
	}
	p := &pattern{raw: raw}
	parts := strings.Split(raw[1:], "/")
	seen := map[string]bool{}
	for i, part := range parts {
		seg, err := parseSegment(part, i == len(parts)-1)
		if err != nil {
			return nil, err
		}
		if seg.kind != segLiteral && seg.text != "" {
			if seen[seg.text] {
				return nil, fmt.Errorf("duplicate wildcard name %q", seg.text)
			}
			seen[seg.text] = true
		}
		switch seg.kind {
		case segParam:
			p.params = append(p.params, seg.text)
		case segRest:
			p.rest = seg.text
		}
		p.segs = append(p.segs, seg)
	}
	return p, nil
}

func parseSegment(part string, last bool) (segment, error) {
	switch {
	case part == "":
		if !last {
			return segment{}, errors.New("empty segment (\"//\") can never match a canonical path")
		}
		return segment{kind: segRest}, nil
	case part == "{$}":
		if !last {
			return segment{}, errors.New("{$} must be at the end")
		}
		return segment{kind: segLiteral}, nil
	case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
		return parseWildcard(part[1:len(part)-1], last)
	case strings.ContainsAny(part, "{}"):
		return segment{}, fmt.Errorf("segment %q: a wildcard must be a whole segment", part)
	}
	canon, err := Canonicalize("/" + part)
	if err != nil {
		return segment{}, fmt.Errorf("segment %q: %s", part, problem.From(err).Detail)
	}
	return segment{kind: segLiteral, text: canon[1:]}, nil
}

func parseWildcard(name string, last bool) (segment, error) {
	kind := segParam
	if n, ok := strings.CutSuffix(name, "..."); ok {
		if !last {
			return segment{}, fmt.Errorf("{%s} must be at the end", name)
		}
		kind, name = segRest, n
	}
	if !isIdentifier(name) {
		return segment{}, fmt.Errorf("wildcard name %q is not a Go identifier", name)
	}
	return segment{kind: kind, text: name}, nil
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c > 0x7f
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// shape is the pattern without wildcard names: two patterns with the same
// shape match exactly the same paths.
func (p *pattern) shape() string {
	var b strings.Builder
	for _, s := range p.segs {
		b.WriteByte('/')
		switch s.kind {
		case segLiteral:
			b.WriteString(s.text)
		case segParam:
			b.WriteString("{}")
		case segRest:
			b.WriteString("{...}")
		}
	}
	return b.String()
}
