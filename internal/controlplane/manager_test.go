package controlplane

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/config"
	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

func newSQLiteManager(t *testing.T) (*Manager, *recorder, store.Store) {
	t.Helper()
	st := openStore(t, storetest.SQLiteDSN(t))
	rec := &recorder{}
	return New(st, rec, nodeConfig(t, ":18080"), quietLog()), rec, st
}

func TestBootFileWithDocumentMakesRevision(t *testing.T) {
	m, rec, st := newSQLiteManager(t)
	file := append([]byte("listen: { proxy: \":9999\" }\n"), docFor("a")...)
	if err := m.Boot(context.Background(), file, "/etc/tollgate.yaml"); err != nil {
		t.Fatal(err)
	}
	rev, hash, doc := m.Current()
	if rev != 1 || hash == "" || strings.Contains(string(doc), "listen") {
		t.Fatalf("Current = %d, %q, %q; want rev 1 without node settings", rev, hash, doc)
	}
	r, err := st.GetConfigRevision(context.Background(), 1)
	if err != nil || r.Author != "file" || r.Source != "/etc/tollgate.yaml" || r.Hash != hash {
		t.Fatalf("revision 1 = %+v, %v", r, err)
	}
	// The node's own settings win over the file's: they came from New.
	if got := rec.applied[0].Listen.Proxy; got != ":18080" {
		t.Fatalf("applied listen.proxy = %q, want the node's :18080", got)
	}
	// A second boot with the same file adds no revision.
	m2 := New(st, &recorder{}, nodeConfig(t, ":1"), quietLog())
	if err := m2.Boot(context.Background(), file, "/etc/tollgate.yaml"); err != nil {
		t.Fatal(err)
	}
	if rev2, _, _ := m2.Current(); rev2 != 1 {
		t.Fatalf("second boot rev = %d, want 1", rev2)
	}
}

func TestBootNodeFileFollowsStore(t *testing.T) {
	m, rec, st := newSQLiteManager(t)
	node := []byte("listen: { proxy: \":8080\" }\n")
	if err := m.Boot(context.Background(), node, "node.yaml"); !errors.Is(err, ErrNoConfig) {
		t.Fatalf("Boot with empty store = %v, want ErrNoConfig", err)
	}
	if _, _, err := st.PutConfigRevision(context.Background(), docFor("stored"), "h1", "admin", "api"); err != nil {
		t.Fatal(err)
	}
	if err := m.Boot(context.Background(), node, "node.yaml"); err != nil {
		t.Fatal(err)
	}
	if rev, _, _ := m.Current(); rev != 1 || rec.live() != "stored" {
		t.Fatalf("rev %d live %q; want 1 stored", rev, rec.live())
	}
}

func TestApplyIdenticalMakesNoRevision(t *testing.T) {
	m, rec, _ := newSQLiteManager(t)
	ctx := context.Background()
	rev, changed, err := m.Apply(ctx, docFor("a"), "alice", "api")
	if err != nil || rev != 1 || !changed {
		t.Fatalf("first Apply = %d %v %v", rev, changed, err)
	}
	// Same content, other formatting and a comment: same canonical hash.
	same := strings.Replace(string(docFor("a")), "services:", "# reformatted\nservices:", 1)
	rev, changed, err = m.Apply(ctx, []byte(same), "bob", "api")
	if err != nil || rev != 1 || changed {
		t.Fatalf("identical Apply = %d %v %v; want 1 false nil", rev, changed, err)
	}
	if rec.count() != 1 {
		t.Fatalf("applier called %d times, want 1 (identical content is not re-applied)", rec.count())
	}
	rev, changed, err = m.Apply(ctx, docFor("b"), "bob", "api")
	if err != nil || rev != 2 || !changed || rec.live() != "b" {
		t.Fatalf("changed Apply = %d %v %v live %q", rev, changed, err, rec.live())
	}
}

func TestApplyRejectsBadDocuments(t *testing.T) {
	m, rec, _ := newSQLiteManager(t)
	ctx := context.Background()
	tests := []struct {
		name, doc, want string
		line            int
	}{
		{"node setting", "routes: []\nlisten: { proxy: \":1\" }\n", "listen is a node setting; change it in the node's file", 2},
		{"unknown service", "routes:\n  - name: r\n    service: nope\n    match: { paths: [/x] }\n", "nope", 3},
		{"syntax", "routes: [\n", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := m.Apply(ctx, []byte(tc.doc), "a", "api")
			var list config.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("err = %v (%T), want config.ErrorList", err, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
			if tc.line > 0 && list[0].Line != tc.line {
				t.Fatalf("line = %d, want %d", list[0].Line, tc.line)
			}
		})
	}
	if rec.count() != 0 {
		t.Fatalf("applier called for invalid documents")
	}
}

func TestApplyRefusedKeepsOld(t *testing.T) {
	m, rec, st := newSQLiteManager(t)
	ctx := context.Background()
	if _, _, err := m.Apply(ctx, docFor("a"), "a", "api"); err != nil {
		t.Fatal(err)
	}
	rec.setRefuse(errRefused)
	_, _, err := m.Apply(ctx, docFor("b"), "a", "api")
	var refused *RefusedError
	if !errors.As(err, &refused) || !errors.Is(err, errRefused) {
		t.Fatalf("err = %v, want *RefusedError wrapping the applier's error", err)
	}
	if rev, _, _ := m.Current(); rev != 1 {
		t.Fatalf("rev = %d after refusal, want 1", rev)
	}
	if latest, _ := st.LatestConfigRevision(ctx); latest.N != 1 {
		t.Fatalf("store latest = %d, want 1 (a refused document is not stored)", latest.N)
	}
}

