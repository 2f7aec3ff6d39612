package upstream

import (
	"strings"
	"testing"

	"github.com/tollgate-dev/tollgate/internal/config"
)

// FuzzCompileService feeds arbitrary target URLs, protocols and hash keys
// through validation: it must never panic, and whatever it accepts must give
// a dialable host:port.
func FuzzCompileService(f *testing.F) {
	for _, seed := range []struct{ url, protocol, hashBy string }{
		{"http://127.0.0.1:9001", "", ""},
		{"https://api.example.com/base/", "h2", "header:X-User"},
		{"http://[::1]:80", "h2c", "client_ip"},
		{"http://user:pw@host", "", ""},
		{"ftp://x", "h3", "cookie:a"},
		{"http://", "", "header:"},
		{"http://h:99999", "", ""},
		{"%zz", "", ""},
	} {
		f.Add(seed.url, seed.protocol, seed.hashBy)
	}
	f.Fuzz(func(t *testing.T, raw, protocol, hashBy string) {
		svc := config.Service{Name: "f", Protocol: protocol, HashBy: hashBy, Balance: ConsistentHash,
			Targets: []config.Target{{URL: raw, Weight: 1}}}
		s, targets, errs := compileService(0, svc)
		if len(errs) > 0 {
			return
		}
		if len(targets) != 1 || s.hashBy == "" {
			t.Fatalf("accepted service with %d targets, hashBy %q", len(targets), s.hashBy)
		}
		addr := hostPort(targets[0].url)
		if !strings.Contains(addr, ":") || strings.HasPrefix(addr, ":") {
			t.Fatalf("accepted %q with address %q", raw, addr)
		}
	})
}
