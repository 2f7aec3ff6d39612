package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/internal/store/migrations"
	"github.com/tollgate-dev/tollgate/internal/store/storetest"
	"github.com/tollgate-dev/tollgate/internal/testutil/tcpproxy"
	"golang.org/x/crypto/bcrypt"
)

func open(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.OpenWith(context.Background(), dsn, store.Options{BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustConsumer(t *testing.T, st store.Store, name string) *store.Consumer {
	t.Helper()
	c := &store.Consumer{Name: name, Plan: "free", Groups: []string{"g1"}, Metadata: map[string]string{"team": "a"}}
	if err := st.CreateConsumer(context.Background(), c); err != nil {
		t.Fatalf("CreateConsumer(%s): %v", name, err)
	}
	return c
}

func countMigrations(t *testing.T, st store.Store) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestMigrationsApplyOnce(t *testing.T) {
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		a := open(t, dsn)
		all, _ := migrations.List(a.Dialect())
		if got := countMigrations(t, a); got != len(all) {
			t.Fatalf("schema_migrations has %d rows, want %d", got, len(all))
		}
		applied, err := migrations.Apply(context.Background(), a.DB(), a.Dialect())
		if err != nil || len(applied) != 0 {
			t.Fatalf("second Apply = %v, %v; want nothing applied", applied, err)
		}
	})
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		var wg sync.WaitGroup
		stores := make([]store.Store, 5)
		errs := make([]error, 5)
		for i := range 5 {
			wg.Go(func() { stores[i], errs[i] = store.Open(context.Background(), dsn) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("Open #%d: %v", i, err)
			}
			defer stores[i].Close()
		}
		all, _ := migrations.List(stores[0].Dialect())
		if got := countMigrations(t, stores[0]); got != len(all) {
			t.Fatalf("schema_migrations has %d rows, want %d", got, len(all))
		}
	})
}

func TestOpenRejectsUnknownDSN(t *testing.T) {
	for _, dsn := range []string{"", "mysql://x", "sqlite://", "postgres://127.0.0.1:1/x?connect_timeout=1"} {
		if st, err := store.Open(context.Background(), dsn); err == nil {
			st.Close()
			t.Errorf("Open(%q) succeeded", dsn)
		}
	}
}

func TestConsumers(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		st := open(t, dsn)
		c := mustConsumer(t, st, "acme")
		if len(c.ID) != 22 || c.ID[:2] != "c_" || c.CreatedAt.IsZero() {
			t.Fatalf("created consumer = %+v", c)
		}
		for _, ref := range []string{c.ID, "acme"} {
			got, err := st.GetConsumer(ctx, ref)
			if err != nil || got.ID != c.ID || got.Plan != "free" || got.Groups[0] != "g1" || got.Metadata["team"] != "a" || got.Disabled {
				t.Fatalf("GetConsumer(%q) = %+v, %v", ref, got, err)
			}
			if !got.CreatedAt.Equal(c.CreatedAt) {
				t.Fatalf("created_at round trip: %v != %v", got.CreatedAt, c.CreatedAt)
			}
		}
		if err := st.CreateConsumer(ctx, &store.Consumer{Name: "acme"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate name: err = %v, want ErrConflict", err)
		}
		if err := st.CreateConsumer(ctx, &store.Consumer{Name: " "}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("blank name: err = %v, want ErrInvalid", err)
		}
		c.Plan, c.Disabled, c.Groups = "pro", true, nil
		if err := st.UpdateConsumer(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, _ := st.GetConsumer(ctx, c.ID)
		if got.Plan != "pro" || !got.Disabled || len(got.Groups) != 0 {
			t.Fatalf("after update: %+v", got)
		}
		other := mustConsumer(t, st, "other")
		other.Name = "acme"
		if err := st.UpdateConsumer(ctx, other); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("rename onto a taken name: %v", err)
		}
		if err := st.UpdateConsumer(ctx, &store.Consumer{ID: "c_missing", Name: "x"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update missing: %v", err)
		}
		if _, err := st.GetConsumer(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
	})
}

func TestListConsumersPages(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		st := open(t, dsn)
		for i := range 7 {
			mustConsumer(t, st, fmt.Sprintf("c%02d", i))
		}
		var names []string
		cursor, pages := "", 0
		for {
			list, next, err := st.ListConsumers(ctx, cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, c := range list {
				names = append(names, c.Name)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if pages != 3 || len(names) != 7 || names[0] != "c00" || names[6] != "c06" {
			t.Fatalf("pages=%d names=%v", pages, names)
		}
		if _, _, err := st.ListConsumers(ctx, "%%%", 3); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("bad cursor: %v", err)
		}
	})
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		st := open(t, dsn)
		c := mustConsumer(t, st, "acme")
		exp := time.Now().Add(time.Hour)
		k, plain, err := st.CreateKey(ctx, "acme", &exp)
		if err != nil {
			t.Fatal(err)
		}
		pub, secret, ok := store.ParseKey(plain)
		if !ok || k.ID != "k_"+pub || k.Prefix != "tg_live_"+pub || k.ConsumerID != c.ID || len(secret) != 32 {
			t.Fatalf("key %+v plaintext %q", k, plain)
		}
		if k.ExpiresAt == nil || k.ExpiresAt.Sub(exp).Abs() > time.Millisecond {
			t.Fatalf("expires_at = %v, want %v", k.ExpiresAt, exp)
		}
		snap, err := st.LoadSnapshot(ctx)
		if err != nil || len(snap.Keys) != 1 || snap.Keys[0].Hash != store.HashSecret(secret) || snap.Keys[0].ConsumerID != c.ID {
			t.Fatalf("snapshot = %+v, %v", snap, err)
		}
		keys, err := st.ListKeys(ctx, c.ID)
		if err != nil || len(keys) != 1 || keys[0].ID != k.ID || !keys[0].Active(time.Now()) {
			t.Fatalf("ListKeys = %+v, %v", keys, err)
		}
		if err := st.RevokeKey(ctx, c.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.RevokeKey(ctx, c.ID, k.ID); err != nil {
			t.Fatalf("second revoke: %v", err)
		}
		if err := st.RevokeKey(ctx, c.ID, "k_missing1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("revoke missing: %v", err)
		}
		snap, _ = st.LoadSnapshot(ctx)
		if len(snap.Keys) != 0 {
			t.Fatalf("revoked key still in snapshot: %+v", snap.Keys)
		}
		keys, _ = st.ListKeys(ctx, c.ID)
		if keys[0].RevokedAt == nil || keys[0].Active(time.Now()) {
			t.Fatalf("revoked key listed as %+v", keys[0])
		}
		if _, _, err := st.CreateKey(ctx, "nobody", nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("key for missing consumer: %v", err)
		}
	})
}

