package validaterequest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// maxDetail bounds a problem detail; schema reasons can quote input.
const maxDetail = 300

// Detail turns a validation error into a client-facing sentence naming the
// failing field: `query parameter "limit": value must be an integer`,
// `request body field "title": property "title" is missing`.
func Detail(err error) string {
	var re *openapi3filter.RequestError
	if !errors.As(err, &re) {
		return "the request does not match the API description"
	}
	where := "request"
	switch {
	case re.Parameter != nil:
		where = fmt.Sprintf("%s parameter %q", re.Parameter.In, re.Parameter.Name)
	case re.RequestBody != nil:
		where = "request body"
	}
	field, why := reason(re)
	if field != "" {
		where += fmt.Sprintf(" field %q", field)
	}
	return bound(where + ": " + why)
}

// reason explains re without internal error text: the schema's reason, a
// parse failure in words, or the filter's own reason.
func reason(re *openapi3filter.RequestError) (field, why string) {
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		field = strings.Join(se.JSONPointer(), ".")
		why = se.Reason
		if loc, msg, ok := jsonSchema2020Reason(why); ok {
			field, why = loc, msg
		}
		if why == "" {
			why = "value does not match the schema"
		}
		return field, why
	}
	var pe *openapi3filter.ParseError
	if errors.As(re.Err, &pe) {
		return strings.Join(parsePath(pe), "."), parseReason(pe)
	}
	switch {
	case errors.Is(re.Err, openapi3filter.ErrInvalidRequired):
		return "", "value is required but missing"
	case errors.Is(re.Err, openapi3filter.ErrInvalidEmptyValue):
		return "", "empty value is not allowed"
	case re.Reason != "":
		return "", re.Reason
	}
	return "", "value is not valid"
}

// jsonSchema2020Reason reads the first failure out of the JSON Schema
// 2020-12 validator's message (used for 3.1 documents), which looks like
// "jsonschema validation failed with 'https://...#' - at '/a/b': minLength: got 1, want 2",
// dropping the internal schema URL.
func jsonSchema2020Reason(s string) (field, why string, ok bool) {
	if !strings.HasPrefix(s, "jsonschema validation failed") {
		return "", "", false
	}
	_, rest, found := strings.Cut(s, "- at '")
	if !found {
		return "", "value does not match the schema", true
	}
	loc, msg, found := strings.Cut(rest, "': ")
	if !found {
		return "", "value does not match the schema", true
	}
	msg, _, _ = strings.Cut(msg, "\n")
	return strings.ReplaceAll(strings.Trim(loc, "/"), "/", "."), strings.TrimSpace(msg), true
}

func parsePath(pe *openapi3filter.ParseError) []string {
	var out []string
	for _, p := range pe.Path() {
		out = append(out, fmt.Sprint(p))
	}
	return out
}

// parseReason rewrites "an invalid integer" as "value must be an integer".
func parseReason(pe *openapi3filter.ParseError) string {
	for cause := pe; cause != nil; {
		if typ, ok := strings.CutPrefix(cause.Reason, "an invalid "); ok {
			return "value must be " + article(typ) + " " + typ
		}
		next, ok := cause.Cause.(*openapi3filter.ParseError)
		if !ok {
			break
		}
		cause = next
	}
	if pe.Reason != "" {
		return "value cannot be read: " + pe.Reason
	}
	return "value cannot be read"
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

func bound(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxDetail {
		return s[:maxDetail] + "..."
	}
	return s
}
