package controlplane

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/testutil/tcpproxy"

	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

// Three nodes on one PostgreSQL schema converge within a second of an apply
// on any of them, and a rollback anywhere brings all of them back.
func TestMultiNodeConvergence(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	nodes := make([]*Manager, 3)
	recs := make([]*recorder, 3)
	for i := range nodes {
		recs[i] = &recorder{}
		nodes[i] = New(openStore(t, dsn), recs[i], nodeConfig(t, ":1"), quietLog())
	}
	if err := nodes[0].Boot(ctx, docFor("old"), "file.yaml"); err != nil {
		t.Fatal(err)
	}
	for _, m := range nodes[1:] {
		if err := m.Boot(ctx, []byte("listen: {proxy: \":2\"}\n"), "node.yaml"); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range nodes {
		runManager(t, m)
	}
	waitAll := func(rev int64, live string) {
		t.Helper()
		eventually(t, time.Second, "every node on "+live, func() bool {
			for i, m := range nodes {
				if r, _, _ := m.Current(); r != rev || recs[i].live() != live {
					return false
				}
			}
			return true
		})
	}

	rev, changed, err := nodes[0].Apply(ctx, docFor("new"), "alice", "api")
	if err != nil || rev != 2 || !changed {
		t.Fatalf("Apply on A = %d %v %v", rev, changed, err)
	}
	waitAll(2, "new")

	rev, err = nodes[2].Rollback(ctx, 1, "carol")
	if err != nil || rev != 3 {
		t.Fatalf("Rollback on C = %d %v", rev, err)
	}
	waitAll(3, "old")

	applied := recs[1].count()
	rev, changed, err = nodes[1].Apply(ctx, docFor("old"), "bob", "api")
	if err != nil || rev != 3 || changed {
		t.Fatalf("identical Apply on B = %d %v %v; want 3 false nil", rev, changed, err)
	}
	time.Sleep(700 * time.Millisecond) // longer than a poll: nothing may move
	if recs[1].count() != applied {
		t.Fatalf("B re-applied identical content")
	}
	if list, _, _ := nodes[0].Revisions(ctx, "", 10); len(list) != 3 {
		t.Fatalf("%d revisions, want 3", len(list))
	}
}

// A node that loses the store keeps its revision, says so in Health, and
// catches up once the store is reachable again.
func TestStoreOutageKeepsLastGoodRevision(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := tcpproxy.Start(t, u.Host)
	u.Host = px.Addr()
	writer := New(openStore(t, dsn), &recorder{}, nodeConfig(t, ":1"), quietLog())
	if err := writer.Boot(ctx, docFor("one"), "f"); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	logs := &countingHandler{}
	cut := New(openStore(t, u.String()), rec, nodeConfig(t, ":2"), slog.New(logs))
	if err := cut.Boot(ctx, []byte("listen: {proxy: \":2\"}\n"), "n"); err != nil {
		t.Fatal(err)
	}
	runManager(t, cut)

	px.Cut()
	eventually(t, 3*time.Second, "health reports the store down", func() bool { up, _, _ := cut.Health(); return !up })
	up, detail, since := cut.Health()
	if up || !strings.Contains(detail, "store unreachable") || time.Since(since) > 3*time.Second {
		t.Fatalf("Health = %v %q %v", up, detail, since)
	}
	if _, _, err := writer.Apply(ctx, docFor("two"), "a", "api"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	if rev, _, _ := cut.Current(); rev != 1 || rec.live() != "one" {
		t.Fatalf("cut node on rev %d %q during the outage, want 1 one", rev, rec.live())
	}

	if n := logs.count("store unreachable"); n != 1 {
		t.Fatalf("outage logged %d times over several polls, want once", n)
	}
	px.Restore(t)
	eventually(t, 5*time.Second, "cut node catches up", func() bool { r, _, _ := cut.Current(); return r == 2 && rec.live() == "two" })
	eventually(t, time.Second, "health reports the store up", func() bool { up, _, _ := cut.Health(); return up })
}

// countingHandler counts log records by message prefix.
type countingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Message)
	h.mu.Unlock()
	return nil
}

func (h *countingHandler) count(prefix string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}
