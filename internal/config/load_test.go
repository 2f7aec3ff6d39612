package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// parseErrs parses src and returns its problems (failing if there are none).
func parseErrs(t *testing.T, src string) ErrorList {
	t.Helper()
	cfg, err := Parse([]byte(src), "t.yaml")
	if err == nil {
		t.Fatalf("expected errors, got none")
	}
	if cfg != nil {
		t.Fatalf("config returned along with errors")
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want ErrorList", err)
	}
	return list
}

func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := Parse([]byte(src), "t.yaml")
	if err != nil {
		t.Fatalf("unexpected errors:\n%s", FormatErrors(err))
	}
	return cfg
}

func TestFullExampleIsValid(t *testing.T) {
	cfg, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatalf("full.yaml:\n%s", FormatErrors(err))
	}
	if len(cfg.Services) != 4 || len(cfg.Routes) != 4 || len(cfg.Plans) != 2 || len(cfg.Consumers) != 2 {
		t.Fatalf("counts: %d services %d routes %d plans %d consumers", len(cfg.Services), len(cfg.Routes), len(cfg.Plans), len(cfg.Consumers))
	}
	if cfg.Admin.Token != "dev-token" {
		t.Errorf("admin token = %q", cfg.Admin.Token)
	}
	if got := cfg.Services[0].Health.Interval.D(); got != 5*time.Second {
		t.Errorf("health interval = %v", got)
	}
	if got := cfg.Services[1].Targets[0]; got.URL != "http://127.0.0.1:9101" || got.Weight != 3 {
		t.Errorf("target = %+v", got)
	}
	if cfg.Services[0].Targets[1].Weight != 1 {
		t.Errorf("string target weight = %d, want 1", cfg.Services[0].Targets[1].Weight)
	}
	rl, ok := cfg.Routes[0].PolicyConfigs["rate_limit"].(*testRateLimit)
	if !ok || rl.Limit != 100 || rl.Window.D() != time.Minute || rl.By != "consumer" {
		t.Errorf("rate_limit config = %#v", cfg.Routes[0].PolicyConfigs["rate_limit"])
	}
	if _, ok := cfg.Routes[0].PolicyConfigs["key_auth"].(*testKeyAuth); !ok {
		t.Errorf("key_auth {} not decoded: %#v", cfg.Routes[0].PolicyConfigs)
	}
	v2 := cfg.Routes[1].Versions.List["2"]
	if vrl, ok := v2.PolicyConfigs["rate_limit"].(*testRateLimit); !ok || vrl.Limit != 50 {
		t.Errorf("version policy = %#v", v2.PolicyConfigs)
	}
	if cfg.Routes[0].Line != 44 || cfg.Services[0].Line != 23 || cfg.Plans[0].Line != 77 || cfg.Consumers[0].Line != 87 {
		t.Errorf("lines: route %d service %d plan %d consumer %d", cfg.Routes[0].Line, cfg.Services[0].Line, cfg.Plans[0].Line, cfg.Consumers[0].Line)
	}
}

