package counters

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis Cluster refuses a script whose KEYS are in different slots
// (CROSSSLOT), so every key one decision touches must carry the same hash
// tag. These tests need no Redis: a go-redis hook on the driver's own client
// (opened with ?cluster=true) answers every command and records the KEYS of
// each script call, and the test computes their slots with the Cluster
// algorithm (CRC16-XMODEM of the hash tag, mod 16384).

// crc16XModem is CRC-16/XMODEM (poly 0x1021, init 0), the checksum of the
// Redis Cluster key-slot algorithm (cluster spec, appendix A).
func crc16XModem(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc ^= uint16(c) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// clusterHashTag is the part of key Redis Cluster hashes: the text between
// the first '{' and the first '}' after it when that is non-empty, else the
// whole key. ok reports whether a (non-empty) hash tag was found.
func clusterHashTag(key string) (tag string, ok bool) {
	if s := strings.IndexByte(key, '{'); s >= 0 {
		if e := strings.IndexByte(key[s+1:], '}'); e > 0 {
			return key[s+1 : s+1+e], true
		}
	}
	return key, false
}

// clusterSlot is the Redis Cluster slot of key.
func clusterSlot(key string) int {
	tag, _ := clusterHashTag(key)
	return int(crc16XModem([]byte(tag)) % 16384)
}

func TestClusterSlotAlgorithm(t *testing.T) {
	// Reference values: the CRC16 check value from the cluster spec and
	// CLUSTER KEYSLOT answers of a real cluster.
	if got := crc16XModem([]byte("123456789")); got != 0x31C3 {
		t.Fatalf("crc16(123456789) = %#x, want 0x31c3", got)
	}
	for key, want := range map[string]int{"foo": 12182, "somekey": 11058, "{foo}.bar": 12182} {
		if got := clusterSlot(key); got != want {
			t.Errorf("slot(%q) = %d, want %d", key, got, want)
		}
	}
	if clusterSlot("{user1000}.following") != clusterSlot("{user1000}.followers") {
		t.Error("keys with the same hash tag must share a slot")
	}
	if _, ok := clusterHashTag("a{}b"); ok {
		t.Error("an empty {} is not a hash tag: Redis hashes the whole key")
	}
}

// scriptCall is one script execution as sent to Redis.
type scriptCall struct {
	script string // which of the driver's scripts
	keys   []string
}

// keyRecorder is a go-redis hook that plays Redis: it answers PING and the
// driver's four scripts (EVALSHA, and EVAL inside pipelines) with plausible
// replies and records each script call's KEYS. Nothing reaches the network.
type keyRecorder struct {
	mu    sync.Mutex
	calls []scriptCall
}

func (h *keyRecorder) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *keyRecorder) ProcessHook(redis.ProcessHook) redis.ProcessHook {
	return func(_ context.Context, cmd redis.Cmder) error { return h.answer(cmd) }
}

func (h *keyRecorder) ProcessPipelineHook(redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(_ context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			_ = h.answer(c)
		}
		return nil
	}
}

func (h *keyRecorder) answer(cmd redis.Cmder) error {
	args := cmd.Args()
	name := strings.ToLower(fmt.Sprint(args[0]))
	switch name {
	case "ping":
		cmd.(*redis.StatusCmd).SetVal("PONG")
		return nil
	case "eval", "evalsha":
	default:
		err := fmt.Errorf("keyRecorder: unexpected command %v", args)
		cmd.SetErr(err)
		return err
	}
	script := scriptName(fmt.Sprint(args[1]))
	n, _ := strconv.Atoi(fmt.Sprint(args[2]))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint(args[3+i])
	}
	h.mu.Lock()
	h.calls = append(h.calls, scriptCall{script, keys})
	h.mu.Unlock()
	var reply []any
	switch script {
	case "sliding":
		reply = []any{int64(1), int64(1), int64(0)} // admitted, curr, prev
	case "sliding_sync":
		reply = []any{int64(1), int64(0)} // curr, prev
	case "gcra":
		reply = []any{int64(1), int64(time.Now().UnixMicro())} // admitted, tat
	case "add":
		reply = []any{int64(1), int64(1)} // total, added
	default:
		err := fmt.Errorf("keyRecorder: unknown script %.40q", args[1])
		cmd.SetErr(err)
		return err
	}
	cmd.(*redis.Cmd).SetVal(reply)
	return nil
}

