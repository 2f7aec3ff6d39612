package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads a YAML or JSON config file; see Parse.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: "cannot read config: " + err.Error()}}
	}
	return Parse(data, path)
}

// Parse decodes, expands, defaults and validates one config document (YAML,
// or JSON, which is YAML too). source names the document in errors. On any
// problem it returns a nil *Config and an ErrorList holding every problem
// found, each with its line. The returned Config has Defaults applied.
func Parse(data []byte, source string) (*Config, error) {
	p := newProblems(source)
	root, ok := parseNode(data, p)
	if !ok {
		return nil, p.sorted()
	}
	cfg := &Config{Source: source}
	if root != nil {
		expandEnv(root, "", p)
		d := newDecoder(p)
		d.decode(root, reflect.ValueOf(cfg).Elem(), "")
		_, cfg.Listen.portalSet = p.lines["listen.portal"] // written, even via an alias or merge
		decodePolicies(cfg, d)
	}
	cfg.Defaults()
	validate(cfg, p)
	if len(p.list) > 0 {
		return nil, p.sorted()
	}
	return cfg, nil
}

// parseNode parses exactly one YAML document into a node tree (nil for an
// empty document).
func parseNode(data []byte, p *problems) (root *yaml.Node, ok bool) {
	defer func() { // yaml.v3 is third-party input handling: never let it crash a reload
		if r := recover(); r != nil {
			p.addLine(0, "", fmt.Sprintf("cannot parse: %v", r), "")
			root, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		p.addLine(syntaxLine(err), "", cleanYAMLError(err), "check indentation, quoting and that each key is followed by \": \"")
		return nil, false
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := extra.Line
		if err != nil {
			line = syntaxLine(err)
		}
		p.addLine(line, "", "more than one YAML document (---) in the file", "keep one document per config file")
		return nil, false
	}
	return &doc, true
}

var lineRE = regexp.MustCompile(`line (\d+)`)

// syntaxLine digs the line number out of a yaml.v3 syntax error.
func syntaxLine(err error) int {
	m := lineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// FormatErrors prints one problem per line as
// "file:line: path: message (hint: ...)", the output of `tollgate validate`.
func FormatErrors(err error) string {
	if err == nil {
		return ""
	}
	var list ErrorList
	if errors.As(err, &list) {
		var b strings.Builder
		for _, e := range list {
			b.WriteString(e.Error())
			b.WriteByte('\n')
		}
		return b.String()
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return fe.Error() + "\n"
	}
	return err.Error() + "\n"
}
