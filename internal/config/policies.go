package config

import (
	"errors"
	"fmt"
	"reflect"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-dev/tollgate/internal/policy"
)

// decodePolicies decodes every route's and version's policies block into the
// registered policy configs, strictly, and runs their Validate.
func decodePolicies(c *Config, d *decoder) {
	for i := range c.Routes {
		r := &c.Routes[i]
		base := fmt.Sprintf("routes[%d].policies", i)
		r.PolicyConfigs = decodePolicyBlock(r.Policies, base, d)
		if r.Versions == nil {
			continue
		}
		for _, name := range sortedKeys(r.Versions.List) {
			v := r.Versions.List[name]
			vp := fmt.Sprintf("routes[%d].versions.list.%s.policies", i, name)
			v.PolicyConfigs = decodePolicyBlock(v.Policies, vp, d)
			r.Versions.List[name] = v
		}
	}
}

func decodePolicyBlock(block map[string]yaml.Node, base string, d *decoder) map[string]policy.Config {
	if len(block) == 0 {
		return nil
	}
	out := make(map[string]policy.Config, len(block))
	for _, name := range sortedKeys(block) {
		node := block[name]
		if cfg := decodePolicy(name, &node, joinPath(base, name), d); cfg != nil {
			out[name] = cfg
		}
	}
	return out
}

// decodePolicy returns the policy's config, or nil after reporting why not.
func decodePolicy(name string, n *yaml.Node, path string, d *decoder) policy.Config {
	p := d.p
	def, ok := policy.Lookup(name)
	if !ok {
		p.addPos(p.posOf(path), path, "unknown policy "+quote(name), suggest(name, policy.Names()))
		return nil
	}
	cfg := def.New()
	rv := reflect.ValueOf(cfg)
	before := len(p.list)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() {
		if !isNull(n) {
			d.decode(n, rv.Elem(), path)
		}
	} else if !isNull(n) {
		p.addPos(p.posOf(path), path, "policy "+quote(name)+" takes no settings", "write "+name+": {}")
	}
	if len(p.list) > before {
		return nil // Validate on a half-decoded config would only add noise
	}
	for _, err := range cfg.Validate() {
		if err != nil {
			reportPolicyError(p, path, err)
		}
	}
	if len(p.list) > before {
		return nil
	}
	return cfg
}

// DecodePolicy strictly decodes one policy's settings, written in YAML (or
// JSON) as under a route's policies.<name>, and validates them exactly as the
// loader does. Meant for policy README example tests and tooling.
func DecodePolicy(name string, settings []byte) (policy.Config, error) {
	p := newProblems(name)
	root, ok := parseNode(settings, p)
	if !ok {
		return nil, p.sorted()
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	if root != nil {
		expandEnv(root, "", p)
		n = root.Content[0]
	}
	cfg := decodePolicy(name, n, "", newDecoder(p))
	if len(p.list) > 0 {
		return nil, p.sorted()
	}
	return cfg, nil
}

// reportPolicyError places a Validate error; a *FieldError with a Path
// relative to the policy block is located at that field's line.
func reportPolicyError(p *problems, path string, err error) {
	var fe *FieldError
	if errors.As(err, &fe) {
		fp := path
		if fe.Path != "" {
			fp = joinPath(path, fe.Path)
		}
		p.addPos(p.posOf(fp), fp, fe.Msg, fe.Hint)
		return
	}
	p.addPos(p.posOf(path), path, err.Error(), "")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
