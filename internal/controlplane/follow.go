package controlplane

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate-dev/tollgate/internal/store"
)

// Following timings: the change feed usually wakes the follower at once; the
// poll bounds convergence (about 500 ms) when NOTIFY is lost, and each read
// is cut short so a hanging connection cannot stall the follower.
const (
	pollEvery   = 500 * time.Millisecond
	readTimeout = 2 * time.Second
)

// Run follows the store until ctx ends: on every config change and every
// pollEvery it reads the latest revision and puts it live when newer than
// the running one. Store outages leave the running revision in place.
func (m *Manager) Run(ctx context.Context) {
	changes := m.st.Changes()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case c, ok := <-changes:
			if !ok {
				changes = nil // store closed: the poll reports it down
				continue
			}
			if c.Kind != store.KindConfig && c.Kind != store.KindResync {
				continue
			}
		}
		m.sync(ctx)
	}
}

// sync reads the latest revision once and follows it.
func (m *Manager) sync(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	latest, err := m.st.LatestConfigRevision(rctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		m.markDown(err)
		return
	}
	m.markUp()
	if latest != nil {
		m.follow(latest)
	}
}

// follow puts latest live when it is newer than the running revision. A
// revision with the running content only moves the number; one the gateway
// refuses is logged once and skipped until a newer one arrives.
func (m *Manager) follow(latest *store.ConfigRevision) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.cur.Load()
	if cur != nil && latest.N <= cur.n {
		return
	}
	if cur != nil && latest.Hash == cur.hash {
		m.cur.Store(&running{n: latest.N, hash: cur.hash, doc: latest.Document, cfg: cur.cfg})
		return
	}
	if latest.N == m.refused {
		return
	}
	if err := m.runRevision(latest); err != nil {
		m.refused = latest.N
		m.log.Error("config revision refused; the previous one keeps serving", "rev", latest.N, "err", err)
		return
	}
	m.log.Info("config revision applied from the store", "rev", latest.N, "author", latest.Author, "source", latest.Source)
}

// Health reports whether the store was reachable at the last read, a short
// detail for /status, and since when that has been so.
func (m *Manager) Health() (up bool, detail string, since time.Time) {
	h := &m.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.up, h.detail, h.since
}

// markDown records an outage; it logs once per outage, not once per poll.
func (m *Manager) markDown(err error) {
	h := &m.health
	h.mu.Lock()
	defer h.mu.Unlock()
	h.detail = "store unreachable: " + err.Error()
	if !h.up {
		return
	}
	h.up, h.since = false, time.Now()
	rev, _, _ := m.Current()
	m.log.Error("store unreachable; serving the last good config revision until it is back", "rev", rev, "err", err)
}

func (m *Manager) markUp() {
	h := &m.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.up {
		return
	}
	h.up, h.detail = true, "ok"
	m.log.Info("store reachable again; following config revisions", "down_for", time.Since(h.since).Round(time.Millisecond).String())
	h.since = time.Now()
}