// take returns the calls recorded since the last take.
func (h *keyRecorder) take() []scriptCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls
	h.calls = nil
	return c
}

// scriptName names the driver's script by its SHA (EVALSHA) or source (EVAL,
// as local mode's pipelines send it).
func scriptName(shaOrSrc string) string {
	sum := sha1.Sum([]byte(shaOrSrc))
	for name, s := range map[string]*redis.Script{"sliding": slidingScript, "sliding_sync": slidingSyncScript, "gcra": gcraScript, "add": addScript} {
		if shaOrSrc == s.Hash() || hex.EncodeToString(sum[:]) == s.Hash() {
			return name
		}
	}
	return "?"
}

// openClusterRecorder opens the Redis driver in cluster mode against a
// closed port, then puts the recorder in front of its client and waits for
// the probe to see "Redis" up, so decisions go to the (recorded) scripts.
func openClusterRecorder(t *testing.T, prefix string, clock Clock) (*redisCounters, *keyRecorder) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: the driver starts down
	dsn := "redis://" + addr + "?cluster=true&prefix=" + prefix + "&timeout=200ms"
	c, err := Open(dsn, nil, WithClock(clock), WithProbeInterval(5*time.Millisecond), WithSyncInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc, ok := c.(*redisCounters)
	if !ok {
		t.Fatalf("Open(%q) is %T, not the Redis driver", dsn, c)
	}
	if _, isCluster := rc.rdb.(*redis.ClusterClient); !isCluster {
		t.Fatalf("?cluster=true opened a %T, want *redis.ClusterClient", rc.rdb)
	}
	rec := &keyRecorder{}
	rc.rdb.AddHook(rec)
	deadline := time.Now().Add(5 * time.Second)
	for up, _, _ := rc.Health(); !up; up, _, _ = rc.Health() {
		if time.Now().After(deadline) {
			t.Fatal("the probe never saw the recorder's PONG")
		}
		time.Sleep(5 * time.Millisecond)
	}
	rec.take() // the probe's PINGs are not script calls
	return rc, rec
}

// assertOneSlot checks that every key of every call carries a non-empty
// hash tag and is in slot *want (set from the first key when *want < 0).
// When the logical key holds no brace, the tag must be the whole logical
// key: a tag that dropped the client identity would put every client of a
// limit in one slot.
func assertOneSlot(t *testing.T, what, logical string, calls []scriptCall, wantKeys int, want *int) {
	t.Helper()
	n := 0
	for _, c := range calls {
		for _, k := range c.keys {
			n++
			tag, ok := clusterHashTag(k)
			if !ok {
				t.Errorf("%s: %s script key %q has no hash tag: Redis Cluster hashes the whole key", what, c.script, k)
				continue
			}
			if !strings.ContainsAny(logical, "{}") && tag != logical {
				t.Errorf("%s: %s script key %q has hash tag %q, want the limit key %q", what, c.script, k, tag, logical)
			}
			got := clusterSlot(k)
			if *want < 0 {
				*want = got
			}
			if got != *want {
				t.Errorf("%s: %s script key %q (tag %q) is in slot %d, the other keys of limit %q in slot %d: CROSSSLOT on a cluster",
					what, c.script, k, tag, got, logical, *want)
			}
		}
	}
	if n != wantKeys {
		t.Errorf("%s: recorded %d keys in %d script calls, want %d keys: %+v", what, n, len(calls), wantKeys, calls)
	}
}

