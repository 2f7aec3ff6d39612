package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDiffDocuments(t *testing.T) {
	tests := []struct {
		name, old, new string
		want           []string
	}{
		{"equal despite format", "a: 1\nb: [x, y]\n", "# c\nb:\n  - x\n  - y\na: 1\n", nil},
		{"json vs yaml", `{"routes": [{"name": "r", "service": "s"}]}`, "routes:\n  - service: s\n    name: r\n", nil},
		{"named items reordered", "s: [{name: a, v: 1}, {name: b, v: 2}]", "s: [{name: b, v: 2}, {name: a, v: 1}]", nil},
		{"scalar change", "a: {b: 1}", "a: {b: 2}", []string{"~ a.b: 1 -> 2"}},
		{"added and removed keys", "a: 1\nc: {x: 1}", "a: 1\nb: [1, 2]", []string{"+ b: [1, 2]", "- c: {x: 1}"}},
		{"named items", "r: [{name: a}, {name: old}]", "r: [{name: a}, {name: new}]", []string{"+ r[new]", "- r[old]"}},
		{"unnamed list by index", "p: [/a, /b]", "p: [/a, /c, /d]", []string{"~ p[1]: /b -> /c", "+ p[2]: /d"}},
		{"duplicate names fall back to index", "r: [{name: a, v: 1}, {name: a, v: 2}]", "r: [{name: a, v: 1}, {name: a, v: 3}]", []string{"~ r[1].v: 2 -> 3"}},
		{"type change", "a: 1", "a: [1]", []string{"~ a: 1 -> [1]"}},
		{"empty vs something", "", "a: x", []string{"+ a: x"}},
		{"odd keys quoted", "m: {\"a.b\": 1}", "m: {\"a.b\": 2}", []string{`~ m."a.b": 1 -> 2`}},
		{"null value", "a: null", "a: 1", []string{"~ a: null -> 1"}},
		{"nan equals nan", "a: .nan", "a: .NaN", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changes, err := DiffDocuments([]byte(tc.old), []byte(tc.new))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range changes {
				got = append(got, formatChange(c))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestDiffDocumentsBadInput(t *testing.T) {
	if _, err := DiffDocuments([]byte("a: ["), []byte("a: 1")); err == nil {
		t.Fatal("no error for a broken current document")
	}
	if _, err := DiffDocuments([]byte("a: 1"), []byte("a: [")); err == nil {
		t.Fatal("no error for a broken new document")
	}
}

func TestPrintChangesColoursOnlyTerminals(t *testing.T) {
	var b bytes.Buffer
	changes := []Change{{Op: "+", Path: "a", New: 1}, {Op: "-", Path: "b", Old: 1}, {Op: "~", Path: "c", Old: 1, New: 2}}
	if err := printChanges(&b, &globals{output: "table"}, changes); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "\x1b") || b.String() != "+ a: 1\n- b: 1\n~ c: 1 -> 2\n" {
		t.Fatalf("plain output = %q", b.String())
	}
}

func TestReport(t *testing.T) {
	tests := []struct {
		err    error
		code   int
		output string
	}{
		{nil, 0, ""},
		{ExitDifferent, 1, ""},
		{withCode(ExitTrouble, errors.New("cannot reach")), 2, "tollgate: cannot reach\n"},
		{fmt.Errorf("wrapped: %w", withCode(ExitUser, errors.New("bad"))), 1, "tollgate: wrapped: bad\n"},
		{recode(ExitTrouble, withCode(ExitUser, errors.New("x"))), 2, "tollgate: x\n"},
		{errors.New("plain"), 1, "tollgate: plain\n"},
	}
	for _, tc := range tests {
		var b bytes.Buffer
		if got := Report(tc.err, &b); got != tc.code || b.String() != tc.output {
			t.Errorf("Report(%v) = %d %q, want %d %q", tc.err, got, b.String(), tc.code, tc.output)
		}
	}
}

func FuzzDiffDocuments(f *testing.F) {
	f.Add([]byte("a: 1"), []byte("a: 2"))
	f.Add([]byte("r: [{name: a}]"), []byte("r: [{name: b}, {name: a}]"))
	f.Add([]byte(`{"x": [1, {"name": "n"}]}`), []byte("x: &a [1]\ny: *a"))
	f.Add([]byte(""), []byte("- 1\n- 2"))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		changes, err := DiffDocuments(a, b)
		if err != nil {
			return
		}
		for _, c := range changes {
			_ = formatChange(c)
		}
		// A document never differs from itself.
		if same, err := DiffDocuments(a, a); err == nil && len(same) != 0 {
			t.Fatalf("document differs from itself: %v", same)
		}
	})
}
