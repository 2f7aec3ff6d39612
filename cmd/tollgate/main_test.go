package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

func TestValidateReportsEveryMistakeWithLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	doc := `services:
  - name: orders
    targets: ["http://127.0.0.1:9001"]
    timeouts: { connect: soon }
routes:
  - name: orders
    service: payments
    mach: { paths: ["/orders"] }
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"validate", "-c", path}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errOut.String())
	}
	got := errOut.String()
	for _, want := range []string{path + ":4:", path + ":7:", path + ":8:"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(strings.TrimSpace(got), "\n") + 1; n != 3 {
		t.Errorf("%d lines, want exactly 3 errors:\n%s", n, got)
	}
}

func TestValidateAcceptsAGoodFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "good.yaml")
	doc := "services:\n  - name: s\n    targets: [\"http://127.0.0.1:9001\"]\nroutes:\n  - name: r\n    service: s\n    match: { paths: [\"/\"] }\n"
	_ = os.WriteFile(path, []byte(doc), 0o600)
	var out, errOut bytes.Buffer
	if code := run([]string{"validate", "-c", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
}

func TestVersionAndBadFlag(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"version"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "tollgate") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"serve", "--nope"}, &out, &errOut); code != 1 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

// TestTuneGC: serve sets its GC target unless GOGC is in the environment.
func TestTuneGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "") // restored after the test
	os.Unsetenv("GOGC")
	tuneGC()
	if got := debug.SetGCPercent(100); got != gcPercent {
		t.Fatalf("without GOGC the GC percent is %d, want %d", got, gcPercent)
	}
	t.Setenv("GOGC", "100")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC=100 was overridden to %d", got)
	}
}