// TestClusterKeysOfOneDecisionShareASlot: every key a strict sliding-window
// decision, a token-bucket decision, a quota Add and a local-mode sync
// touches is in the slot of the limit's own key, for ordinary identities
// and for identities holding braces (a header value may).
func TestClusterKeysOfOneDecisionShareASlot(t *testing.T) {
	ctx := context.Background()
	limits := []struct {
		name string
		key  string
	}{
		{"ip", "rl:route:orders:ip:10/1m0s/sliding_window:203.0.113.7"},
		{"header with braces", "rl:route:orders:header:X-Tenant:10/1m0s/sliding_window:te}n{ant"},
		{"header starting with a brace", "rl:route:orders:header:X-Tenant:10/1m0s/sliding_window:}{x"},
	}
	for _, prefix := range []string{"tg:", "app:tg:"} {
		for _, lk := range limits {
			t.Run(prefix+lk.name, func(t *testing.T) {
				clock := &fakeClock{t: t0}
				r, rec := openClusterRecorder(t, prefix, clock)
				now := t0.Add(12 * time.Second) // 2 s into a 10 s window

				sw := Limit{Count: 10, Window: 10 * time.Second, Algorithm: SlidingWindow}
				if d, err := r.Allow(ctx, lk.key, sw, now); err != nil || d.Degraded {
					t.Fatalf("strict sliding: %+v %v (the recorder should be Redis)", d, err)
				}
				calls := rec.take()
				if len(calls) != 1 || calls[0].script != "sliding" {
					t.Fatalf("strict sliding decision: want one sliding script call, got %+v", calls)
				}
				slot := -1
				assertOneSlot(t, "strict sliding_window", lk.key, calls, 2, &slot)

				tb := Limit{Count: 10, Window: 10 * time.Second, Algorithm: TokenBucket}
				if d, err := r.Allow(ctx, lk.key, tb, now); err != nil || d.Degraded {
					t.Fatalf("strict token bucket: %+v %v", d, err)
				}
				assertOneSlot(t, "strict token_bucket", lk.key, rec.take(), 1, &slot)

				quota := strings.Replace(lk.key, "rl:", "q:", 1) + ":2023-11-14"
				if _, _, err := r.Add(ctx, quota, 1, 5, now.Add(time.Hour)); err != nil {
					t.Fatal(err)
				}
				qslot := -1
				assertOneSlot(t, "quota add", quota, rec.take(), 1, &qslot)

				// Local mode: admissions in two windows, then one sync that
				// pushes the older window's bucket and the current one
				// (two sliding sync scripts, two keys each) and the bucket.
				swl, tbl := sw, tb
				swl.Mode, tbl.Mode = Local, Local
				r.Allow(ctx, lk.key, swl, now)
				r.Allow(ctx, lk.key, tbl, now)
				later := now.Add(10 * time.Second)
				r.Allow(ctx, lk.key, swl, later)
				if got := rec.take(); len(got) != 0 {
					t.Fatalf("local mode called Redis on the request path: %+v", got)
				}
				clock.Set(later)
				r.syncAll()
				calls = rec.take()
				nSync := 0
				for _, c := range calls {
					if c.script == "sliding_sync" {
						nSync++
					}
				}
				if nSync != 2 {
					t.Fatalf("local sync: want 2 sliding sync calls (old and current window), got %+v", calls)
				}
				assertOneSlot(t, "local sync", lk.key, calls, 2*2+1, &slot)

				t.Logf("limit key %q: every key in slot %d", lk.key, slot)
			})
		}
	}
}

// TestClusterKeysSpreadOverSlots: the hash tag is the whole limit key, so
// the clients of one limit (and the same client under two limits) land on
// different slots, not on one hot node.
func TestClusterKeysSpreadOverSlots(t *testing.T) {
	ctx := context.Background()
	r, rec := openClusterRecorder(t, "tg:", &fakeClock{t: t0})
	scopes := []string{"rl:route:orders:ip:10/1m0s/sliding_window:", "rl:route:search:consumer:1000/1h0m0s/sliding_window:"}
	const clients = 200
	l := Limit{Count: 10, Window: time.Minute}
	now := t0.Add(time.Second)
	perScope := map[string]map[int]bool{}
	bySlotAndClient := map[int]int{} // how many (scope, client) pairs per slot
	for _, scope := range scopes {
		perScope[scope] = map[int]bool{}
		for i := range clients {
			key := scope + fmt.Sprintf("198.51.100.%d", i)
			r.Allow(ctx, key, l, now)
			calls := rec.take()
			if len(calls) != 1 || len(calls[0].keys) != 2 {
				t.Fatalf("%s: want one script call with 2 keys, got %+v", key, calls)
			}
			s := clusterSlot(calls[0].keys[0])
			perScope[scope][s] = true
			bySlotAndClient[s]++
		}
	}
	// 200 random draws from 16384 slots collide about once (expected
	// 200*199/2/16384 = 1.2): demand at least 195 distinct per limit.
	for scope, slots := range perScope {
		t.Logf("%s: %d clients in %d distinct slots", scope, clients, len(slots))
		if len(slots) < clients-5 {
			t.Errorf("%s: %d clients share only %d slots: keys of different clients should spread", scope, clients, len(slots))
		}
	}
	if len(bySlotAndClient) < len(scopes)*clients-10 {
		t.Errorf("%d (limit, client) pairs in only %d slots", len(scopes)*clients, len(bySlotAndClient))
	}
}
