package app

import "testing"

func TestRedactHidesCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@db:5432/x": "postgres://***@db:5432/x",
		"redis://127.0.0.1:6379/0":      "redis://127.0.0.1:6379/0",
		"sqlite://./tollgate-data/t.db": "sqlite://./tollgate-data/t.db",
		"weird@no-scheme":               "weird@no-scheme",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
