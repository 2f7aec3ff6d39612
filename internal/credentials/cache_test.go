package credentials

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/tollgate-dev/tollgate/internal/store"
	"github.com/tollgate-dev/tollgate/internal/store/storetest"
	"golang.org/x/crypto/bcrypt"
)

var quiet = slog.New(slog.DiscardHandler)

func openStore(t *testing.T, dsn string) store.Store {
	t.Helper()
	st, err := store.OpenWith(context.Background(), dsn, store.Options{Log: quiet, BcryptCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newCacheFor(t *testing.T, st store.Store, o Options) *Cache {
	t.Helper()
	c, err := NewWith(context.Background(), st, quiet, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// eventually polls cond for up to d; the cache follows the feed asynchronously.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v", what, d)
	return 0
}

func TestLookupKeyFollowsStore(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, storetest.SQLiteDSN(t))
	acme := &store.Consumer{Name: "acme", Plan: "free", Groups: []string{"staff"}}
	st.CreateConsumer(ctx, acme)
	k1, key1, _ := st.CreateKey(ctx, acme.ID, nil)
	soon := time.Now().Add(time.Hour)
	_, expiring, _ := st.CreateKey(ctx, acme.ID, &soon)
	past := time.Now().Add(-time.Minute)
	_, expired, _ := st.CreateKey(ctx, acme.ID, &past)
	c := newCacheFor(t, st, Options{})

	now := time.Now()
	if _, err := c.LookupKey(expiring, now); err != nil {
		t.Fatalf("key expiring in an hour: %v", err)
	}
	pc, err := c.LookupKey(key1, now)
	if err != nil || pc.ID != acme.ID || pc.Name != "acme" || pc.Plan != "free" || !pc.InGroup("staff") {
		t.Fatalf("LookupKey = %+v, %v", pc, err)
	}
	pub, _, _ := store.ParseKey(key1)
	bad := []struct {
		name, key string
		want      error
	}{
		{"expired before load", expired, ErrUnknown}, // never loaded
		{"expired since load", expiring, ErrExpired},
		{"wrong secret", "tg_live_" + pub + "_" + strings.Repeat("A", 32), ErrUnknown},
		{"unknown id", "tg_live_ZZZZZZZZ_" + strings.Repeat("A", 32), ErrUnknown},
		{"malformed", "tg_live_short", ErrUnknown},
		{"empty", "", ErrUnknown},
		{"bad chars", "tg_live_" + pub + "_" + strings.Repeat("!", 32), ErrUnknown},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			if _, err := c.LookupKey(b.key, now.Add(2*time.Hour)); !errors.Is(err, b.want) {
				t.Fatalf("err = %v, want %v", err, b.want)
			}
		})
	}

	// A key created after start is accepted; a revoked one is refused within 1 s.
	_, key2, _ := st.CreateKey(ctx, "acme", nil)
	eventually(t, time.Second, "new key accepted", func() bool { _, err := c.LookupKey(key2, time.Now()); return err == nil })
	st.RevokeKey(ctx, acme.ID, k1.ID)
	eventually(t, time.Second, "revoked key refused", func() bool { _, err := c.LookupKey(key1, time.Now()); return err != nil })

	acme.Disabled, acme.Name = true, "acme-renamed"
	st.UpdateConsumer(ctx, acme)
	eventually(t, time.Second, "disabled consumer refused", func() bool {
		_, err := c.LookupKey(key2, time.Now())
		return errors.Is(err, ErrDisabled)
	})
	if _, ok := c.ConsumerByName("acme"); ok {
		t.Fatal("old name still resolves")
	}
	acme.Disabled = false
	st.UpdateConsumer(ctx, acme)
	eventually(t, 3*time.Second, "re-enabled", func() bool { pc, ok := c.ConsumerByName("acme-renamed"); return ok && pc.ID == acme.ID })

	st.DeleteConsumer(ctx, acme.ID)
	eventually(t, time.Second, "deleted consumer refused", func() bool {
		_, err := c.LookupKey(key2, time.Now())
		_, byID := c.ConsumerByID(acme.ID)
		return err != nil && !byID
	})
	if nc, nk := c.Len(); nc != 0 || nk != 0 {
		t.Fatalf("Len after delete = %d, %d", nc, nk)
	}
}

func TestCheckBasic(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, storetest.SQLiteDSN(t))
	a := &store.Consumer{Name: "a"}
	st.CreateConsumer(ctx, a)
	st.SetBasicCredential(ctx, a.ID, "alice", "first")
	c := newCacheFor(t, st, Options{})

	for range 2 { // the second check is served from the verification cache
		if pc, err := c.CheckBasic("alice", "first"); err != nil || pc.ID != a.ID {
			t.Fatalf("CheckBasic = %+v, %v", pc, err)
		}
	}
	if _, err := c.CheckBasic("alice", "wrong"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := c.CheckBasic("bob", "first"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown user: %v", err)
	}
	st.SetBasicCredential(ctx, a.ID, "alice", "second")
	eventually(t, 5*time.Second, "old password refused after change", func() bool {
		_, err := c.CheckBasic("alice", "first")
		return err != nil
	})
	if _, err := c.CheckBasic("alice", "second"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	// A remembered failure must not outlive the credential that makes it succeed.
	if _, err := c.CheckBasic("carol", "pw"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("carol before she exists: %v", err)
	}
	carol := &store.Consumer{Name: "carol"}
	st.CreateConsumer(ctx, carol)
	st.SetBasicCredential(ctx, carol.ID, "carol", "pw")
	eventually(t, 5*time.Second, "new user accepted despite the remembered failure", func() bool {
		pc, err := c.CheckBasic("carol", "pw")
		return err == nil && pc.ID == carol.ID
	})
	st.SetBasicCredential(ctx, a.ID, "alice2", "second")
	eventually(t, 5*time.Second, "renamed user", func() bool {
		_, err1 := c.CheckBasic("alice", "second")
		_, err2 := c.CheckBasic("alice2", "second")
		return err1 != nil && err2 == nil
	})
}

// revokedBehindTheFeed loads a cache (over wrap(st), no periodic resync)
// holding one key, then revokes the key in the database directly, so no
// change reaches the feed: the cache still accepts the key it returns.
func revokedBehindTheFeed(t *testing.T, wrap func(store.Store) store.Store) (*Cache, string) {
	t.Helper()
	ctx := context.Background()
	st := openStore(t, storetest.SQLiteDSN(t))
	a := &store.Consumer{Name: "a"}
	st.CreateConsumer(ctx, a)
	k, key, _ := st.CreateKey(ctx, a.ID, nil)
	c := newCacheFor(t, wrap(st), Options{Resync: -1})
	if _, err := st.DB().Exec("UPDATE api_keys SET revoked_at = created_at WHERE id = ?", k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupKey(key, time.Now()); err != nil {
		t.Fatalf("before a resync the cache cannot know: %v", err)
	}
	return c, key
}

// TestResyncRepairsMissedChange edits the database behind the feed's back:
// only the periodic full resync can notice.
func TestResyncRepairsMissedChange(t *testing.T) {
	c, key := revokedBehindTheFeed(t, func(st store.Store) store.Store { return st })
	c.resync(context.Background())
	if _, err := c.LookupKey(key, time.Now()); err == nil {
		t.Fatal("revoked key accepted after resync")
	}
}

// feedStore replaces the store's change feed with a channel the test drives.
type feedStore struct {
	store.Store
	ch chan store.Change
}

func (f feedStore) Changes() <-chan store.Change { return f.ch }

// A KindResync from the feed (sent after a store outage, when rows may have
// been missed) reloads everything, without waiting for the periodic resync.
func TestFeedResyncReloadsEverything(t *testing.T) {
	feed := make(chan store.Change, 1)
	c, key := revokedBehindTheFeed(t, func(st store.Store) store.Store { return feedStore{Store: st, ch: feed} })
	feed <- store.Change{Kind: store.KindResync}
	eventually(t, 2*time.Second, "the revoked key is refused after the feed asks for a resync", func() bool { _, err := c.LookupKey(key, time.Now()); return err != nil })
}

// TestRevokeSeenByOtherNode: two gateway nodes share PostgreSQL; a key
// revoked through node A is refused by node B's cache within 1 s.
func TestRevokeSeenByOtherNode(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.PostgresDSN(t)
	a, b := openStore(t, dsn), openStore(t, dsn)
	cons := &store.Consumer{Name: "acme"}
	a.CreateConsumer(ctx, cons)
	k, key, _ := a.CreateKey(ctx, cons.ID, nil)
	cacheB := newCacheFor(t, b, Options{})
	if _, err := cacheB.LookupKey(key, time.Now()); err != nil {
		t.Fatalf("node B before revoke: %v", err)
	}
	a.RevokeKey(ctx, cons.ID, k.ID)
	took := eventually(t, time.Second, "node B refuses the revoked key", func() bool {
		_, err := cacheB.LookupKey(key, time.Now())
		return err != nil
	})
	t.Logf("node B refused the key %v after the revoke", took)
}

// synthetic builds a snapshot of n keys spread over n/10 consumers without a
// database; key i is "tg_live_<pub(i)>_<secret(i)>".
func synthetic(n int) (*store.Snapshot, func(i int) string) {
	pub := func(i int) string {
		b := []byte("00000000")
		for j := 7; j >= 0 && i > 0; j-- {
			b[j] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[i%62]
			i /= 62
		}
		return string(b)
	}
	secret := func(i int) string { return fmt.Sprintf("s%031d", i) }
	snap := &store.Snapshot{}
	for i := 0; i < max(n/10, 1); i++ {
		snap.Consumers = append(snap.Consumers, &store.Consumer{ID: fmt.Sprintf("c_%d", i), Name: fmt.Sprintf("n%d", i)})
	}
	snap.Keys = make([]store.KeyRecord, n)
	for i := range n {
		snap.Keys[i] = store.KeyRecord{ID: store.KeyIDFor(pub(i)), ConsumerID: fmt.Sprintf("c_%d", i%len(snap.Consumers)), Hash: store.HashSecret(secret(i))}
	}
	return snap, func(i int) string { return store.KeyPrefix + pub(i) + "_" + secret(i) }
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// bytesPerKey measures the cache's own memory: the snapshot is alive at both
// readings, so only the cache's maps and slots are counted.
func bytesPerKey(n int) (float64, *Cache, func(int) string) {
	snap, key := synthetic(n)
	before := heapInUse()
	c := NewStatic(snap)
	after := heapInUse()
	runtime.KeepAlive(snap)
	return (float64(after) - float64(before)) / float64(n), c, key
}

func TestMemoryPerKey(t *testing.T) {
	per, c, key := bytesPerKey(100_000)
	t.Logf("memory: %.0f bytes per cached key (100k keys, 10k consumers)", per)
	if _, err := c.LookupKey(key(12345), time.Now()); err != nil {
		t.Fatal(err)
	}
	if per > 400 {
		t.Fatalf("%.0f bytes per key: the cache has grown fat", per)
	}
}

func BenchmarkLookupKey(b *testing.B) {
	per, c, key := bytesPerKey(1_000_000)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = key(i * 977)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.LookupKey(keys[i&1023], now); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.ReportMetric(per, "bytes/key") // after the loop: ResetTimer drops earlier metrics
}

func FuzzLookupKey(f *testing.F) {
	snap, key := synthetic(10)
	c := NewStatic(snap)
	good := key(3)
	for _, s := range []string{good, "", "tg_live_", "tg_live_00000003_", good + "x", strings.ToUpper(good), "tg_live_0000000\xff_" + strings.Repeat("a", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pc, err := c.LookupKey(s, time.Now())
		if (err == nil) != (pc != nil) {
			t.Fatalf("consumer %v with err %v", pc, err)
		}
		if err == nil {
			pub, secret, _ := store.ParseKey(s)
			id, _ := packPublicID(pub)
			if id >= 10 || secret != fmt.Sprintf("s%031d", id) {
				t.Fatalf("accepted a key that was never issued: %q", s)
			}
		}
	})
}

// BenchmarkCheckBasicRemembered is the steady state: bcrypt once, then the memo.
func BenchmarkCheckBasicRemembered(b *testing.B) {
	h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	c := NewStatic(&store.Snapshot{
		Consumers: []*store.Consumer{{ID: "c_1", Name: "one"}},
		Basic:     []store.BasicRecord{{ConsumerID: "c_1", Username: "alice", Hash: h}},
	})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.CheckBasic("alice", "pw"); err != nil {
			b.Fatal(err)
		}
	}
}

// packPublicID reads a public id as a base62 number (digits, then upper,
// then lower case) and refuses any other byte or length.
func TestPackPublicID(t *testing.T) {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for _, c := range []struct {
		pub  string
		want uint64
		ok   bool
	}{
		{"00000000", 0, true},
		{"00000001", 1, true},
		{"0000000A", 10, true},
		{"0000000a", 36, true},
		{"0000000z", 61, true},
		{"00000010", 62, true},
		{"zzzzzzzz", 218340105584895, true}, // 62^8 - 1
		{"0000000-", 0, false},
		{"0000000\xff", 0, false},
		{"0000000", 0, false},
		{"000000000", 0, false},
	} {
		got, ok := packPublicID(c.pub)
		if got != c.want || ok != c.ok {
			t.Errorf("packPublicID(%q) = %d, %v; want %d, %v", c.pub, got, ok, c.want, c.ok)
		}
	}
	for b := 0; b < 256; b++ {
		_, ok := packPublicID("0000000" + string([]byte{byte(b)}))
		if want := strings.IndexByte(alphabet, byte(b)) >= 0; ok != want {
			t.Errorf("byte %q: accepted %v, want %v", byte(b), ok, want)
		}
	}
}

// equal32 agrees with a plain comparison, whichever byte differs.
func TestEqual32(t *testing.T) {
	var a [32]byte
	for i := range a {
		a[i] = byte(i * 7)
	}
	b := a
	if !equal32(&a, &b) {
		t.Fatal("equal hashes compared unequal")
	}
	for i := range b {
		for _, bit := range []byte{1, 0x80} {
			c := a
			c[i] ^= bit
			if equal32(&a, &c) {
				t.Fatalf("hashes differing in byte %d (bit %#x) compared equal", i, bit)
			}
		}
	}
}

// A key with a character outside base62 is unknown whichever part holds it,
// though LookupKey only splits keys (the public id must decode and the
// secret must hash to a stored one).
func TestLookupKeyRefusesNonBase62(t *testing.T) {
	snap, key := synthetic(1)
	c := NewStatic(snap)
	good := key(0)
	if _, err := c.LookupKey(good, time.Now()); err != nil {
		t.Fatalf("issued key refused: %v", err)
	}
	for i := len(store.KeyPrefix); i < len(good); i++ {
		if good[i] == '_' {
			continue
		}
		for _, ch := range []byte{'-', '!', 0, 0xff} {
			bad := []byte(good)
			bad[i] = ch
			if _, err := c.LookupKey(string(bad), time.Now()); err == nil {
				t.Fatalf("key with %q at %d accepted", ch, i)
			}
		}
	}
}

// seenCount is how many remembered secrets the cache holds.
func seenCount(c *Cache) (n, fullest int) {
	for i := range c.shards {
		c.shards[i].mu.RLock()
		n += len(c.shards[i].seen)
		fullest = max(fullest, len(c.shards[i].seen))
		c.shards[i].mu.RUnlock()
	}
	return n, fullest
}

// A key that passed the hash check is then compared, not hashed: its secret
// is remembered (a copy, never the caller's memory), only for the stored
// hash it matched, dropped when the key changes or goes, and only for a
// bounded number of keys.
func TestRememberedSecrets(t *testing.T) {
	snap, key := synthetic(64 * (maxSeenPerShard + 40))
	c := NewStatic(snap)
	now := time.Now()

	buf := []byte(key(7))
	presented := unsafe.String(&buf[0], len(buf)) // as a header value lent by the server
	if _, err := c.LookupKey(presented, now); err != nil {
		t.Fatal(err)
	}
	if n, _ := seenCount(c); n != 1 {
		t.Fatalf("%d secrets remembered after one good key, want 1", n)
	}
	// The request's memory is reused, say by the next request on the
	// connection, carrying a guess at the secret in the same place: had the
	// cache kept a view of that memory, the guess would match it.
	buf[len(buf)-1] ^= 1
	if _, err := c.LookupKey(presented, now); err == nil {
		t.Fatal("a wrong secret for a remembered key was accepted")
	}
	if _, err := c.LookupKey(key(7), now); err != nil {
		t.Fatalf("remembered key after its request's memory changed: %v", err)
	}
	k7 := key(7)
	if n := testing.AllocsPerRun(100, func() { _, _ = c.LookupKey(k7, now) }); n > 0 {
		t.Fatalf("a remembered key allocates %v times", n)
	}

	// A wrong secret for a key never seen is not remembered.
	if _, err := c.LookupKey(key(8)[:len(key(8))-1]+"x", now); err == nil {
		t.Fatal("wrong secret accepted")
	}
	if n, _ := seenCount(c); n != 1 {
		t.Fatalf("%d secrets remembered, want 1 (a failed check must not add one)", n)
	}

	// A rotation gives key 7 an expiry, same secret, through the change
	// feed (replaceKeys) and through a full reload: the lookup must see it.
	for _, via := range []string{"change feed", "full reload"} {
		exp := *snap
		exp.Keys = append([]store.KeyRecord(nil), snap.Keys...)
		exp.Keys[7].ExpiresAt = now.Add(time.Hour)
		if via == "full reload" {
			c.applyFull(&exp)
		} else {
			cid := exp.Keys[7].ConsumerID
			var mine []store.KeyRecord
			for _, k := range exp.Keys {
				if k.ConsumerID == cid {
					mine = append(mine, k)
				}
			}
			c.replaceKeys(c.consumers[cid], mine)
		}
		if _, err := c.LookupKey(k7, now.Add(2*time.Hour)); !errors.Is(err, ErrExpired) {
			t.Fatalf("%s: key 7 two hours later: err %v, want ErrExpired", via, err)
		}
		c.applyFull(snap) // back to no expiry
		for range 2 {
			if _, err := c.LookupKey(k7, now.Add(2*time.Hour)); err != nil {
				t.Fatalf("%s: key 7 without an expiry again: %v", via, err)
			}
		}
	}

	// The store gives key 7 another secret: the old one fails, the new one works.
	next := *snap
	next.Keys = append([]store.KeyRecord(nil), snap.Keys...)
	newSecret := strings.Repeat("N", 32)
	next.Keys[7].Hash = store.HashSecret(newSecret)
	c.applyFull(&next)
	if n, _ := seenCount(c); n != 0 {
		t.Fatalf("%d secrets remembered after the key's hash changed, want 0", n)
	}
	if _, err := c.LookupKey(key(7), now); !errors.Is(err, ErrUnknown) {
		t.Fatalf("the replaced secret: err %v, want ErrUnknown", err)
	}
	rotated := key(7)[:len(key(7))-32] + newSecret
	for range 2 { // hashed, then remembered
		if _, err := c.LookupKey(rotated, now); err != nil {
			t.Fatalf("the new secret: %v", err)
		}
	}
	// The key is removed: its remembered secret goes with it.
	next.Keys = append(next.Keys[:7:7], next.Keys[8:]...)
	c.applyFull(&next)
	if n, _ := seenCount(c); n != 0 {
		t.Fatalf("%d secrets remembered after the key was removed, want 0", n)
	}
	if _, err := c.LookupKey(rotated, now); err == nil {
		t.Fatal("a removed key was accepted")
	}

	// Many keys in use: every one works, the memory stays bounded.
	for i := 8; i < len(next.Keys); i++ {
		for range 2 {
			if _, err := c.LookupKey(key(i), now); err != nil {
				t.Fatalf("key %d: %v", i, err)
			}
		}
	}
	if n, fullest := seenCount(c); fullest > maxSeenPerShard || n < 64*maxSeenPerShard/2 {
		t.Fatalf("%d secrets remembered, %d in the fullest shard (bound %d)", n, fullest, maxSeenPerShard)
	}
}

// sameSecret is a plain equality test, whatever the length and wherever
// the difference (word part or tail).
func TestSameSecret(t *testing.T) {
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 40, 128} {
		a := strings.Repeat("k", n)
		if !sameSecret(a, strings.Clone(a)) {
			t.Fatalf("len %d: equal secrets differ", n)
		}
		for i := range n {
			b := []byte(a)
			b[i] ^= 0x20
			if sameSecret(a, string(b)) {
				t.Fatalf("len %d: a difference at byte %d was missed", n, i)
			}
		}
		if sameSecret(a, a+"k") {
			t.Fatalf("len %d: a longer secret matched", n)
		}
	}
}

// The key maps hold no pointers, so the GC never scans them: a million
// keys would otherwise be marked on every collection.
func TestKeyEntryHoldsNoPointers(t *testing.T) {
	var walk func(reflect.Type) bool
	walk = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Pointer, reflect.UnsafePointer, reflect.Map, reflect.Slice, reflect.String,
			reflect.Interface, reflect.Chan, reflect.Func:
			return true
		case reflect.Array:
			return walk(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if walk(ty.Field(i).Type) {
					return true
				}
			}
		}
		return false
	}
	if walk(reflect.TypeFor[keyEntry]()) {
		t.Fatal("keyEntry holds a pointer: the GC scans every key map entry")
	}
}

// BenchmarkGCWithMillionKeys: one full collection with a million keys
// cached (run on demand; compare with the key maps' pointers).
func BenchmarkGCWithMillionKeys(b *testing.B) {
	_, c, key := bytesPerKey(1_000_000)
	if _, err := c.LookupKey(key(5), time.Now()); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(c)
}

// Slot indexes are never reused: a key entry read just before its consumer
// was deleted finds nothing, never a newer consumer.
func TestSlotTableNeverReuses(t *testing.T) {
	var tab slotTable
	a, b, c := &consumerSlot{id: "a"}, &consumerSlot{id: "b"}, &consumerSlot{id: "c"}
	tab.add(a)
	tab.add(b)
	tab.drop(b)
	tab.add(c)
	if a.idx != 0 || b.idx != 1 || c.idx != 2 {
		t.Fatalf("indexes %d %d %d, want 0 1 2", a.idx, b.idx, c.idx)
	}
	if tab.slot(0) != a || tab.slot(1) != nil || tab.slot(2) != c || tab.slot(3) != nil {
		t.Fatal("slot lookups")
	}
}