// TestGoldenThreeMistakes: three distinct mistakes give exactly three errors,
// each at its own line, and the bad duration adds no follow-on error.
func TestGoldenThreeMistakes(t *testing.T) {
	list, err := loadErrs("testdata/three_mistakes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`testdata/three_mistakes.yaml:6: services[0].health.interval: invalid duration "5 seconds" (hint: write a Go duration like "500ms", "5s" or "1m")`,
		`testdata/three_mistakes.yaml:10: routes[0].mach: unknown field "mach" (hint: did you mean "match"?)`,
		`testdata/three_mistakes.yaml:14: routes[1].service: undefined service "order" (hint: did you mean "orders"?)`,
	}
	got := strings.Split(strings.TrimSpace(FormatErrors(list)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func loadErrs(path string) (ErrorList, error) {
	_, err := Load(path)
	var list ErrorList
	if !errors.As(err, &list) {
		return nil, errors.New("expected an ErrorList")
	}
	return list, nil
}

func TestJSONAccepted(t *testing.T) {
	src := `{
	"listen": {"proxy": ":9999"},
	"services": [{"name": "a", "targets": ["http://127.0.0.1:1"]}],
	"routes": [{"name": "r", "service": "a", "match": {"paths": ["/x/{id}"]}, "policies": {"rate_limit": {"limit": 3, "window": "1s"}}}]
}`
	cfg := mustParse(t, src)
	if cfg.Listen.Proxy != ":9999" || cfg.Routes[0].Match.Paths[0] != "/x/{id}" || cfg.Routes[0].Line != 4 {
		t.Fatalf("decoded %+v", cfg)
	}
	list := parseErrs(t, `{"services": [{"name": "a", "targts": []}]}`)
	if len(list) != 2 || list[1].Line != 1 || !strings.Contains(list[1].Msg, `"targts"`) {
		t.Fatalf("got %v", list)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(FormatErrors(err), "cannot read config") {
		t.Fatalf("got %v", err)
	}
}

func TestEmptyDocumentGetsDefaults(t *testing.T) {
	cfg := mustParse(t, "# nothing\n")
	if cfg.Listen.Proxy != ":8080" || cfg.Listen.Admin != "127.0.0.1:9080" || cfg.Listen.Portal != ":8081" ||
		cfg.Store != DefaultStore || cfg.Counters != "memory://" || cfg.TrustedProxies == nil ||
		cfg.Server.MaxBodyBytes != 10<<20 || cfg.Server.ReadHeaderTimeout.D() != 10*time.Second {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
}

func TestPortalCanBeDisabled(t *testing.T) {
	cfg := mustParse(t, "listen: {portal: \"\"}\n")
	if cfg.Listen.Portal != "" {
		t.Fatalf("portal = %q, want disabled", cfg.Listen.Portal)
	}
	cfg.Defaults()
	if cfg.Listen.Portal != "" {
		t.Fatalf("Defaults re-enabled the portal")
	}
}

func TestSyntaxErrorHasLine(t *testing.T) {
	list := parseErrs(t, "services:\n  - name: a\n    targets: [\n")
	if len(list) != 1 || list[0].Line == 0 {
		t.Fatalf("got %v", list)
	}
	list = parseErrs(t, "a: 1\n---\nb: 2\n")
	if len(list) != 1 || !strings.Contains(list[0].Msg, "more than one") {
		t.Fatalf("got %v", list)
	}
}

func TestFormatErrors(t *testing.T) {
	err := ErrorList{{File: "f.yaml", Line: 3, Path: "a.b", Msg: "bad", Hint: "fix it"}, {File: "f.yaml", Line: 9, Msg: "worse"}}
	want := "f.yaml:3: a.b: bad (hint: fix it)\nf.yaml:9: worse\n"
	if got := FormatErrors(err); got != want {
		t.Fatalf("got %q", got)
	}
	if FormatErrors(nil) != "" || FormatErrors(os.ErrNotExist) != os.ErrNotExist.Error()+"\n" {
		t.Fatal("plain errors")
	}
}

func TestPortalDisabledThroughAlias(t *testing.T) {
	cfg := mustParse(t, "x:\n  l: &l {portal: \"\"}\nlisten: *l\n")
	if cfg.Listen.Portal != "" {
		t.Fatalf("portal = %q", cfg.Listen.Portal)
	}
}

func TestJSONFile(t *testing.T) {
	cfg, err := Load("testdata/minimal.json")
	if err != nil {
		t.Fatal(FormatErrors(err))
	}
	if cfg.Listen.Portal != "" || cfg.Services[0].Targets[0].Weight != 2 || cfg.Routes[0].Line != 5 || cfg.Routes[0].PolicyConfigs["key_auth"].(*testKeyAuth).Header != "X-API-Key" {
		t.Fatalf("decoded %+v", cfg)
	}
}

func TestAttachmentsAreStrictButNeverExpanded(t *testing.T) {
	cfg := mustParse(t, "routes: []\nattachments:\n  specs/p.yaml: |\n    description: costs ${PRICE} (not an env reference)\n")
	if got := cfg.Attachments["specs/p.yaml"]; got != "description: costs ${PRICE} (not an env reference)\n" {
		t.Fatalf("attachment = %q", got)
	}
	list := parseErrs(t, "routes: []\nattachments:\n  a.yaml: {nested: map}\n")
	if len(list) != 1 || list[0].Line != 3 {
		t.Fatalf("a non-string attachment: %v", list)
	}
	if _, ok := ExpandEnv("${TOLLGATE_SURELY_UNSET_VAR}"); ok {
		t.Error("ExpandEnv resolved an unset variable")
	}
}
