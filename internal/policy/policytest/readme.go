package policytest

import (
	"os"
	"regexp"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/policy"
)

var (
	yamlFence  = regexp.MustCompile("(?s)```yaml\n(.*?)```")
	registerMu sync.Mutex
)

// CheckREADME checks that every example of the policy in the package's
// README.md is accepted by the config loader: each ```yaml block is parsed,
// every mapping entry named def.Name (at any depth, usually under
// `policies:`) is decoded strictly and validated with config.DecodePolicy.
// A block that does not pass fails the test; a README without any example
// of the policy is fatal. It returns the decoded configs, in README order,
// for package-specific checks (Build, field values).
//
// Tests run in the package directory, so README.md is the package's README.
func CheckREADME(t *testing.T, def policy.Definition) []policy.Config {
	t.Helper()
	ensureRegistered(def)
	md, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []policy.Config
	found := 0
	for i, m := range yamlFence.FindAllSubmatch(md, -1) {
		block := i + 1
		var doc yaml.Node
		if err := yaml.Unmarshal(m[1], &doc); err != nil {
			t.Errorf("README yaml block %d does not parse: %v", block, err)
			continue
		}
		for _, n := range entries(&doc, def.Name) {
			found++
			b, err := yaml.Marshal(n)
			if err != nil {
				t.Errorf("README yaml block %d: %v", block, err)
				continue
			}
			cfg, err := config.DecodePolicy(def.Name, b)
			if err != nil {
				t.Errorf("README yaml block %d: %s example is refused: %v\n%s", block, def.Name, err, b)
				continue
			}
			out = append(out, cfg)
		}
	}
	if found == 0 {
		t.Fatalf("README.md has no %s example in a ```yaml block", def.Name)
	}
	return out
}

// ensureRegistered registers def unless a definition of that name (usually
// the same one, through internal/policy/builtin) already is, since
// config.DecodePolicy looks policies up in the registry.
func ensureRegistered(def policy.Definition) {
	registerMu.Lock()
	defer registerMu.Unlock()
	if _, ok := policy.Lookup(def.Name); !ok {
		policy.Register(def)
	}
}

// entries returns the value of every mapping entry whose key is name, at any
// depth under n, without looking inside the values it returns.
func entries(n *yaml.Node, name string) []*yaml.Node {
	var out []*yaml.Node
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			out = append(out, entries(c, name)...)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k, v := n.Content[i], n.Content[i+1]; k.Value == name {
				out = append(out, v)
			} else {
				out = append(out, entries(v, name)...)
			}
		}
	}
	return out
}
