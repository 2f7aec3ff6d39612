package config

import (
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// problems collects every error found in one document. Validation speaks in
// field paths; lines maps each path seen while decoding to its source line, so
// a check never has to carry nodes around.
type problems struct {
	file  string
	list  ErrorList
	lines map[string]pos  // path -> where the key (or list item) that wrote it is
	bad   map[string]bool // paths whose value failed to decode
	cols  map[*FieldError]int
}

// pos is a place in the source; the column only orders problems on one line.
type pos struct{ line, col int }

func nodePos(n *yaml.Node) pos { return pos{n.Line, n.Column} }

func newProblems(file string) *problems {
	return &problems{file: file, lines: map[string]pos{"": {1, 0}}, bad: map[string]bool{}, cols: map[*FieldError]int{}}
}

// addLine records a problem at an explicit line.
func (p *problems) addLine(line int, path, msg, hint string) { p.addPos(pos{line, 0}, path, msg, hint) }

// addNode records a problem at a node.
func (p *problems) addNode(n *yaml.Node, path, msg, hint string) {
	p.addPos(nodePos(n), path, msg, hint)
}

func (p *problems) addPos(at pos, path, msg, hint string) {
	e := &FieldError{File: p.file, Line: max(at.line, 0), Path: path, Msg: msg, Hint: hint}
	p.cols[e] = at.col
	p.list = append(p.list, e)
}

// at records a semantic problem at path, located by the nearest written
// ancestor. A path whose value already failed to decode is skipped: the zero
// value left behind would only produce a second, misleading error.
func (p *problems) at(path, msg, hint string) {
	if p.undecoded(path) {
		return
	}
	p.addPos(p.posOf(path), path, msg, hint)
}

// markBad remembers that path failed to decode.
func (p *problems) markBad(path string) { p.bad[path] = true }

func (p *problems) undecoded(path string) bool {
	for {
		if p.bad[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

// posOf is where path was written, or its nearest written ancestor.
func (p *problems) posOf(path string) pos {
	for {
		if at, ok := p.lines[path]; ok {
			return at
		}
		if path == "" {
			return pos{}
		}
		path = parentPath(path)
	}
}

// sorted returns the problems in source order (stable, so problems at one
// place keep the order they were found in).
func (p *problems) sorted() ErrorList {
	sort.SliceStable(p.list, func(i, j int) bool {
		a, b := p.list[i], p.list[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return p.cols[a] < p.cols[b]
	})
	return p.list
}

// parentPath strips the last ".field" or "[i]" from a path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// joinPath appends a field name to a path.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
