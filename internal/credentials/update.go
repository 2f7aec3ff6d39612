package credentials

import (
	"context"
	"maps"
	"time"

	"github.com/tollgate-dev/tollgate/internal/policy"
	"github.com/tollgate-dev/tollgate/internal/store"
)

func toPolicy(c *store.Consumer) *consumerState {
	return &consumerState{
		c: &policy.Consumer{ID: c.ID, Name: c.Name, Plan: c.Plan,
			Groups: c.Groups, Metadata: maps.Clone(c.Metadata)},
		disabled: c.Disabled,
	}
}

func expiresNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// applyFull replaces everything with snap. New maps are built aside and
// swapped in, so readers never see a half-loaded cache (the price is twice
// the key memory for the duration of the build).
func (c *Cache) applyFull(snap *store.Snapshot) {
	c.updateMu.Lock()
	defer c.updateMu.Unlock()
	c.cmu.RLock()
	old := c.consumers
	c.cmu.RUnlock()

	slots := make(map[string]*consumerSlot, len(snap.Consumers))
	byName := make(map[string]*consumerSlot, len(snap.Consumers))
	for _, sc := range snap.Consumers {
		s := old[sc.ID]
		if s == nil {
			s = &consumerSlot{id: sc.ID}
			c.slots.add(s)
		}
		s.keys, s.username = s.keys[:0], ""
		s.state.Store(toPolicy(sc))
		slots[sc.ID], byName[sc.Name] = s, s
	}
	var shards [shardCount]map[uint64]keyEntry
	for i := range shards {
		shards[i] = make(map[uint64]keyEntry, len(snap.Keys)/shardCount+1)
	}
	now := time.Now()
	for _, k := range snap.Keys {
		id, s, ok := keyTarget(k, slots)
		if !ok || expiredAt(k, now) {
			continue
		}
		shards[id%shardCount][id] = keyEntry{hash: k.Hash, slot: s.idx, expires: expiresNano(k.ExpiresAt)}
		s.keys = append(s.keys, id)
	}
	basic := make(map[string]*basicEntry, len(snap.Basic))
	for _, b := range snap.Basic {
		if s := slots[b.ConsumerID]; s != nil {
			basic[b.Username] = c.keepBasic(b, s)
			s.username = b.Username
		}
	}
	for id, s := range old {
		if slots[id] == nil {
			s.state.Store(nil) // deleted: any stale reference now fails
			c.slots.drop(s)
		}
	}
	c.cmu.Lock()
	c.consumers, c.byName, c.basic = slots, byName, basic
	c.cmu.Unlock()
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.m = shards[i]
		for id := range sh.seen {
			sh.dropStale(id)
		}
		sh.mu.Unlock()
	}
}

// expiredAt leaves long-dead keys out of memory; they would only ever fail.
func expiredAt(k store.KeyRecord, now time.Time) bool {
	return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt)
}

func keyTarget(k store.KeyRecord, slots map[string]*consumerSlot) (uint64, *consumerSlot, bool) {
	pub, ok := store.PublicIDOf(k.ID)
	if !ok {
		return 0, nil, false
	}
	id, ok := packPublicID(pub)
	s := slots[k.ConsumerID]
	return id, s, ok && s != nil
}

// keepBasic reuses the current entry when nothing changed, so remembered
// bcrypt verifications survive a resync.
func (c *Cache) keepBasic(b store.BasicRecord, s *consumerSlot) *basicEntry {
	c.cmu.RLock()
	cur := c.basic[b.Username]
	c.cmu.RUnlock()
	if cur != nil && cur.slot == s && string(cur.hash) == string(b.Hash) {
		return cur
	}
	return &basicEntry{hash: b.Hash, slot: s}
}

// applyConsumer replaces one consumer's state, keys and basic credential
// with snap (a LoadConsumerSnapshot result; empty when it was deleted).
// New keys are added before stale ones are removed, so a key present in both
// never fails in between.
func (c *Cache) applyConsumer(id string, snap *store.Snapshot) {
	c.updateMu.Lock()
	defer c.updateMu.Unlock()
	c.cmu.RLock()
	s := c.consumers[id]
	c.cmu.RUnlock()
	if len(snap.Consumers) == 0 {
		if s != nil {
			c.removeConsumer(s)
		}
		return
	}
	sc := snap.Consumers[0]
	if s == nil {
		s = &consumerSlot{id: id}
		c.slots.add(s)
	}
	c.placeConsumer(s, sc)
	s.state.Store(toPolicy(sc))
	c.replaceKeys(s, snap.Keys)
	c.replaceBasic(s, snap.Basic)
}

