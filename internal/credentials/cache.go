// Package credentials is the in-memory credential cache the request path
// authenticates against: API keys and basic credentials of every consumer,
// loaded from the store once and kept current from its change feed, so a
// request never waits on the database.
package credentials

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/store"
	"golang.org/x/crypto/bcrypt"
)

// Errors from LookupKey and CheckBasic. They are for logs and metrics; the
// client only ever sees a generic 401.
var (
	ErrUnknown  = errors.New("credentials: unknown or malformed credential")
	ErrExpired  = errors.New("credentials: key expired")
	ErrDisabled = errors.New("credentials: consumer disabled")
)

// Options tune the cache; zero values take the defaults.
type Options struct {
	// Resync is the period of the full reload that repairs anything the
	// change feed missed. Default 1 h; negative disables it.
	Resync time.Duration
	// BasicTTL is how long a successful bcrypt verification is reused. Default 60 s.
	BasicTTL time.Duration
}

const (
	shardCount  = 64 // key map shards: readers on many cores do not share one lock word
	maxVerified = 10000
	// defaultResync is the period of the full reload, a safety net only: the
	// change feed carries every update within ~1 s and asks for a reload
	// itself after an outage (store.KindResync). A full reload of 1,000,000
	// keys takes about 2.5 s of one core, so it is rare.
	defaultResync   = time.Hour
	defaultBasicTTL = time.Minute
)

// Cache is safe for concurrent use. Reads take one shard read lock; writers
// (change feed, resync) are serialised by updateMu.
type Cache struct {
	st   store.Store
	log  *slog.Logger
	opts Options

	shards [shardCount]keyShard
	slots  slotTable

	cmu       sync.RWMutex
	consumers map[string]*consumerSlot // by id
	byName    map[string]*consumerSlot
	basic     map[string]*basicEntry // by username

	vmu      sync.Mutex
	verified map[[32]byte]verifiedEntry

	updateMu sync.Mutex
	dirtyMu  sync.Mutex
	dirty    map[string]bool // consumers changed while a full resync is loading; nil when none runs

	stop context.CancelFunc
	wg   sync.WaitGroup
}

type keyShard struct {
	mu sync.RWMutex
	m  map[uint64]keyEntry
	// seen holds the keys that passed a SHA-256 check, with their secret,
	// so a key's next requests compare the presented secret with it
	// (constant time) instead of hashing it again: the hash was most of
	// what a key check cost. An entry is a copy of the key's entry in m,
	// kept identical: every change to m[id] drops seen[id], so a request
	// for a key in use reads this small map only, not the large one (a
	// cache miss or two with a million keys). At most maxSeenPerShard
	// entries; a random one makes room.
	seen map[uint64]seenKey
	_    [32]byte // keep shards on separate cache lines
}

// seenKey is a key's entry as it was when secret hashed to its hash.
type seenKey struct {
	entry  keyEntry
	secret string
}

// maxSeenPerShard bounds the remembered keys: 64 shards x 256 = 16,384
// keys in use at once skip the hash, about 2 MB at most.
const maxSeenPerShard = 256

// keyEntry is 48 bytes: the map key is the packed public id, so no string
// per key, and the consumer is an index into the slot table, not a
// pointer, so the key maps hold no pointers at all: the GC never scans
// them. (With a pointer per entry, marking a million keys took ~30 ms of
// the collector's CPU, a stall on a one-core gateway every GC cycle.)
type keyEntry struct {
	hash    [32]byte
	slot    uint32 // index in the slot table (Cache.slots)
	expires int64  // unix nanoseconds, 0 = never
}

// consumerSlot is shared by the consumer's keys; swapping state updates all
// of them at once. keys and username are touched only under updateMu.
type consumerSlot struct {
	id       string
	idx      uint32                        // its place in the slot table, never reused
	state    atomic.Pointer[consumerState] // nil once the consumer is deleted
	keys     []uint64
	username string
}

// slotTable maps a keyEntry's slot index to its consumer slot. Indexes are
// handed out once and never reused, so an entry read just before its
// consumer went away can only find that consumer's slot (its state nil),
// never another consumer's. A deleted consumer's index is left nil: 8 bytes
// per consumer ever deleted, until the process restarts.
type slotTable struct {
	tab atomic.Pointer[[]*consumerSlot]
}

// slot returns the slot at i (nil for a deleted consumer).
func (t *slotTable) slot(i uint32) *consumerSlot {
	if tab := t.tab.Load(); tab != nil && int(i) < len(*tab) {
		return (*tab)[i]
	}
	return nil
}

