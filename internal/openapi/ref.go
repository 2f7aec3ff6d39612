package openapi

import (
	"errors"
	"fmt"
	"strings"
)

// The mock and validate_request policies both point at an operation of an
// OpenAPI document with the same settings: spec (the document), operation
// (an operationId; empty: found by method and path) and base_path (removed
// from the request path before matching). CheckRef and LoadRef are their
// shared validation and loading; policy names the settings in messages.

// CheckRef reports problems with spec and basePath without reading files.
func CheckRef(policy, spec, basePath string) []error {
	var errs []error
	if spec == "" {
		errs = append(errs, errors.New(policy+".spec: name the OpenAPI document, e.g. spec: openapi.yaml"))
	}
	if basePath != "" && !strings.HasPrefix(basePath, "/") {
		errs = append(errs, fmt.Errorf("%s.base_path: %q must start with /", policy, basePath))
	}
	return errs
}

// LoadRef loads spec (shared, see LoadShared; attached as there) and, when
// operation is set, resolves that operationId; the operation is nil when it
// is not set.
func LoadRef(policy, spec, operation string, attached func(string) ([]byte, bool)) (*Document, *Operation, error) {
	doc, err := LoadShared(spec, attached)
	if err != nil {
		return nil, nil, fmt.Errorf("%s.spec: %w", policy, err)
	}
	if operation == "" {
		return doc, nil, nil
	}
	op := doc.OperationByID(operation)
	if op == nil {
		return nil, nil, fmt.Errorf("%s.operation: %s has no operation %q", policy, spec, operation)
	}
	return doc, op, nil
}