// placeConsumer indexes s by id and by its (possibly new) name.
func (c *Cache) placeConsumer(s *consumerSlot, sc *store.Consumer) {
	old := s.state.Load()
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if old != nil && old.c.Name != sc.Name && c.byName[old.c.Name] == s {
		delete(c.byName, old.c.Name)
	}
	c.consumers[s.id], c.byName[sc.Name] = s, s
}

func (c *Cache) removeConsumer(s *consumerSlot) {
	s.state.Store(nil)
	c.replaceKeys(s, nil)
	c.replaceBasic(s, nil)
	c.slots.drop(s)
	c.cmu.Lock()
	defer c.cmu.Unlock()
	delete(c.consumers, s.id)
	for name, x := range c.byName {
		if x == s {
			delete(c.byName, name)
			break
		}
	}
}

func (c *Cache) replaceKeys(s *consumerSlot, keys []store.KeyRecord) {
	keep := make(map[uint64]bool, len(keys))
	slots := map[string]*consumerSlot{s.id: s}
	now := time.Now()
	for _, k := range keys {
		id, _, ok := keyTarget(k, slots)
		if !ok || expiredAt(k, now) {
			continue
		}
		sh := &c.shards[id%shardCount]
		sh.mu.Lock()
		sh.m[id] = keyEntry{hash: k.Hash, slot: s.idx, expires: expiresNano(k.ExpiresAt)}
		sh.dropStale(id)
		sh.mu.Unlock()
		keep[id] = true
	}
	for _, id := range s.keys {
		if keep[id] {
			continue
		}
		sh := &c.shards[id%shardCount]
		sh.mu.Lock()
		if e, ok := sh.m[id]; ok && e.slot == s.idx {
			delete(sh.m, id)
			sh.dropStale(id)
		}
		sh.mu.Unlock()
	}
	s.keys = s.keys[:0]
	for id := range keep {
		s.keys = append(s.keys, id)
	}
}

func (c *Cache) replaceBasic(s *consumerSlot, basic []store.BasicRecord) {
	var next *basicEntry
	var username string
	if len(basic) > 0 {
		next, username = c.keepBasic(basic[0], s), basic[0].Username
	}
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if s.username != "" && s.username != username && c.basic[s.username] != nil && c.basic[s.username].slot == s {
		delete(c.basic, s.username)
	}
	if next != nil {
		c.basic[username] = next
	}
	s.username = username
}

// follow applies the store's change feed until ctx ends.
func (c *Cache) follow(ctx context.Context, changes <-chan store.Change) {
	for {
		select {
		case <-ctx.Done():
			return
		case ch, ok := <-changes:
			if !ok {
				return
			}
			if ch.Kind == store.KindResync { // the feed may have missed changes
				c.resync(ctx)
				continue
			}
			if ch.ConsumerID == "" { // config changes are not ours
				continue
			}
			c.markDirty(ch.ConsumerID)
			c.reload(ctx, ch.ConsumerID)
		}
	}
}

// Refresh reloads one consumer from the store now. The admin API calls it
// after a write so that the change holds on this node when the response
// goes out, instead of a moment later when the change feed delivers it.
func (c *Cache) Refresh(ctx context.Context, consumerID string) {
	c.markDirty(consumerID)
	c.reload(ctx, consumerID)
}

func (c *Cache) reload(ctx context.Context, consumerID string) {
	snap, err := c.st.LoadConsumerSnapshot(ctx, consumerID)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("credentials: reload failed; the next full resync repairs it", "consumer", consumerID, "err", err)
		}
		return
	}
	c.applyConsumer(consumerID, snap)
}

func (c *Cache) markDirty(id string) {
	c.dirtyMu.Lock()
	if c.dirty != nil {
		c.dirty[id] = true
	}
	c.dirtyMu.Unlock()
}

func (c *Cache) resyncLoop(ctx context.Context) {
	t := time.NewTicker(c.opts.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.resync(ctx)
		}
	}
}

// resync reloads everything. Consumers changed while the snapshot was being
// read are reloaded again afterwards, so an older snapshot never wins over a
// newer incremental update (a revoked key stays revoked).
func (c *Cache) resync(ctx context.Context) {
	c.dirtyMu.Lock()
	c.dirty = map[string]bool{}
	c.dirtyMu.Unlock()
	snap, err := c.st.LoadSnapshot(ctx)
	if err == nil {
		c.applyFull(snap)
	} else if ctx.Err() == nil {
		c.log.Warn("credentials: full resync failed", "err", err)
	}
	c.dirtyMu.Lock()
	dirty := c.dirty
	c.dirty = nil
	c.dirtyMu.Unlock()
	for id := range dirty {
		c.reload(ctx, id)
	}
}