// add gives s the next index (caller holds updateMu). Appending in place
// is safe for readers: they never read past the length they loaded, and
// the new length is published after the write.
func (t *slotTable) add(s *consumerSlot) {
	var tab []*consumerSlot
	if p := t.tab.Load(); p != nil {
		tab = *p
	}
	s.idx = uint32(len(tab))
	tab = append(tab, s)
	t.tab.Store(&tab)
}

// drop forgets a deleted consumer's slot (caller holds updateMu).
func (t *slotTable) drop(s *consumerSlot) {
	if p := t.tab.Load(); p != nil && int(s.idx) < len(*p) && (*p)[s.idx] == s {
		(*p)[s.idx] = nil
	}
}

type consumerState struct {
	c        *policy.Consumer
	disabled bool
}

type basicEntry struct {
	hash []byte
	slot *consumerSlot
}

// verifiedEntry remembers the outcome of a bcrypt check. It is valid only
// while basic[user] is still the same *basicEntry (nil for an unknown user),
// so any change to the credential invalidates it.
type verifiedEntry struct {
	basic *basicEntry
	until int64
	ok    bool
}

// New loads the store's snapshot (ctx bounds that load only) and keeps the
// cache current until Close is called.
func New(ctx context.Context, st store.Store, log *slog.Logger) (*Cache, error) {
	return NewWith(ctx, st, log, Options{})
}

// NewWith is New with options.
func NewWith(ctx context.Context, st store.Store, log *slog.Logger, o Options) (*Cache, error) {
	if log == nil {
		log = slog.Default()
	}
	c := newCache(o)
	c.st, c.log = st, log
	changes := st.Changes() // subscribe first: nothing committed after the snapshot is missed
	snap, err := st.LoadSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	c.applyFull(snap)
	// The cache must outlive ctx: a cache that silently stopped following
	// the store would keep accepting revoked keys.
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	c.stop = stop
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.follow(bg, changes) }()
	if c.opts.Resync > 0 {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.resyncLoop(bg) }()
	}
	return c, nil
}

// NewStatic builds a cache from a snapshot that never changes (tests,
// benchmarks, the quickstart before a store exists).
func NewStatic(snap *store.Snapshot) *Cache {
	c := newCache(Options{})
	c.applyFull(snap)
	return c
}

func newCache(o Options) *Cache {
	if o.Resync == 0 {
		o.Resync = defaultResync
	}
	if o.BasicTTL <= 0 {
		o.BasicTTL = defaultBasicTTL
	}
	c := &Cache{opts: o, consumers: map[string]*consumerSlot{}, byName: map[string]*consumerSlot{},
		basic: map[string]*basicEntry{}, verified: map[[32]byte]verifiedEntry{}, stop: func() {}}
	for i := range c.shards {
		c.shards[i].m = map[uint64]keyEntry{}
		c.shards[i].seen = map[uint64]seenKey{}
	}
	return c
}

// Close stops following the store.
func (c *Cache) Close() {
	c.stop()
	c.wg.Wait()
}

// LookupKey authenticates a presented API key at now. It does no I/O.
// The returned consumer is shared: callers must not modify it.
func (c *Cache) LookupKey(key string, now time.Time) (*policy.Consumer, error) {
	// SplitKey, not ParseKey: a public id that is not base62 fails to
	// decode here, and a secret that is not cannot hash to a stored one.
	pub, secret, ok := store.SplitKey(key)
	if !ok {
		return nil, ErrUnknown
	}
	id, ok := packPublicID(pub)
	sh := &c.shards[id%shardCount]
	sh.mu.RLock()
	seen, remembered := sh.seen[id]
	e, found := seen.entry, remembered
	if !remembered {
		e, found = sh.m[id]
	}
	sh.mu.RUnlock()
	if !ok || !remembered || !sameSecret(secret, seen.secret) {
		// Any key not known to be good is hashed, found or not: a wrong
		// secret costs the same work whether its public id exists or not.
		h := store.HashSecret(secret)
		if !ok || !found || !equal32(&h, &e.hash) {
			return nil, ErrUnknown
		}
		sh.remember(id, e, secret)
	}
	if e.expires != 0 && now.UnixNano() >= e.expires {
		return nil, ErrExpired
	}
	sl := c.slots.slot(e.slot)
	if sl == nil {
		return nil, ErrUnknown
	}
	return sl.consumer()
}

// dropStale keeps seen[id] only while it is an exact copy of m[id]: the
// one rule every change to m follows (caller holds sh.mu for writing).
func (sh *keyShard) dropStale(id uint64) {
	if k, ok := sh.seen[id]; ok {
		if e, ok := sh.m[id]; !ok || e != k.entry {
			delete(sh.seen, id)
		}
	}
}