func TestRotateKey(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		st := open(t, dsn)
		c := mustConsumer(t, st, "acme")
		old, _, _ := st.CreateKey(ctx, c.ID, nil)
		nk, plain, err := st.RotateKey(ctx, c.ID, old.ID, time.Minute)
		if err != nil || nk.ID == old.ID || plain == "" {
			t.Fatalf("RotateKey = %+v, %v", nk, err)
		}
		keys, _ := st.ListKeys(ctx, c.ID)
		var oldNow *store.APIKey
		for _, k := range keys {
			if k.ID == old.ID {
				oldNow = k
			}
		}
		if oldNow == nil || oldNow.ExpiresAt == nil || time.Until(*oldNow.ExpiresAt) > time.Minute || time.Until(*oldNow.ExpiresAt) < 50*time.Second {
			t.Fatalf("old key after rotate: %+v", oldNow)
		}
		st.RevokeKey(ctx, c.ID, old.ID)
		if _, _, err := st.RotateKey(ctx, c.ID, old.ID, 0); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("rotate revoked: %v", err)
		}
	})
}

func TestDeleteConsumerCascades(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		st := open(t, dsn)
		c := mustConsumer(t, st, "acme")
		st.CreateKey(ctx, c.ID, nil)
		if err := st.SetBasicCredential(ctx, c.ID, "acme-user", "pw"); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteConsumer(ctx, "acme"); err != nil {
			t.Fatal(err)
		}
		snap, _ := st.LoadSnapshot(ctx)
		if len(snap.Consumers)+len(snap.Keys)+len(snap.Basic) != 0 {
			t.Fatalf("after delete: %+v", snap)
		}
		if err := st.DeleteConsumer(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestBasicCredentials(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		st := open(t, dsn)
		a, b := mustConsumer(t, st, "a"), mustConsumer(t, st, "b")
		if err := st.SetBasicCredential(ctx, a.ID, "alice", "s3cret"); err != nil {
			t.Fatal(err)
		}
		if err := st.SetBasicCredential(ctx, a.ID, "alice2", "n3w"); err != nil {
			t.Fatalf("replace: %v", err)
		}
		if err := st.SetBasicCredential(ctx, b.ID, "alice2", "x"); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("taken username: %v", err)
		}
		if err := st.SetBasicCredential(ctx, b.ID, "bad:name", "x"); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("colon in username: %v", err)
		}
		snap, _ := st.LoadConsumerSnapshot(ctx, a.ID)
		if len(snap.Basic) != 1 || snap.Basic[0].Username != "alice2" || bcrypt.CompareHashAndPassword(snap.Basic[0].Hash, []byte("n3w")) != nil {
			t.Fatalf("basic = %+v", snap.Basic)
		}
		if err := st.DeleteBasicCredential(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteBasicCredential(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete twice: %v", err)
		}
	})
}

