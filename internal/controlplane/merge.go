package controlplane

import (
	"github.com/tollgate-dev/tollgate/internal/config"
)

// Merge validates doc (through config.Parse, so errors carry doc's own line
// numbers) and returns the config this node runs: doc's document fields with
// node's settings. A node setting inside doc is an error.
func Merge(node *config.Config, doc []byte, source string) (*config.Config, error) {
	cfg, _, err := parseDocument(doc, source)
	if err != nil {
		return nil, err
	}
	return withNode(node, cfg), nil
}

// parseDocument parses a document and returns it with its hash. The hash is
// taken before node settings are added, so every node computes the same hash
// for the same document.
func parseDocument(doc []byte, source string) (*config.Config, string, error) {
	if err := checkNoNodeKeys(doc, source); err != nil {
		return nil, "", err
	}
	cfg, err := config.Parse(doc, source)
	if err != nil {
		return nil, "", err
	}
	return cfg, cfg.Hash(), nil
}

// withNode copies node's settings over cfg's defaults, in place.
func withNode(node *config.Config, cfg *config.Config) *config.Config {
	if node == nil {
		return cfg
	}
	cfg.Listen = node.Listen
	cfg.Admin = node.Admin
	cfg.Store = node.Store
	cfg.Counters = node.Counters
	cfg.TLS = node.TLS
	cfg.Server = node.Server
	return cfg
}