func TestRollbackMakesNewRevision(t *testing.T) {
	m, rec, _ := newSQLiteManager(t)
	ctx := context.Background()
	for _, r := range []string{"a", "b"} {
		if _, _, err := m.Apply(ctx, docFor(r), "alice", "api"); err != nil {
			t.Fatal(err)
		}
	}
	rev, err := m.Rollback(ctx, 1, "carol")
	if err != nil || rev != 3 || rec.live() != "a" {
		t.Fatalf("Rollback = %d %v live %q; want 3 nil a", rev, err, rec.live())
	}
	r, err := m.Revision(ctx, 3)
	if err != nil || r.Source != "rollback:1" || r.Author != "carol" {
		t.Fatalf("revision 3 = %+v %v", r, err)
	}
	list, _, err := m.Revisions(ctx, "", 10)
	if err != nil || len(list) != 3 || list[0].N != 3 {
		t.Fatalf("Revisions = %+v %v", list, err)
	}
	if _, err := m.Rollback(ctx, 42, "carol"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Rollback(42) = %v, want ErrNotFound", err)
	}
}

func TestApplyFile(t *testing.T) {
	m, rec, _ := newSQLiteManager(t)
	ctx := context.Background()
	file := append([]byte("listen: { proxy: \":1\" }\n"), docFor("f")...)
	rev, changed, err := m.ApplyFile(ctx, file, "t.yaml")
	if err != nil || rev != 1 || !changed || rec.live() != "f" {
		t.Fatalf("ApplyFile = %d %v %v", rev, changed, err)
	}
	r, _ := m.Revision(ctx, 1)
	if r.Author != "file" {
		t.Fatalf("author = %q, want file", r.Author)
	}
	// A node-only file changes nothing.
	rev, changed, err = m.ApplyFile(ctx, []byte("listen: { proxy: \":2\" }\n"), "t.yaml")
	if err != nil || rev != 1 || changed {
		t.Fatalf("node-only ApplyFile = %d %v %v", rev, changed, err)
	}
}

func TestFollowSQLite(t *testing.T) {
	// Two managers on one SQLite file: the second follows the first's writes.
	dsn := storetest.SQLiteDSN(t)
	a := New(openStore(t, dsn), &recorder{}, nodeConfig(t, ":1"), quietLog())
	recB := &recorder{}
	b := New(openStore(t, dsn), recB, nodeConfig(t, ":2"), quietLog())
	ctx := context.Background()
	if err := a.Boot(ctx, docFor("one"), "f"); err != nil {
		t.Fatal(err)
	}
	if err := b.Boot(ctx, []byte("listen: {proxy: \":2\"}\n"), "n"); err != nil {
		t.Fatal(err)
	}
	runManager(t, b)
	if _, _, err := a.Apply(ctx, docFor("two"), "x", "api"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "b follows revision 2", func() bool { return recB.live() == "two" })
}

func TestFollowerSkipsRefusedRevision(t *testing.T) {
	dsn := storetest.SQLiteDSN(t)
	ctx := context.Background()
	a := New(openStore(t, dsn), &recorder{}, nodeConfig(t, ":1"), quietLog())
	recB := &recorder{}
	logs := &countingHandler{}
	b := New(openStore(t, dsn), recB, nodeConfig(t, ":2"), slog.New(logs))
	if err := a.Boot(ctx, docFor("one"), "f"); err != nil {
		t.Fatal(err)
	}
	if err := b.Boot(ctx, []byte("listen: {proxy: \":2\"}\n"), "n"); err != nil {
		t.Fatal(err)
	}
	runManager(t, b)
	recB.setRefuse(errRefused)
	if _, _, err := a.Apply(ctx, docFor("two"), "x", "api"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1200 * time.Millisecond) // a change wake-up and two polls
	if rev, _, _ := b.Current(); rev != 1 || recB.live() != "one" {
		t.Fatalf("b on rev %d %q, want to keep 1 after refusing 2", rev, recB.live())
	}
	if n := logs.count("config revision refused"); n != 1 {
		t.Fatalf("refusal logged %d times, want once", n)
	}
	recB.setRefuse(nil)
	if _, _, err := a.Apply(ctx, docFor("three"), "x", "api"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Second, "b takes revision 3", func() bool { r, _, _ := b.Current(); return r == 3 && recB.live() == "three" })
	if up, detail, _ := b.Health(); !up || detail != "ok" {
		t.Fatalf("Health = %v %q", up, detail)
	}
}

// The admin API drives the Manager through this interface (internal/admin).
var _ interface {
	Current() (rev int64, hash string, doc []byte)
	Apply(ctx context.Context, doc []byte, author, source string) (rev int64, changed bool, err error)
	Rollback(ctx context.Context, n int64, author string) (rev int64, err error)
	Revisions(ctx context.Context, cursor string, limit int) ([]store.ConfigRevision, string, error)
	Revision(ctx context.Context, n int64) (*store.ConfigRevision, error)
	Health() (up bool, detail string, since time.Time)
} = (*Manager)(nil)