func TestAudit(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		st := open(t, dsn)
		for i := range 5 {
			if err := st.AppendAudit(ctx, store.AuditEntry{Actor: "admin", Action: "consumer.create", Target: fmt.Sprint(i), Detail: []byte(`{"i":1}`)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.AppendAudit(ctx, store.AuditEntry{Actor: "x", Action: "y", Detail: []byte("{")}); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("bad detail: %v", err)
		}
		page1, next, err := st.ListAudit(ctx, "", 3)
		if err != nil || len(page1) != 3 || next == "" || page1[0].Target != "4" || page1[0].At.IsZero() {
			t.Fatalf("page1 = %+v next=%q err=%v", page1, next, err)
		}
		page2, next2, err := st.ListAudit(ctx, next, 3)
		if err != nil || len(page2) != 2 || next2 != "" || page2[1].Target != "0" || string(page2[1].Detail) != `{"i":1}` {
			t.Fatalf("page2 = %+v next=%q err=%v", page2, next2, err)
		}
	})
}

func TestConfigRevisions(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		st := open(t, dsn)
		if _, err := st.LatestConfigRevision(ctx); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("latest on empty: %v", err)
		}
		steps := []struct {
			doc, hash   string
			rev         int64
			wantCreated bool
		}{
			{"a: 1", "h1", 1, true},
			{"a: 1", "h1", 1, false},
			{"a: 2", "h2", 2, true},
			{"a: 1", "h1", 3, true}, // rollback makes a new revision
		}
		for _, s := range steps {
			rev, created, err := st.PutConfigRevision(ctx, []byte(s.doc), s.hash, "alice", "admin")
			if err != nil || rev != s.rev || created != s.wantCreated {
				t.Fatalf("Put(%s) = %d, %v, %v; want %d, %v", s.hash, rev, created, err, s.rev, s.wantCreated)
			}
		}
		r, err := st.GetConfigRevision(ctx, 2)
		if err != nil || string(r.Document) != "a: 2" || r.Author != "alice" || r.Source != "admin" || r.Hash != "h2" {
			t.Fatalf("Get(2) = %+v, %v", r, err)
		}
		latest, _ := st.LatestConfigRevision(ctx)
		if latest.N != 3 {
			t.Fatalf("latest = %d", latest.N)
		}
		list, next, _ := st.ListConfigRevisions(ctx, "", 2)
		rest, last, _ := st.ListConfigRevisions(ctx, next, 2)
		if len(list) != 2 || list[0].N != 3 || len(rest) != 1 || rest[0].N != 1 || last != "" {
			t.Fatalf("list = %+v %+v", list, rest)
		}
		if _, err := st.GetConfigRevision(ctx, 99); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get missing: %v", err)
		}
	})
}

func waitChange(t *testing.T, ch <-chan store.Change, want store.Change, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case c := <-ch:
			if c == want {
				return
			}
		case <-deadline:
			t.Fatalf("no change %+v within %v", want, within)
		}
	}
}

func TestChangesOwnWrites(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		st := open(t, dsn)
		ch := st.Changes()
		c := mustConsumer(t, st, "acme")
		waitChange(t, ch, store.Change{Kind: store.KindConsumer, ID: c.ID, ConsumerID: c.ID}, 200*time.Millisecond)
		k, _, _ := st.CreateKey(ctx, c.ID, nil)
		waitChange(t, ch, store.Change{Kind: store.KindKey, ID: k.ID, ConsumerID: c.ID}, 200*time.Millisecond)
		rev, _, _ := st.PutConfigRevision(ctx, []byte("x"), "h", "", "")
		waitChange(t, ch, store.Change{Kind: store.KindConfig, ID: fmt.Sprint(rev)}, 200*time.Millisecond)
	})
}

