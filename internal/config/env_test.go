package config

import (
	"strings"
	"testing"
)

func TestExpandString(t *testing.T) {
	env := map[string]string{"A": "alpha", "EMPTY": "", "REF": "${A}", "DOLLAR": "$${A}"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		in, want string
		errs     int
	}{
		{"plain", "plain", 0},
		{"${A}", "alpha", 0},
		{"x-${A}-y", "x-alpha-y", 0},
		{"${A}${A}", "alphaalpha", 0},
		{"${MISSING:-fallback}", "fallback", 0},
		{"${EMPTY:-fallback}", "fallback", 0},
		{"${EMPTY}", "", 0},
		{"${MISSING:-}", "", 0},
		{"${MISSING:-a:b/c}", "a:b/c", 0},
		{"$${A}", "${A}", 0},
		{"cost $5", "cost $5", 0},
		{"$$", "$$", 0},
		{"${REF}", "${A}", 0},     // not re-expanded
		{"${DOLLAR}", "$${A}", 0}, // not re-expanded either
		{"${MISSING}", "", 1},     // unset
		{"${1BAD}", "", 1},        // bad name
		{"${A", "", 1},            // unterminated
		{"${MISSING} and ${NOPE}", " and ", 2},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, errs := expandString(tt.in, lookup)
			if got != tt.want || len(errs) != tt.errs {
				t.Fatalf("expandString(%q) = %q, %d errors %v; want %q, %d", tt.in, got, len(errs), errs, tt.want, tt.errs)
			}
		})
	}
}

func TestEnvExpansionInDocument(t *testing.T) {
	t.Setenv("TG_PORT", "9999")
	t.Setenv("TG_TOKEN", "s3cret")
	t.Setenv("TG_LIMIT", "42")
	t.Setenv("TG_KEY", "listen")
	cfg := mustParse(t, `
listen: { proxy: ":${TG_PORT}" }
admin: { token: "${TG_TOKEN}" }
server:
  max_headers: ${TG_LIMIT}
  read_timeout: ${TG_TIMEOUT:-5s}
x:
  literal: "$${NOT_EXPANDED}"
`)
	if cfg.Listen.Proxy != ":9999" || cfg.Admin.Token != "s3cret" || cfg.Server.MaxHeaders != 42 || cfg.Server.ReadTimeout.D().String() != "5s" {
		t.Fatalf("got %+v %+v", cfg.Listen, cfg.Server)
	}
	if v := cfg.Extensions["literal"].Value; v != "${NOT_EXPANDED}" {
		t.Fatalf("escape: %q", v)
	}
}

func TestEnvUnsetIsErrorWithLine(t *testing.T) {
	list := parseErrs(t, "listen:\n  proxy: \":8080\"\nadmin:\n  token: ${TG_SURELY_UNSET_VAR}\n")
	if len(list) != 1 {
		t.Fatalf("got %v", list)
	}
	e := list[0]
	if e.Line != 4 || e.Path != "admin.token" || !strings.Contains(e.Msg, "TG_SURELY_UNSET_VAR") ||
		e.Hint != "export TG_SURELY_UNSET_VAR or write ${TG_SURELY_UNSET_VAR:-default}" {
		t.Fatalf("got %+v", e)
	}
}

func TestEnvNotExpandedInKeys(t *testing.T) {
	t.Setenv("TG_KEY", "listen")
	list := parseErrs(t, "${TG_KEY}: {}\n")
	if len(list) != 1 || !strings.Contains(list[0].Msg, `unknown field "${TG_KEY}"`) {
		t.Fatalf("got %v", list)
	}
}

// A quoted reference stays a string: ports in a quoted int field are a type error.
func TestEnvQuotedStaysString(t *testing.T) {
	t.Setenv("TG_LIMIT", "42")
	list := parseErrs(t, "server: { max_headers: \"${TG_LIMIT}\" }\n")
	if len(list) != 1 || list[0].Path != "server.max_headers" {
		t.Fatalf("got %v", list)
	}
}
