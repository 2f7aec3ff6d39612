package config

import (
	"fmt"
	"strconv"
	"strings"
)

// FieldError is one problem in a config document, located by file and line.
type FieldError struct {
	File string
	Line int
	Path string // dotted field path, e.g. routes[2].match.paths[0]
	Msg  string
	Hint string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	} else if e.File != "" {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (hint: ")
		b.WriteString(e.Hint)
		b.WriteByte(')')
	}
	return b.String()
}

// ErrorList is every problem found in one document.
type ErrorList []*FieldError

func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return fmt.Sprintf("%d config error(s):\n  %s", len(l), strings.Join(parts, "\n  "))
}

func quote(s string) string { return strconv.Quote(s) }
