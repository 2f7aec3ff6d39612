package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// Hash is a stable hex SHA-256 of the canonical document: fields in schema
// order, map keys sorted, comments and formatting gone (the loader strips them
// from raw policy nodes), env references already expanded. An unchanged
// config hashes the same, so a reload can be skipped and revisions compared.
func (c *Config) Hash() string {
	sum := sha256.Sum256(c.canonical())
	return hex.EncodeToString(sum[:])
}

func (c *Config) canonical() (out []byte) {
	defer func() { // a hand-built yaml.Node the encoder rejects: fall back to JSON
		if r := recover(); r != nil {
			out = c.canonicalJSON()
		}
	}()
	b, err := yaml.Marshal(c)
	if err != nil {
		return c.canonicalJSON()
	}
	return b
}

func (c *Config) canonicalJSON() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		return []byte(fmt.Sprintf("%#v", *c))
	}
	return b
}
