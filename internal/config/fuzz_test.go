package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.*")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"services": [{"name": "a", "targets": ["http://a:1"]}]}`))
	f.Add([]byte("x: &a [*a, *a]\nservices: [<<: *a]\n"))
	f.Add([]byte("admin: {token: ${NOPE:-x}}\nstore: $${y}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yaml")
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			_ = cfg.Hash()
			return
		}
		if cfg != nil {
			t.Fatal("config returned with errors")
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %T is not a non-empty ErrorList", err)
		}
		for _, e := range list {
			if e.Line < 0 || e.Msg == "" || e.File != "fuzz.yaml" {
				t.Fatalf("bad error %#v", e)
			}
		}
		_ = FormatErrors(err)
	})
}
