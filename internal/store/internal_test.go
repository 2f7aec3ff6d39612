package store

import (
	"strings"
	"testing"
)

func TestRebind(t *testing.T) {
	pg, lite := dialect{name: "postgres"}, dialect{name: "sqlite"}
	q := "SELECT a FROM t WHERE b = ? AND c IN (?, ?)"
	if got := pg.rebind(q); got != "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)" {
		t.Fatalf("postgres: %s", got)
	}
	if got := lite.rebind(q); got != q {
		t.Fatalf("sqlite: %s", got)
	}
}

func TestNewKeyShape(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		plain, pub := newKey()
		p, secret, ok := ParseKey(plain)
		if !ok || p != pub || len(secret) != KeySecretLen || !strings.HasPrefix(plain, "tg_live_") {
			t.Fatalf("newKey() = %q, %q", plain, pub)
		}
		if seen[plain] {
			t.Fatal("duplicate key")
		}
		seen[plain] = true
	}
	id := newID("c_")
	if len(id) != 22 || strings.ToLower(id) != id {
		t.Fatalf("newID = %q", id)
	}
}

func FuzzParseKey(f *testing.F) {
	plain, _ := newKey()
	for _, s := range []string{plain, "", "tg_live_", "tg_live_AbCd1234_", "tg_live_AbCd1234-" + strings.Repeat("a", 32), plain + "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pub, secret, ok := ParseKey(s)
		if !ok {
			return
		}
		if s != KeyPrefix+pub+"_"+secret || len(pub) != KeyPublicLen || len(secret) < KeySecretLen || !isBase62(pub+secret) {
			t.Fatalf("ParseKey(%q) = %q, %q", s, pub, secret)
		}
	})
}
