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
//
// attached (may be nil) is the config's attachments: a document the config
// carries is taken from there by its exact name, so every node builds from
// the revision's content; only a name not attached is read from disk.
func LoadShared(path string, attached func(string) ([]byte, bool)) (*Document, error) {
	b, from, err := read(path, attached)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256(b)
	shared.Lock()
	d := shared.docs[key]
	shared.Unlock()
	if d != nil {
		return d, nil
	}
	if d, err = Parse(b); err != nil {
		return nil, fmt.Errorf("openapi: %s%s: %w", path, from, err)
	}
	shared.Lock()
	defer shared.Unlock()
	if shared.docs == nil || len(shared.docs) >= maxShared {
		shared.docs = map[[sha256.Size]byte]*Document{}
	}
	shared.docs[key] = d
	return d, nil
}

// read returns path's content from attached, else from disk; from says
// which in messages.
func read(path string, attached func(string) ([]byte, bool)) (b []byte, from string, err error) {
	if attached != nil {
		if b, ok := attached(path); ok {
			return b, " (attached)", nil
		}
	}
	if b, err = os.ReadFile(path); err != nil {
		return nil, "", fmt.Errorf("openapi: %w", err)
	}
	return b, "", nil
}
