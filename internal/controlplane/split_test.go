package controlplane

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
	"go.yaml.in/yaml/v3"
)

func TestSplitDocument(t *testing.T) {
	tests := []struct {
		name               string
		raw                string
		wantNode, wantDoc  []string // top-level keys of each part
		docLineOf, docLine string   // a doc key and the line it must keep
	}{
		{
			name:     "block style keeps lines",
			raw:      "# head\nlisten:\n  proxy: \":8080\"\nadmin: { token: x }\nservices:\n  - name: s\n    targets: [\"http://a\"]\nstore: \"sqlite://x\"\nroutes: []\n",
			wantNode: []string{"listen", "admin", "store"}, wantDoc: []string{"services", "routes"},
			docLineOf: "routes", docLine: "9",
		},
		{
			name:     "json",
			raw:      `{"listen": {"proxy": ":1"}, "routes": [], "counters": "memory://", "trusted_proxies": []}`,
			wantNode: []string{"listen", "counters"}, wantDoc: []string{"routes", "trusted_proxies"},
		},
		{name: "node only", raw: "listen: {proxy: \":1\"}\ntls: {cert: a, key: b}\nserver: {}\n", wantNode: []string{"listen", "tls", "server"}},
		{name: "document only", raw: "plans: []\nconsumers: []\naccess_log: {}\ntelemetry: {}\nx: {a: 1}\n", wantDoc: []string{"plans", "consumers", "access_log", "telemetry", "x"}},
		{name: "empty", raw: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			node, doc, err := SplitDocument([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := topKeys(t, node); strings.Join(got, ",") != strings.Join(tc.wantNode, ",") {
				t.Errorf("node keys = %v, want %v\n%s", got, tc.wantNode, node)
			}
			if got := topKeys(t, doc); strings.Join(got, ",") != strings.Join(tc.wantDoc, ",") {
				t.Errorf("doc keys = %v, want %v\n%s", got, tc.wantDoc, doc)
			}
			if tc.docLineOf != "" {
				if line := keyLine(t, doc, tc.docLineOf); line != tc.docLine {
					t.Errorf("%s is on line %s of the document, want %s (the file's)", tc.docLineOf, line, tc.docLine)
				}
			}
		})
	}
}

func TestSplitDocumentErrorLinesMatchFile(t *testing.T) {
	raw := "listen: { proxy: \":8080\" }\nadmin: { token: t }\nservices:\n  - name: s\n    targets: [\"http://a\"]\nroutes:\n  - name: r\n    service: missing\n    match: { paths: [/x] }\n"
	_, doc, err := SplitDocument([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Merge(nil, doc, "f.yaml")
	list, ok := err.(config.ErrorList)
	if !ok || list[0].Line != 8 || list[0].File != "f.yaml" {
		t.Fatalf("Merge error = %v, want f.yaml line 8", err)
	}
}

func TestSplitDocumentRejectsNonMapping(t *testing.T) {
	for _, raw := range []string{"- a\n- b\n", "just text", "a: [\n"} {
		if _, _, err := SplitDocument([]byte(raw)); err == nil {
			t.Errorf("SplitDocument(%q) = nil error", raw)
		}
	}
}

func TestHasDocument(t *testing.T) {
	for raw, want := range map[string]bool{
		"listen: {}\n":                    false,
		"listen: {}\nconsumers: []\n":     false,
		"services: []\n":                  true,
		"{\"routes\": []}":                true,
		"listen: {}\nplans:\n  - name: f": true,
		"":                                false,
		"::: not yaml [":                  false,
	} {
		if got := HasDocument([]byte(raw)); got != want {
			t.Errorf("HasDocument(%q) = %v, want %v", raw, got, want)
		}
	}
}

func TestMergeKeepsNodeSettings(t *testing.T) {
	node, err := config.Parse([]byte("listen: { proxy: \":7000\", admin: \"127.0.0.1:7001\" }\nstore: \"postgres://db/x\"\nserver: { max_headers: 50 }\n"), "node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Merge(node, docFor("r"), "api")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen.Proxy != ":7000" || cfg.Store != "postgres://db/x" || cfg.Server.MaxHeaders != 50 || cfg.Routes[0].Name != "r" {
		t.Fatalf("merged = listen %q store %q max_headers %d routes %v", cfg.Listen.Proxy, cfg.Store, cfg.Server.MaxHeaders, cfg.Routes)
	}
}

func FuzzSplitDocument(f *testing.F) {
	f.Add([]byte("listen: {proxy: \":1\"}\nroutes: []\n"))
	f.Add([]byte(`{"store": "sqlite://x", "services": []}`))
	f.Add([]byte("a: 1\nb: 2\n# c\n"))
	f.Add([]byte("listen: &a {proxy: x}\nroutes: *a\n"))
	f.Add([]byte("---\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		node, doc, err := SplitDocument(raw)
		if err != nil {
			return
		}
		// Whatever parsed splits into parts whose keys never cross over.
		for _, k := range topKeysLoose(doc) {
			if isNodeKey(k) {
				t.Fatalf("node key %q in document part of %q", k, raw)
			}
		}
		for _, k := range topKeysLoose(node) {
			if !isNodeKey(k) {
				t.Fatalf("document key %q in node part of %q", k, raw)
			}
		}
	})
}

func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	if b == nil {
		return nil
	}
	m, err := topMapping(b)
	if err != nil {
		t.Fatalf("part does not parse: %v\n%s", err, b)
	}
	return keysOf(m)
}

// topKeysLoose is topKeys for the fuzzer: a part that no longer parses on
// its own (an alias whose anchor went to the other part) has no keys to check.
func topKeysLoose(b []byte) []string {
	m, err := topMapping(b)
	if err != nil {
		return nil
	}
	return keysOf(m)
}

func keysOf(m *yaml.Node) []string {
	var keys []string
	for i := 0; m != nil && i < len(m.Content); i += 2 {
		keys = append(keys, m.Content[i].Value)
	}
	return keys
}

func keyLine(t *testing.T, b []byte, key string) string {
	t.Helper()
	m, _ := topMapping(b)
	for i := 0; i < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return strconv.Itoa(m.Content[i].Line)
		}
	}
	return ""
}