// remember keeps a key whose secret hashed to its stored hash. The secret
// may view a request's memory, so it is copied.
func (sh *keyShard) remember(id uint64, e keyEntry, secret string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now, ok := sh.m[id]; !ok || now != e {
		return // the key changed since it was read
	}
	if _, ok := sh.seen[id]; !ok && len(sh.seen) >= maxSeenPerShard {
		for old := range sh.seen { // map order is random: a random victim
			delete(sh.seen, old)
			break
		}
	}
	sh.seen[id] = seenKey{entry: e, secret: strings.Clone(secret)}
}

// sameSecret compares two secrets in constant time for a given length (all
// secrets issued have one of a few lengths), as subtle.ConstantTimeCompare
// does, without converting them to byte slices.
func sameSecret(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var v uint64
	i := 0
	for ; i+8 <= len(a); i += 8 { // a word at a time: secrets are 32 bytes
		v |= binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(a[i:]), 8)) ^
			binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(b[i:]), 8))
	}
	for ; i < len(a); i++ {
		v |= uint64(a[i] ^ b[i])
	}
	return v == 0
}

// equal32 compares two hashes in constant time, a word at a time
// (subtle.ConstantTimeCompare goes byte by byte).
func equal32(a, b *[32]byte) bool {
	return sameSecret(unsafe.String(&a[0], 32), unsafe.String(&b[0], 32))
}

func (s *consumerSlot) consumer() (*policy.Consumer, error) {
	st := s.state.Load()
	if st == nil {
		return nil, ErrUnknown
	}
	if st.disabled {
		return nil, ErrDisabled
	}
	return st.c, nil
}

// CheckBasic verifies a username and password. bcrypt is slow on purpose, so
// the outcome is remembered for BasicTTL, keyed by SHA-256 of user:pass, and
// forgotten as soon as that credential or its consumer changes. Unknown users
// cost a bcrypt too, so timing does not tell which usernames exist.
func (c *Cache) CheckBasic(user, pass string) (*policy.Consumer, error) {
	c.cmu.RLock()
	be := c.basic[user]
	c.cmu.RUnlock()
	vk := sha256.Sum256([]byte(user + ":" + pass))
	now := time.Now().UnixNano()
	c.vmu.Lock()
	v, hit := c.verified[vk]
	c.vmu.Unlock()
	if !hit || v.basic != be || now >= v.until {
		v = verifiedEntry{basic: be, until: now + int64(c.opts.BasicTTL), ok: verify(be, pass)}
		c.remember(vk, v)
	}
	if !v.ok {
		return nil, ErrUnknown
	}
	return be.slot.consumer()
}

// dummyHash is compared against for unknown users.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("tollgate-no-such-user"), bcrypt.DefaultCost)
	return h
})

func verify(be *basicEntry, pass string) bool {
	if be == nil {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(pass))
		return false
	}
	return bcrypt.CompareHashAndPassword(be.hash, []byte(pass)) == nil
}

func (c *Cache) remember(k [32]byte, v verifiedEntry) {
	c.vmu.Lock()
	defer c.vmu.Unlock()
	if len(c.verified) >= maxVerified {
		clear(c.verified) // crude but bounded; a miss only costs one bcrypt
	}
	c.verified[k] = v
}

// ConsumerByID implements policy.Directory. Disabled consumers are not found.
func (c *Cache) ConsumerByID(id string) (*policy.Consumer, bool) {
	c.cmu.RLock()
	s := c.consumers[id]
	c.cmu.RUnlock()
	return found(s)
}

// ConsumerByName implements policy.Directory. Disabled consumers are not found.
func (c *Cache) ConsumerByName(name string) (*policy.Consumer, bool) {
	c.cmu.RLock()
	s := c.byName[name]
	c.cmu.RUnlock()
	return found(s)
}

func found(s *consumerSlot) (*policy.Consumer, bool) {
	if s == nil {
		return nil, false
	}
	pc, err := s.consumer()
	return pc, err == nil
}

// Len reports how many consumers and keys are cached.
func (c *Cache) Len() (consumers, keys int) {
	c.cmu.RLock()
	consumers = len(c.consumers)
	c.cmu.RUnlock()
	for i := range c.shards {
		c.shards[i].mu.RLock()
		keys += len(c.shards[i].m)
		c.shards[i].mu.RUnlock()
	}
	return consumers, keys
}

var _ policy.Directory = (*Cache)(nil)

// packPublicID turns the 8 base62 characters of a key's public id into a
// uint64 (62^8 < 2^48), the key map's key.
func packPublicID(pub string) (uint64, bool) {
	if len(pub) != store.KeyPublicLen {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(pub); i++ {
		d := store.Base62Digit(pub[i])
		if d < 0 {
			return 0, false
		}
		v = v*62 + uint64(d)
	}
	return v, true
}
