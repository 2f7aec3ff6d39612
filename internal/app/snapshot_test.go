package app_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuotaSnapshotPath: with the memory counters, quota counts go to the
// DSN's ?snapshot=PATH when it names one (a relative PATH from the working
// directory, like store: sqlite://PATH), else to counters.json in the data
// directory (next to the SQLite file); the other file is never written.
func TestQuotaSnapshotPath(t *testing.T) {
	up := origin(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tc := range []struct {
		name     string
		snapshot string // ?snapshot= value ({dir}: the test's directory); "" for none
		want     string // where the counts must be, relative to the test's directory
	}{
		{"data directory by default", "", "data/counters.json"},
		{"absolute snapshot path", "{dir}/elsewhere/quota.json", "elsewhere/quota.json"},
		{"relative snapshot path", "rel/quota.json", "rel/quota.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			ctrs := "memory://"
			if tc.snapshot != "" {
				ctrs += "?snapshot=" + strings.ReplaceAll(tc.snapshot, "{dir}", dir)
			}
			g := startGatewayAt(t, "sqlite://"+filepath.Join(dir, "data", "tollgate.db"), `counters: "`+ctrs+`"
services:
`+service("s", up)+`routes:
  - name: q
    service: s
    match: { paths: ["/q"] }
    policies: { quota: { limit: 10, period: day, by: ip } }
`)
			for range 3 {
				if resp, _ := get(t, g.url+"/q"); resp.StatusCode != http.StatusOK {
					t.Fatalf("GET /q: status %d", resp.StatusCode)
				}
			}
			// Counts reach the file within ~2 s (1 s batches into the
			// snapshot, which is rewritten every second).
			want := filepath.Join(dir, tc.want)
			var b []byte
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				var err error
				b, err = os.ReadFile(want)
				if err == nil && snapshotTotal(t, b) == 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("quota snapshot at %s after 5s: %q (%v), want one counter at 3", want, b, err)
				}
			}
			if def := filepath.Join(dir, "data", "counters.json"); tc.snapshot != "" {
				if _, err := os.Stat(def); !os.IsNotExist(err) {
					t.Fatalf("snapshot=%s given but %s was written too (stat: %v)", tc.snapshot, def, err)
				}
			}
		})
	}
}

// snapshotTotal is the count of the one counter in a snapshot, -1 if it
// holds another number of counters.
func snapshotTotal(t *testing.T, b []byte) int64 {
	var snap map[string]struct{ N int64 }
	if err := json.Unmarshal(b, &snap); err != nil {
		t.Fatalf("snapshot is not JSON: %v: %s", err, b)
	}
	for _, e := range snap {
		if len(snap) == 1 {
			return e.N
		}
	}
	return -1
}
