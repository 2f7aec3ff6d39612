package runtime

import (
	"fmt"
	"strings"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// PathTemplate is a rewrite target like "/internal/accounts/{id}", parsed at
// compile time so the request path only concatenates.
type PathTemplate struct {
	parts []tmplPart
}

type tmplPart struct {
	lit   string
	param string // "" for a literal part
}

// ParsePathTemplate parses a rewrite template; params are {name} or {name...}.
func ParsePathTemplate(s string) (*PathTemplate, error) {
	if !strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("rewrite %q must start with /", s)
	}
	t := &PathTemplate{}
	for s != "" {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			t.parts = append(t.parts, tmplPart{lit: s})
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("rewrite: unclosed { in %q", s)
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{lit: s[:i]})
		}
		name := strings.TrimSuffix(s[i+1:i+j], "...")
		if name == "" {
			return nil, fmt.Errorf("rewrite: empty parameter name in %q", s)
		}
		t.parts = append(t.parts, tmplPart{param: name})
		s = s[i+j+1:]
	}
	return t, nil
}

// Params lists the parameter names the template uses.
func (t *PathTemplate) Params() []string {
	var out []string
	for _, p := range t.parts {
		if p.param != "" {
			out = append(out, p.param)
		}
	}
	return out
}

// Expand fills the template from the request's route params.
func (t *PathTemplate) Expand(params []policy.Param) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.param == "" {
			b.WriteString(p.lit)
			continue
		}
		for _, kv := range params {
			if kv.Name == p.param {
				b.WriteString(kv.Value)
				break
			}
		}
	}
	return b.String()
}
