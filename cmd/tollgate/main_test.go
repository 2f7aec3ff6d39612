package main

import (
	"bytes"
	"net"
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

func TestBuildStamp(t *testing.T) {
	info := func(mainVersion string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Version: mainVersion}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	const rev = "0123456789abcdef0123456789abcdef01234567"
	for _, tc := range []struct {
		name                    string
		version, commit         string
		read                    func() (*debug.BuildInfo, bool)
		wantVersion, wantCommit string
	}{
		{"no build info", "dev", "none", func() (*debug.BuildInfo, bool) { return nil, false }, "dev", "none"},
		{"go build in a clean checkout", "dev", "none", info("(devel)", "vcs.revision", rev, "vcs.modified", "false"), "dev", "0123456789ab"},
		{"go build with changes", "dev", "none", info("(devel)", "vcs.revision", rev, "vcs.modified", "true"), "dev", "0123456789ab+dirty"},
		{"go install at a version", "dev", "none", info("v1.4.0"), "v1.4.0", "none"},
		{"linker flags win", "v2.0.0", "abc1234", info("v1.4.0", "vcs.revision", rev), "v2.0.0", "abc1234"},
		{"no vcs stamp", "dev", "none", info("(devel)"), "dev", "none"},
	} {
		v, c := buildStamp(tc.version, tc.commit, tc.read)
		if v != tc.wantVersion || c != tc.wantCommit {
			t.Errorf("%s: got %q %q, want %q %q", tc.name, v, c, tc.wantVersion, tc.wantCommit)
		}
	}
}

// A listen address another process holds is the user's to fix: exit 1 with
// the cause on one line, not an internal error.
func TestServeBusyAddressIsAUserError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "tollgate.yaml")
	cfg := "listen: { proxy: \"" + busy.Addr().String() + "\", admin: \"127.0.0.1:0\", portal: \"\" }\n" +
		"store: \"sqlite://" + filepath.ToSlash(filepath.Join(dir, "tg.db")) + "\"\n" +
		"services:\n  - name: s\n    targets: [\"http://127.0.0.1:1\"]\n" +
		"routes:\n  - name: r\n    service: s\n    match: { paths: [\"/\"] }\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"serve", "-c", path}, &out, &errOut)
	msg := errOut.String()
	if code != 1 || !strings.Contains(msg, busy.Addr().String()) || !strings.Contains(msg, "change listen:") {
		t.Fatalf("serve on a busy address: exit %d, stderr %q; want exit 1 naming the address", code, msg)
	}
	if lines := strings.Count(strings.TrimSpace(msg), "\n"); lines != 0 {
		t.Errorf("the cause takes %d lines, want one: %q", lines+1, msg)
	}
}
