package openapi

import (
	"strings"
	"testing"
)

func TestCheckRef(t *testing.T) {
	if errs := CheckRef("mock", "openapi.yaml", "/v1"); errs != nil {
		t.Fatalf("valid ref: %v", errs)
	}
	errs := CheckRef("mock", "", "v1")
	if len(errs) != 2 || !strings.HasPrefix(errs[0].Error(), "mock.spec: ") || errs[1].Error() != `mock.base_path: "v1" must start with /` {
		t.Fatalf("got %v", errs)
	}
}

func TestLoadRef(t *testing.T) {
	const spec = "testdata/petstore-expanded.yaml"
	doc, op, err := LoadRef("validate_request", spec, "", nil)
	if err != nil || doc == nil || op != nil {
		t.Fatalf("no operation: %v %v %v", doc, op, err)
	}
	if _, op, err = LoadRef("validate_request", spec, "findPets", nil); err != nil || op == nil || op.Method != "GET" {
		t.Fatalf("findPets: %+v %v", op, err)
	}
	if _, _, err = LoadRef("validate_request", spec, "nope", nil); err == nil || err.Error() != `validate_request.operation: `+spec+` has no operation "nope"` {
		t.Fatalf("unknown operation: %v", err)
	}
	if _, _, err = LoadRef("mock", "testdata/missing.yaml", "", nil); err == nil || !strings.HasPrefix(err.Error(), "mock.spec: ") {
		t.Fatalf("missing file: %v", err)
	}
}
