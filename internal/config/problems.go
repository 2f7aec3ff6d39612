package config

import (
	"sort"
	"strings"
)

// problems collects every error found in one document. Validation speaks in
// field paths; lines maps each path seen while decoding to its source line, so
// a check never has to carry nodes around.
type problems struct {
	file  string
	list  ErrorList
	lines map[string]int  // path -> line of the key (or list item) that wrote it
	bad   map[string]bool // paths whose value failed to decode
}

func newProblems(file string) *problems {
	return &problems{file: file, lines: map[string]int{"": 1}, bad: map[string]bool{}}
}

// addLine records a problem at an explicit line.
func (p *problems) addLine(line int, path, msg, hint string) {
	if line < 0 {
		line = 0
	}
	p.list = append(p.list, &FieldError{File: p.file, Line: line, Path: path, Msg: msg, Hint: hint})
}

// at records a semantic problem at path, located by the nearest written
// ancestor. A path whose value already failed to decode is skipped: the zero
// value left behind would only produce a second, misleading error.
func (p *problems) at(path, msg, hint string) {
	if p.undecoded(path) {
		return
	}
	p.addLine(p.lineOf(path), path, msg, hint)
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

func (p *problems) lineOf(path string) int {
	for {
		if l, ok := p.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// sorted returns the problems ordered by line (stable, so one line's problems
// keep the order they were found in).
func (p *problems) sorted() ErrorList {
	sort.SliceStable(p.list, func(i, j int) bool { return p.list[i].Line < p.list[j].Line })
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
