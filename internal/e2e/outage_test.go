package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testutil/tcpproxy"

	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

// Issue 7: a node that loses PostgreSQL keeps serving its last revision,
// reports the store down in /status, and catches up when the store is back.
func TestNodeSurvivesStoreOutageAndCatchesUp(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	proxy := tcpproxy.Start(t, "127.0.0.1:5432")
	viaProxy := strings.Replace(dsn, "127.0.0.1:5432", proxy.Addr(), 1)
	if viaProxy == dsn {
		t.Skip("TOLLGATE_TEST_POSTGRES does not point at 127.0.0.1:5432; cannot put a proxy in front of it")
	}
	up := upstream(t)
	base := fmt.Sprintf("services:\n  - name: s\n    targets: [%q]\nroutes:\n  - name: r\n    service: s\n    match: { paths: [\"/r\"] }\n", up)
	a := startNode(t, "a", "store: \""+dsn+"\"", base)
	b := startNode(t, "b", "store: \""+viaProxy+"\"", "")

	proxy.Cut()
	storeUp := func() bool {
		var st struct {
			Components map[string]struct{ Up bool }
		}
		b.call("GET", "/status", nil, &st)
		return st.Components["store"].Up
	}
	deadline := time.Now().Add(10 * time.Second)
	for storeUp() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if storeUp() {
		t.Fatal("/status on the cut-off node still says the store is up after 10 s")
	}
	if code := b.status("/r"); code != 200 {
		t.Fatalf("the cut-off node stopped serving its last revision: %d", code)
	}
	if code := a.call("PUT", "/config", base+"  - name: added\n    service: s\n    match: { paths: [\"/added\"] }\n", nil); code != 200 {
		t.Fatalf("PUT on A: %d", code)
	}
	time.Sleep(300 * time.Millisecond)
	if code := b.status("/added"); code != 404 {
		t.Fatalf("the cut-off node cannot know the new revision yet, got %d", code)
	}
	proxy.Restore(t)
	took, ok := b.waitStatus("/added", 200, 15*time.Second)
	if !ok {
		t.Fatal("the node did not catch up within 15 s of the store returning")
	}
	t.Logf("node caught up %s after the store came back", took)
	if !storeUp() {
		t.Fatal("/status still says the store is down after catching up")
	}
}
