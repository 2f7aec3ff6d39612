package router

import (
	"errors"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/problem"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		raw, want string
		err       error
	}{
		{"/", "/", nil},
		{"/v1/orders", "/v1/orders", nil},
		{"/v1/orders/", "/v1/orders/", nil},
		{"//v1///orders//", "/v1/orders/", nil},
		{"/%41%62c", "/Abc", nil},
		{"/a%2db%5fc%7e%2E", "/a-b_c~.", nil},
		{"/a%2eb", "/a.b", nil},
		{"/a/%2e%2e%2e", "/a/...", nil},
		{"/q%3fx", "/q%3Fx", nil},
		{"/sp%20ace", "/sp%20ace", nil},
		{"/raw space", "/raw%20space", nil},
		{"/ü", "/%C3%BC", nil},
		{"/a?b#c", "/a%3Fb%23c", nil},
		{"/a%25", "/a%25", nil},
		{"/%252F", "/%252F", nil},
		{"/a:b@c!$&'()*+,;=", "/a:b@c!$&'()*+,;=", nil},
		{"/...", "/...", nil},
		{"/.well-known/x", "/.well-known/x", nil},
		{"", "", ErrNotAbsolute},
		{"v1", "", ErrNotAbsolute},
		{"*", "", ErrNotAbsolute},
		{"/a%2Fb", "", ErrEncodedSlash},
		{"/a%2fb", "", ErrEncodedSlash},
		{"/a\\b", "", ErrBackslash},
		{"/a%5cb", "", ErrBackslash},
		{"/a%5Cb", "", ErrBackslash},
		{"/a\x00b", "", ErrNUL},
		{"/a%00b", "", ErrNUL},
		{"/a\nb", "", ErrControl},
		{"/a\x7fb", "", ErrControl},
		{"/a%0d%0ab", "", ErrControl},
		{"/a%7F", "", ErrControl},
		{"/a/%2e/b", "", ErrEncodedDot},
		{"/a/%2E%2E/b", "", ErrEncodedDot},
		{"/a/.%2e", "", ErrEncodedDot},
		{"/a/%2e", "", ErrEncodedDot},
		{"/a/../b", "", ErrDotSegment},
		{"/..", "", ErrDotSegment},
		{"/.", "", ErrDotSegment},
		{"/a/./b", "", ErrDotSegment},
		{"/a/..", "", ErrDotSegment},
		{"/a//../b", "", ErrDotSegment},
		{"/a%20/../b", "", ErrDotSegment},
		{"/a%", "", ErrBadEscape},
		{"/a%4", "", ErrBadEscape},
		{"/a%zz", "", ErrBadEscape},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := Canonicalize(tt.raw)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Canonicalize(%q) = %q, %v; want error %v", tt.raw, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Canonicalize(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
			}
			if again, err := Canonicalize(got); err != nil || again != got {
				t.Fatalf("not a fixed point: %q -> %q, %v", got, again, err)
			}
		})
	}
}

func TestCanonicalizePlainDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Canonicalize("/v1/orders/123/items"); err != nil {
			t.Fatal(err)
		}
		if _, err := Canonicalize("/v1/../x"); err == nil {
			t.Fatal("dot segment accepted")
		}
	})
	if allocs != 0 {
		t.Fatalf("allocs = %v, want 0", allocs)
	}
}

func TestCanonicalizeErrorsAreClientProblems(t *testing.T) {
	for _, raw := range []string{"x", "/%2F", "/\\", "/%00", "/\x01", "/%2e", "/..", "/%"} {
		_, err := Canonicalize(raw)
		var pe *problem.Error
		if !errors.As(err, &pe) || pe.Status != 400 || pe.Detail == "" {
			t.Errorf("Canonicalize(%q) error = %#v, want a 400 *problem.Error", raw, err)
		}
	}
}