// Two admins (here two store handles, as on two nodes) read the same
// consumer and both update it: the second write is refused with ErrStale
// instead of silently undoing the first.
func TestUpdateConsumerIsCompareAndSet(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		a, b := open(t, dsn), open(t, dsn)
		mustConsumer(t, a, "acme")
		first, _ := a.GetConsumer(ctx, "acme")
		second, _ := b.GetConsumer(ctx, "acme")
		first.Plan = "pro"
		if err := a.UpdateConsumer(ctx, first); err != nil {
			t.Fatal(err)
		}
		second.Plan = "enterprise"
		if err := b.UpdateConsumer(ctx, second); !errors.Is(err, store.ErrStale) {
			t.Fatalf("update from a stale read: err = %v, want ErrStale", err)
		}
		if got, _ := b.GetConsumer(ctx, "acme"); got.Plan != "pro" {
			t.Fatalf("plan = %q, want the first writer's pro", got.Plan)
		}
		// Back-to-back updates of a fresh copy always move updated_at, so
		// the ETag built from it changes with every write.
		cur, _ := a.GetConsumer(ctx, "acme")
		for i := range 20 {
			prev := cur.UpdatedAt
			cur.Metadata = map[string]string{"i": strconv.Itoa(i)}
			if err := a.UpdateConsumer(ctx, cur); err != nil {
				t.Fatalf("update %d: %v", i, err)
			}
			if !cur.UpdatedAt.After(prev) {
				t.Fatalf("update %d: updated_at %v did not move past %v", i, cur.UpdatedAt, prev)
			}
		}
	})
}

func TestChangesAcrossNodes(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		a, b := open(t, dsn), open(t, dsn)
		c := mustConsumer(t, a, "acme")
		k, _, _ := a.CreateKey(ctx, c.ID, nil)
		chB := b.Changes()
		start := time.Now()
		if err := a.RevokeKey(ctx, c.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		within := time.Second
		if a.Dialect() == "sqlite" {
			within = 3 * time.Second // no NOTIFY: the 1 s poll alone
		}
		waitChange(t, chB, store.Change{Kind: store.KindKey, ID: k.ID, ConsumerID: c.ID}, within)
		t.Logf("%s: revoke seen by the other node after %v", a.Dialect(), time.Since(start))
	})
}

// After its feed could not be read for a while (rows may have been pruned
// meanwhile), a node's subscribers are told to reload everything.
func TestFeedAsksForResyncAfterAnOutage(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer store.SetResyncAfterOutage(500 * time.Millisecond)()
	px := tcpproxy.Start(t, u.Host)
	u.Host = px.Addr()
	st := open(t, u.String())
	ch := st.Changes()
	px.Cut()
	time.Sleep(2500 * time.Millisecond) // at least two failed polls, 1 s apart
	px.Restore(t)
	waitChange(t, ch, store.Change{Kind: store.KindResync}, 5*time.Second)
}

// TestListenReconnects kills node B's LISTEN connection: B must reconnect and
// still see node A's revoke (by NOTIFY again, or by the poll meanwhile).
func TestListenReconnects(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	a, b := open(t, dsn), open(t, dsn)
	name := "tollgate-listen " + dsn[strings.LastIndex(dsn, "search_path=")+len("search_path="):]
	count := func() int {
		var n int
		if err := a.DB().QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5 s", what)
			}
		}
	}
	waitFor("both listeners connected", func() bool { return count() == 2 })
	if _, err := a.DB().ExecContext(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", name); err != nil {
		t.Fatal(err)
	}
	c := mustConsumer(t, a, "acme")
	k, _, _ := a.CreateKey(ctx, c.ID, nil)
	chB := b.Changes()
	a.RevokeKey(ctx, c.ID, k.ID)
	waitChange(t, chB, store.Change{Kind: store.KindKey, ID: k.ID, ConsumerID: c.ID}, 3*time.Second)
	waitFor("listeners reconnected", func() bool { return count() == 2 })
}

// TestConcurrentConfigRevisions: two nodes storing documents at once get
// distinct, gap-free revision numbers.
func TestConcurrentConfigRevisions(t *testing.T) {
	ctx := context.Background()
	storetest.ForEachDriver(t, func(t *testing.T, dsn string) {
		nodes := []store.Store{open(t, dsn), open(t, dsn)}
		var wg sync.WaitGroup
		revs := make([]int64, 10)
		for i := range revs {
			wg.Go(func() {
				rev, created, err := nodes[i%2].PutConfigRevision(ctx, []byte(fmt.Sprint(i)), fmt.Sprint("h", i), "", "")
				if err != nil || !created {
					t.Errorf("Put #%d: %d %v %v", i, rev, created, err)
				}
				revs[i] = rev
			})
		}
		wg.Wait()
		seen := map[int64]bool{}
		for _, r := range revs {
			if r < 1 || r > 10 || seen[r] {
				t.Fatalf("revisions %v", revs)
			}
			seen[r] = true
		}
	})
}
