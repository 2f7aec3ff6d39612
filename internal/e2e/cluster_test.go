package e2e

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

// Issue 3: a key created through node A's admin API works on node B, and a
// key revoked on A is refused on B within 1 s. On A itself both hold as soon
// as the admin call has answered (read-your-writes: no wait for the feed).
func TestTwoNodesShareKeysOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	up := upstream(t)
	doc := fmt.Sprintf(`services:
  - name: s
    targets: [%q]
routes:
  - name: private
    service: s
    match: { paths: ["/private/"] }
    policies:
      key_auth: {}
`, up)
	a := startNode(t, "a", "store: \""+dsn+"\"", doc)
	b := startNode(t, "b", "store: \""+dsn+"\"", "")

	var consumer struct{ ID string }
	if code := a.call("POST", "/consumers", map[string]any{"name": "acme", "plan": "", "groups": []string{"staff"}}, &consumer); code != 201 {
		t.Fatalf("create consumer: %d", code)
	}
	var key struct{ ID, Key string }
	if code := a.call("POST", "/consumers/"+consumer.ID+"/keys", map[string]any{}, &key); code != 201 || key.Key == "" {
		t.Fatalf("create key: %d %+v", code, key)
	}
	if code := a.status("/private/x", "X-API-Key", key.Key); code != 200 {
		t.Errorf("key just created on A: status %d on A, want 200 at once", code)
	}
	took, ok := b.waitStatus("/private/x", 200, 2*time.Second, "X-API-Key", key.Key)
	if !ok {
		t.Fatalf("key made on A never worked on B (last status %d)", b.status("/private/x", "X-API-Key", key.Key))
	}
	t.Logf("key created on A accepted by B after %s", took)

	if code := a.call("DELETE", "/consumers/"+consumer.ID+"/keys/"+key.ID, nil, nil); code != 204 {
		t.Fatalf("revoke: %d", code)
	}
	if code := a.status("/private/x", "X-API-Key", key.Key); code != 401 {
		t.Errorf("key just revoked on A: status %d on A, want 401 at once", code)
	}
	took, ok = b.waitStatus("/private/x", 401, time.Second, "X-API-Key", key.Key)
	if !ok {
		t.Fatalf("key revoked on A still accepted by B after %s", took)
	}
	t.Logf("key revoked on A refused by B after %s", took)
}

// Issue 7: PUT /config on A reaches B and C within 1 s; rollback on C takes
// all three back; a client load during all of it sees no failed request.
func TestThreeNodesConvergeAndRollBack(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	up := upstream(t)
	base := fmt.Sprintf("services:\n  - name: s\n    targets: [%q]\nroutes:\n  - name: r\n    service: s\n    match: { paths: [\"/r\"] }\n", up)
	a := startNode(t, "a", "store: \""+dsn+"\"", base)
	b := startNode(t, "b", "store: \""+dsn+"\"", "")
	c := startNode(t, "c", "store: \""+dsn+"\"", "")
	nodes := []*node{a, b, c}

	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func(n *node) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n.status("/r") == http.StatusOK {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}(n)
	}

	var first struct{ Revision int64 }
	var st struct {
		Config struct{ Revision int64 }
	}
	a.call("GET", "/status", nil, &st)
	first.Revision = st.Config.Revision

	changed := base + "  - name: added\n    service: s\n    match: { paths: [\"/added\"] }\n"
	var put struct{ Revision int64 }
	if code := a.call("PUT", "/config", changed, &put); code != 200 {
		t.Fatalf("PUT /config: %d", code)
	}
	for _, n := range []*node{b, c} {
		took, done := n.waitStatus("/added", 200, time.Second)
		if !done {
			t.Fatalf("node %s does not serve the new route 1 s after PUT on A", n.name)
		}
		t.Logf("node %s serves the new route %s after PUT on A", n.name, took)
	}

	var rb struct{ Revision int64 }
	if code := c.call("POST", fmt.Sprintf("/config/revisions/%d/rollback", first.Revision), nil, &rb); code != 200 {
		t.Fatalf("rollback on C: %d", code)
	}
	for _, n := range nodes {
		took, done := n.waitStatus("/added", 404, time.Second)
		if !done {
			t.Fatalf("node %s still serves the rolled-back route after 1 s", n.name)
		}
		t.Logf("node %s rolled back after %s", n.name, took)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("continuous load saw %d failed requests (%d ok)", failed.Load(), ok.Load())
	}
	t.Logf("continuous load: %d requests, 0 failed", ok.Load())
}
