package openapi

import (
	"crypto/sha256"
	"fmt"
	"os"
	"sync"
)

// maxShared bounds the shared documents; past it the cache starts over
// (documents still in use stay alive through their users).
const maxShared = 64

var shared struct {
	sync.Mutex
	docs map[[sha256.Size]byte]*Document
}

// LoadShared is Load for config compilation: every route and policy naming
// the same document content gets the same parsed *Document, so an imported
// API with a policy on each of its routes parses its document once per
// reload, not once per route. Documents are read-only after Parse.
func LoadShared(path string) (*Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	key := sha256.Sum256(b)
	shared.Lock()
	d := shared.docs[key]
	shared.Unlock()
	if d != nil {
		return d, nil
	}
	if d, err = Parse(b); err != nil {
		return nil, fmt.Errorf("openapi: %s: %w", path, err)
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.docs == nil || len(shared.docs) >= maxShared {
		shared.docs = map[[sha256.Size]byte]*Document{}
	}
	shared.docs[key] = d
	return d, nil
}
