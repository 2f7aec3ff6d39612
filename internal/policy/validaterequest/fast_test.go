package validaterequest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/policy/policytest"
	"github.com/tollgate-dev/tollgate/internal/problem"
)

func TestFastPathEligibility(t *testing.T) {
	for spec, want := range map[string]map[string]bool{
		"testdata/scalars.yaml": {"getItem": true},
		petstore:                {"findPets": false, "addPet": false, "find pet by id": true, "deletePet": true},
		bookshop:                {"listBooks": true, "createBook": false, "getBook": true},
	} {
		h := build(t, "spec: "+spec).(*handler)
		for id, fast := range want {
			if got := h.ops[h.doc.OperationByID(id)].fast != nil; got != fast {
				t.Errorf("%s %s: fast path %v, want %v", spec, id, got, fast)
			}
		}
	}
}

func TestScalars(t *testing.T) {
	h := build(t, "spec: testdata/scalars.yaml")
	cnt := func(v string) http.Header { return http.Header{"X-Count": {v}} }
	run(t, h, []reqCase{
		{"valid", "GET", "/items/3?q=ab+c&ratio=1.5&flag=true&kind=b", "", cnt("7"), nil, 0, ""},
		{"id below minimum", "GET", "/items/0?q=ab", "", nil, nil, 400, `path parameter "id": number must be at least 1`},
		{"id over int32", "GET", "/items/3000000000?q=ab", "", nil, nil, 400, `path parameter "id": value must be an integer`},
		{"q missing", "GET", "/items/3", "", nil, nil, 400, `query parameter "q": value is required but missing`},
		{"q empty", "GET", "/items/3?q=", "", nil, nil, 400, `query parameter "q": minimum string length is 2`},
		{"q repeated, first wins", "GET", "/items/3?q=ab&q=1", "", nil, nil, 0, ""},
		{"q pattern", "GET", "/items/3?q=AB", "", nil, nil, 400, `query parameter "q": string doesn't match the regular expression "^[a-z ]+$"`},
		{"ratio hex refused", "GET", "/items/3?q=ab&ratio=0x1p0", "", nil, nil, 400, `query parameter "ratio": value must be a number`},
		{"flag", "GET", "/items/3?q=ab&flag=yes", "", nil, nil, 400, `query parameter "flag": value must be a boolean`},
		{"enum", "GET", "/items/3?q=ab&kind=c", "", nil, nil, 400, `query parameter "kind": value is not one of the allowed values ["a","b"]`},
		{"header", "GET", "/items/3?q=ab", "", cnt("11"), nil, 400, `header parameter "X-Count": number must be at most 10`},
	})
}

// FuzzFastAgreesWithFull checks the fast path never accepts what the full
// openapi3filter validation refuses.
func FuzzFastAgreesWithFull(f *testing.F) {
	h := build(f, "spec: testdata/scalars.yaml").(*handler)
	op := h.doc.OperationByID("getItem")
	full := &handler{doc: h.doc, ops: h.ops, options: h.options}
	for _, s := range [][3]string{{"3", "q=ab&ratio=1", "2"}, {"1", "q=a%20b&flag=1", ""}, {"7", "q=ab&q=&kind=a", "10"}, {"01", "q=ab+&ratio=-1e1", "+3"}} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, id, query, count string) {
		if strings.ContainsAny(id, "/?#") {
			return
		}
		target := "/items/" + id + "?" + query
		if _, err := url.Parse(target); err != nil {
			return
		}
		ex := policytest.New("GET", target)
		if ex.URLPath != "/items/"+id {
			return // the id did not survive as one segment
		}
		if count != "" {
			ex.ReqHeader["X-Count"] = []string{count}
		}
		if !h.ops[op].fast.valid(ex, ex.URLPath, true) {
			return
		}
		sc := &scratch{hdr: http.Header{}}
		if err := full.validate(ex, ex.URLPath, op, op.Params(ex.URLPath), sc); err != nil {
			t.Fatalf("fast path accepted %q %q %q; full validation: %s", id, query, count, problem.From(err).Detail)
		}
	})
}

var _ policy.Handler = (*handler)(nil)
